/**
 * The per-CPU operation families of include/linux/percpu-defs.h, on the
 * calling CPU's copy of a per-CPU variable:
 *
 *   this_cpu_*     safe against preemption and interrupts: on x86 each is
 *                  one %gs-relative instruction, and here each runs as one
 *                  step, so nothing can come between its read and write.
 *   __this_cpu_*   the same operation, but the caller promises it cannot be
 *                  preempted; DEBUG_PREEMPT checks the promise and reports
 *                  `BUG: using __this_cpu_add() in preemptible ...`.
 *   raw_cpu_*      neither protection nor check.
 *
 * Operations: read, write, add, sub, inc, dec, and, or, xchg, cmpxchg,
 * add_return, on 1, 2, 4 or 8 bytes. Values are bigints (two's complement,
 * truncated to the size as C would).
 *
 * @example
 * thisCpuOp(model, 'this_cpu_', 'add', 8, ptr, 1n);   // this_cpu_add(var, 1)
 * thisCpuOp(model, '__this_cpu_', 'read', 8, ptr);    // __this_cpu_read(var)
 */

import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import type { PreemptionModel } from './preemption-model.ts';

export const PERCPU_OPS = [
  'read',
  'write',
  'add',
  'sub',
  'inc',
  'dec',
  'and',
  'or',
  'xchg',
  'cmpxchg',
  'add_return',
] as const;
export type PercpuOpName = (typeof PERCPU_OPS)[number];

export const PERCPU_FAMILIES = ['this_cpu_', '__this_cpu_', 'raw_cpu_'] as const;
export type PercpuFamily = (typeof PERCPU_FAMILIES)[number];

export type PercpuSize = 1 | 2 | 4 | 8;

/**
 * Applies `op` to the `size`-byte value at `addr`. Returns the value the C
 * operation returns: the value read (read), the old value (xchg, cmpxchg),
 * the new value (add_return), 0 otherwise. For cmpxchg, `a` is the expected
 * old value and `b` the new one.
 */
export function applyPercpuOp(
  memory: PhysicalMemory,
  addr: number,
  size: PercpuSize,
  op: PercpuOpName,
  a = 0n,
  b = 0n,
): bigint {
  const bits = BigInt(size * 8);
  const old = memory.readSized(addr, size);
  const wrap = (v: bigint) => BigInt.asUintN(Number(bits), v);
  let next: bigint | undefined;
  let result = 0n;
  switch (op) {
    case 'read':
      return old;
    case 'write':
      next = a;
      break;
    case 'add':
      next = old + a;
      break;
    case 'sub':
      next = old - a;
      break;
    case 'inc':
      next = old + 1n;
      break;
    case 'dec':
      next = old - 1n;
      break;
    case 'and':
      next = old & a;
      break;
    case 'or':
      next = old | a;
      break;
    case 'xchg':
      next = a;
      result = old;
      break;
    case 'cmpxchg':
      if (old === wrap(a)) next = b;
      result = old;
      break;
    case 'add_return':
      next = old + a;
      result = wrap(next);
      break;
    default:
      throw new ErrnoError('EINVAL', `unknown per-CPU operation '${op}'`);
  }
  if (next !== undefined) memory.writeSized(addr, size, wrap(next));
  return result;
}

/**
 * `<family><op>(ptr, a, b)` on the calling CPU's copy of the per-CPU object
 * at per-CPU pointer `ptr`.
 */
export function thisCpuOp(
  model: PreemptionModel,
  family: PercpuFamily,
  op: PercpuOpName,
  size: PercpuSize,
  ptr: number,
  a = 0n,
  b = 0n,
): bigint {
  if (family === '__this_cpu_') model.checkPreemptionDisabled('__this_cpu_', op);
  const addr = model.areas.perCpuPtr(ptr, model.rawSmpProcessorId());
  return applyPercpuOp(model.areas.memory, addr, size, op, a, b);
}
