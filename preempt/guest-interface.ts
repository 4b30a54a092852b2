/**
 * What guest programs can call: helpers by their `enum bpf_func_id` number
 * and kfuncs by our table's id (assemble `call preempt_disable` with the
 * machine's asm options to get the id). Every call runs whole, as one
 * instruction, on the calling CPU.
 *
 * Helpers: 5 bpf_ktime_get_ns, 6 bpf_trace_printk, 7 bpf_get_prandom_u32,
 * 8 bpf_get_smp_processor_id.
 *
 * Kfuncs: preempt_disable/enable(_no_resched), migrate_disable/enable,
 * local_irq_save/restore/disable/enable, local_bh_disable/enable,
 * preemptible, in_interrupt, in_atomic, smp_processor_id (checked),
 * raw_smp_processor_id, msleep(ms), schedule (yield the CPU),
 * spin_lock/spin_unlock (r1 = a `struct spinlock`, segments/spinlock.ts:
 * preemption off while held, acquisitions and spins counted), and the
 * per-CPU op families `<this_cpu_|__this_cpu_|raw_cpu_><op>[_1|_2|_4|_8]`
 * (no suffix: 8 bytes) with r1 = per-CPU pointer, r2/r3 = operands.
 *
 * Calls that must reschedule (preempt_enable reaching 0 with a reschedule
 * pending, interrupts re-enabled with one pending, sleeping) stop the CPU
 * after the call; the machine reschedules before the next instruction.
 *
 * @example
 * registerGuestInterface(k);
 * k.kfuncs.byNameLookup('preempt_disable')?.id;
 */

import type { CpuContext } from '../cpu/context.ts';
import type { Cpu } from '../cpu/cpu.ts';
import { CpuFault } from '../cpu/fault.ts';
import { PERCPU_FAMILIES, PERCPU_OPS, type PercpuSize, thisCpuOp } from '../percpu/this-cpu-ops.ts';
import { ErrnoError } from '../segments/errno.ts';
import { spinHolderAt, spinlockType, spinTryLockAt, spinUnlockAt } from '../segments/spinlock.ts';
import type { Kernel } from './kernel.ts';
import { inInterrupt } from './preempt-count.ts';
import { Rng } from './rng.ts';
import { msecsToTicks, sleepFor } from './sleep.ts';

type Kfunc = (ctx: CpuContext, cpu: Cpu, m: Kernel) => void;

/** Sets r0 from a JS boolean or number. */
const ret = (ctx: CpuContext, v: number | boolean) =>
  ctx.setRegNumber(0, typeof v === 'boolean' ? Number(v) : v);

const CORE_KFUNCS: [string, Kfunc][] = [
  ['preempt_disable', (_c, _cpu, m) => m.preemptDisable()],
  ['preempt_enable', (_c, cpu, m) => stopIfResched(cpu, m, () => m.preemptEnable())],
  ['preempt_enable_no_resched', (_c, _cpu, m) => m.preemptEnableNoResched()],
  ['migrate_disable', (_c, _cpu, m) => m.migrateDisable()],
  ['migrate_enable', (_c, _cpu, m) => m.migrateEnable()],
  ['local_irq_save', (ctx, _cpu, m) => ret(ctx, m.localIrqSave())],
  [
    'local_irq_restore',
    (ctx, cpu, m) => stopIfResched(cpu, m, () => m.localIrqRestore(ctx.regU32(1))),
  ],
  ['local_irq_disable', (_c, _cpu, m) => m.localIrqSave()],
  ['local_irq_enable', (_c, cpu, m) => stopIfResched(cpu, m, () => m.localIrqRestore(0x200))],
  ['local_bh_disable', (_c, _cpu, m) => m.localBhDisable()],
  ['local_bh_enable', (_c, cpu, m) => stopIfResched(cpu, m, () => m.localBhEnable())],
  ['preemptible', (ctx, _cpu, m) => ret(ctx, m.preemptible())],
  ['in_interrupt', (ctx, _cpu, m) => ret(ctx, inInterrupt(m.here().preemptCount))],
  ['in_atomic', (ctx, _cpu, m) => ret(ctx, m.here().preemptCount !== 0)],
  ['smp_processor_id', (ctx, _cpu, m) => ret(ctx, m.smpProcessorId())],
  ['raw_smp_processor_id', (ctx, _cpu, m) => ret(ctx, m.rawSmpProcessorId())],
  [
    'msleep',
    (ctx, cpu, m) => {
      sleepFor(m, m.here(), msecsToTicks(m.opts, ctx.regNumber(1)));
      cpu.requestStop();
    },
  ],
  [
    'schedule',
    (_c, cpu, m) => {
      const c = m.here();
      c.yieldRequested = true;
      c.reschedRequested = true;
      cpu.requestStop();
    },
  ],
];

/** Runs `fn`; if it asked for a reschedule or an interrupt, stops the CPU after this call. */
function stopIfResched(cpu: Cpu, m: Kernel, fn: () => void): void {
  fn();
  if (m.here().reschedRequested) cpu.requestStop();
}

export function registerGuestInterface(m: Kernel): void {
  const rng = new Rng(0x5eed);
  m.helpers
    .register(5, 'bpf_ktime_get_ns', (ctx) => ctx.setRegNumber(0, m.now()))
    .register(6, 'bpf_trace_printk', (ctx) => {
      const text = formatPrintk(m, ctx);
      m.trace(m.here(), { type: 'bpf_trace_printk', text });
      ctx.setRegNumber(0, text.length);
    })
    .register(7, 'bpf_get_prandom_u32', (ctx) => ctx.setRegNumber(0, rng.next()))
    .register(8, 'bpf_get_smp_processor_id', (ctx) => ctx.setRegNumber(0, m.rawSmpProcessorId()));

  let id = 1;
  for (const [name, fn] of CORE_KFUNCS)
    m.kfuncs.register(id++, name, (ctx, cpu) => fn(ctx, cpu, m));
  const words = new Int32Array(m.memory.buffer);
  m.kfuncs
    .register(id++, 'spin_lock', (ctx) => spinLock(m, words, ctx))
    .register(id++, 'spin_unlock', (ctx, cpu) => {
      const addr = spinlockAddr(m, ctx);
      spinUnlockAt(words, addr, m.here().id);
      // The waiters may try again: they rank as their tasks again (pct.ts).
      for (const c of m.cpus) c.spinning = false;
      stopIfResched(cpu, m, () => m.preemptEnable());
    });
  id = 100;
  const sizes: [string, PercpuSize][] = [
    ['', 8],
    ['_1', 1],
    ['_2', 2],
    ['_4', 4],
    ['_8', 8],
  ];
  for (const family of PERCPU_FAMILIES) {
    for (const op of PERCPU_OPS) {
      for (const [suffix, size] of sizes) {
        m.kfuncs.register(id++, `${family}${op}${suffix}`, (ctx) => {
          ctx.setReg(0, thisCpuOp(m, family, op, size, ctx.regNumber(1), ctx.reg(2), ctx.reg(3)));
        });
      }
    }
  }
}

/** r1 as the address of a `struct spinlock`: mapped and 4-aligned (EFAULT, EINVAL). */
function spinlockAddr(m: Kernel, ctx: CpuContext): number {
  const addr = ctx.regNumber(1);
  m.memory.check(addr, spinlockType.size, 'write');
  if (addr % 4 !== 0) {
    throw new ErrnoError('EINVAL', `spinlock at 0x${addr.toString(16)} is not 4-aligned`);
  }
  return addr;
}

/**
 * spin_lock(r1): takes the lock and disables preemption, or, when another
 * CPU holds it, counts a spin and moves the pc back onto the call, so the
 * CPU tries again at its next instruction (arch_spin_lock's loop, one
 * test-and-set per instruction). `c.spinning` tells the strategies this CPU
 * waits on another, until the next spin_unlock. Taking a lock this CPU holds is a deadlock: EBUSY.
 */
function spinLock(m: Kernel, words: Int32Array, ctx: CpuContext): void {
  const addr = spinlockAddr(m, ctx);
  const c = m.here();
  if (spinTryLockAt(words, addr, c.id)) {
    c.spinning = false;
    m.preemptDisable();
    return;
  }
  if (spinHolderAt(words, addr) === c.id) {
    throw new ErrnoError(
      'EBUSY',
      `spinlock recursion on CPU#${c.id}: the lock at 0x${addr.toString(16)} is already held by this CPU`,
    );
  }
  c.spinning = true;
  ctx.pc -= 1;
}

/** DEBUG_PREEMPT for the `this_cpu_ptr` instruction, as for smp_processor_id(). */
export function probeOf(m: Kernel) {
  return {
    thisCpuPtr(_cpu: Cpu, _ctx: CpuContext, pc: number) {
      try {
        m.checkPreemptionDisabled('smp_processor_id', '', pc);
      } catch (e) {
        if (e instanceof ErrnoError) throw new CpuFault('bug', pc, e.detail);
        throw e;
      }
    },
  };
}

/** bpf_trace_printk(fmt, fmt_size, arg1, arg2, arg3): %d %i %u %x %ld %lu %lx %lld %llu %llx %s %%. */
function formatPrintk(m: Kernel, ctx: CpuContext): string {
  const len = ctx.regNumber(2);
  const bytes = m.memory.readBytes(ctx.regNumber(1), Math.min(len, 128));
  const end = bytes.indexOf(0);
  const fmt = new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
  let arg = 3;
  return fmt
    .replace(/%(l{0,2})([diuxs%])/g, (_all, l: string, conv: string) => {
      if (conv === '%') return '%';
      const v = arg <= 5 ? ctx.reg(arg++) : 0n;
      const wide = l.length > 0;
      if (conv === 's') return readCString(m, Number(v));
      if (conv === 'x') return (wide ? v : BigInt.asUintN(32, v)).toString(16);
      if (conv === 'u') return (wide ? v : BigInt.asUintN(32, v)).toString();
      return (wide ? BigInt.asIntN(64, v) : BigInt.asIntN(32, v)).toString();
    })
    .replace(/\n$/, '');
}

function readCString(m: Kernel, addr: number): string {
  if (!m.memory.isMapped(addr, 1)) return '(efault)';
  const max = Math.min(64, m.memory.size - addr);
  const bytes = m.memory.readBytes(addr, max);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}
