/**
 * percpu kptr objects for guest programs (kernel/bpf/helpers.c), and the
 * kernel side of the per-CPU sanitizer. Every kernel has both from boot
 * (booted-kernel.ts): the sanitizer (`k.sanitizer`, when the `sanitizer`
 * option is on, the default) is attached with `sanitizerHost(k)` right
 * after the allocator exists; `installPercpuKptr(k)` runs once the CPUs and
 * RCU exist.
 *
 * Kfuncs (ids from 300, clear of the core table's 1..18 and 100..264):
 *   300 bpf_percpu_obj_new_impl(size, meta)  an object of `size` bytes
 *       (1..512, BPF_GLOBAL_PERCPU_MA_MAX_SIZE; the verifier refuses larger
 *       types, we return NULL), zeroed on every CPU, 8-byte aligned, from
 *       an atomic allocation that prints nothing on failure (bpf_mem_alloc);
 *       returns the per-CPU pointer or 0. `meta` is ignored.
 *   301 bpf_percpu_obj_drop_impl(ptr, meta)  frees the object after an RCU
 *       grace period (bpf_mem_free_rcu); NULL does nothing.
 *   302 bpf_rcu_read_lock, 303 bpf_rcu_read_unlock  (preempt/rcu.ts)
 * Helpers (enum bpf_func_id):
 *   153 bpf_per_cpu_ptr(ptr, cpu)  CPU `cpu`'s copy; NULL for cpu >= nr_cpus
 *   154 bpf_this_cpu_ptr(ptr)      this CPU's copy; like the `this_cpu_ptr`
 *       instruction, DEBUG_PREEMPT reports a preemptible caller (kernel BPF
 *       programs always run with migration disabled, ours need not)
 *   194 bpf_kptr_xchg(slot, ptr)   atomically stores `ptr` in the u64 at
 *       address `slot` and returns the old value
 * Both pointer helpers return NULL for a NULL pointer, which the verifier
 * would have refused.
 *
 * The sanitizer (percpu/sanitizer.ts) runs in the kernel with the kernel
 * as its host: its reports go to `k.report('kasan' | 'leak')` with the
 * running task, and guest call sites are `prog+0x18/0x40` and the caller
 * frames. Every CPU watches per-CPU memory, so that each guest load, store
 * or atomic there is checked (cpu.ts's slow path and `probe.memAccess`);
 * the per-CPU op kfuncs (`this_cpu_add_4` and the rest) check the calling
 * CPU's copy first; bpf_kptr_xchg checks its slot. A drop is checked when
 * it is requested, so a second drop of a pending object is a double free
 * at once. Without the sanitizer, dropping a pointer that starts no live
 * allocation faults the task (EINVAL).
 *
 * @example
 * const k = new Machine().boot(); // installPercpuKptr(k) ran in boot
 * k.asm`r1 = 24\nr2 = 0\ncall bpf_percpu_obj_new_impl\nexit`;
 */

import { type CpuContext, CTX_DEPTH, CTX_FRAMES, FRAME_WORDS } from '../cpu/context.ts';
import { CpuFault } from '../cpu/fault.ts';
import type { AccessOrigin, PercpuSanitizer, SanitizerHost } from '../percpu/sanitizer.ts';
import { PERCPU_FAMILIES, PERCPU_OPS } from '../percpu/this-cpu-ops.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { Kernel } from './kernel.ts';
import { symbolizePc } from './oops.ts';

/** The largest percpu object bpf_percpu_obj_new hands out (kernel/bpf/verifier.c). */
export const BPF_GLOBAL_PERCPU_MA_MAX_SIZE = 512;

/** Our kfunc ids. */
export const PERCPU_KPTR_KFUNCS = {
  bpf_percpu_obj_new_impl: 300,
  bpf_percpu_obj_drop_impl: 301,
  bpf_rcu_read_lock: 302,
  bpf_rcu_read_unlock: 303,
} as const;

/**
 * Registers the percpu kptr kfuncs and helpers on `k` (its CPUs and RCU
 * made), and, with the sanitizer on, lets the CPUs and the per-CPU op
 * kfuncs check guest accesses for it. Boot does this, once.
 *
 * @example
 * installPercpuKptr(k);
 */
export function installPercpuKptr(k: Kernel): void {
  registerKfuncs(k);
  registerHelpers(k);
  if (k.sanitizer !== null) {
    watchPercpuMemory(k, k.sanitizer);
    checkPercpuOpKfuncs(k, k.sanitizer);
  }
}

function registerKfuncs(m: Kernel): void {
  const { percpu: allocator, sanitizer, rcu } = m;
  const K = PERCPU_KPTR_KFUNCS;
  m.kfuncs
    .register(K.bpf_percpu_obj_new_impl, 'bpf_percpu_obj_new_impl', (ctx) => {
      const size = ctx.regNumber(1);
      const p =
        size === 0 || size > BPF_GLOBAL_PERCPU_MA_MAX_SIZE
          ? null
          : allocator.alloc(size, 8, { atomic: true, noWarn: true });
      ctx.setRegNumber(0, p ?? 0);
    })
    .register(K.bpf_percpu_obj_drop_impl, 'bpf_percpu_obj_drop_impl', (ctx) => {
      const p = ctx.regNumber(1);
      if (p === 0) return;
      if (sanitizer !== null) {
        if (!sanitizer.deferFree(p)) return;
      } else if (!allocator.isAllocationStart(p)) {
        throw new ErrnoError(
          'EINVAL',
          `0x${p.toString(16)} is not a live percpu object: nothing to drop`,
        );
      }
      rcu.callRcu(() => allocator.free(p));
    })
    .register(K.bpf_rcu_read_lock, 'bpf_rcu_read_lock', () => rcu.readLock())
    .register(K.bpf_rcu_read_unlock, 'bpf_rcu_read_unlock', () => rcu.readUnlock());
}

function registerHelpers(m: Kernel): void {
  const sanitizer = m.sanitizer;
  const i64 = new BigInt64Array(m.memory.buffer);
  m.helpers
    .register(153, 'bpf_per_cpu_ptr', (ctx) => {
      const p = ctx.regNumber(1);
      const cpu = ctx.regU32(2);
      ctx.setRegNumber(0, p === 0 || cpu >= m.nrCpus ? 0 : m.areas.perCpuPtr(p, cpu));
    })
    .register(154, 'bpf_this_cpu_ptr', (ctx) => {
      const p = ctx.regNumber(1);
      m.checkPreemptionDisabled('smp_processor_id', '');
      ctx.setRegNumber(0, p === 0 ? 0 : m.areas.perCpuPtr(p, m.rawSmpProcessorId()));
    })
    .register(194, 'bpf_kptr_xchg', (ctx, cpu) => {
      const slot = ctx.regNumber(1);
      m.memory.check(slot, 8, 'write');
      if (slot % 8 !== 0) {
        throw new ErrnoError('EINVAL', `kptr slot 0x${slot.toString(16)} is not 8-byte aligned`);
      }
      sanitizer?.checkAccess(slot, 8, 'write');
      const next = BigInt.asIntN(64, ctx.reg(2));
      const w = slot / 8;
      let old: bigint;
      if (cpu.concurrent) {
        old = Atomics.exchange(i64, w, next);
      } else {
        old = i64[w];
        i64[w] = next;
      }
      ctx.setReg(0, old);
    });
}

/** Every CPU shows its accesses to per-CPU memory to the sanitizer. */
function watchPercpuMemory(m: Kernel, san: PercpuSanitizer): void {
  const shadow = san.shadow;
  const [lo, hi] = shadow.watchRange;
  for (const c of m.cpus) {
    const previous = c.cpu.probe;
    // One origin per CPU, updated in place: nothing is allocated per access.
    const origin = new GuestAccess();
    c.cpu.probe = {
      thisCpuPtr: (cpu, ctx, pc) => previous?.thisCpuPtr(cpu, ctx, pc),
      memAccess: (_cpu, ctx, pc, addr, size, kind) => {
        if (shadow.firstBad(addr, size) < 0) return;
        origin.ctx = ctx;
        origin.pc = pc;
        try {
          san.checkAccess(addr, size, kind, origin);
        } catch (e) {
          if (e instanceof ErrnoError) throw new CpuFault('bug', pc, e.detail);
          throw e;
        }
      },
    };
    c.cpu.watch(lo, hi);
  }
}

/**
 * The per-CPU op kfuncs of guest-interface.ts (`<family><op>[_1|_2|_4|_8]`,
 * r1 = per-CPU pointer) check the calling CPU's copy before they touch it.
 * A read op reads, every other op writes (or may: cmpxchg).
 */
function checkPercpuOpKfuncs(m: Kernel, san: PercpuSanitizer): void {
  const name = new RegExp(`^(?:${PERCPU_FAMILIES.join('|')})(${PERCPU_OPS.join('|')})(?:_(\\d))?$`);
  for (const entry of m.kfuncs.entries()) {
    const op = name.exec(entry.name);
    if (op === null) continue;
    const size = op[2] === undefined ? 8 : Number(op[2]);
    const kind = op[1] === 'read' ? 'read' : 'write';
    const fn = entry.fn;
    m.kfuncs.register(entry.id, entry.name, (ctx, cpu) => {
      san.checkAccess(m.areas.perCpuPtr(ctx.regNumber(1), m.rawSmpProcessorId()), size, kind);
      fn(ctx, cpu);
    });
  }
}

/** The instruction making a guest access, as the sanitizer names it. */
class GuestAccess implements AccessOrigin {
  ctx: CpuContext | null = null;
  pc = 0;

  site(): readonly string[] {
    return this.ctx === null ? [] : guestBacktrace(this.ctx, this.pc);
  }
}

/**
 * The sanitizer's view of the kernel: the running task, the guest call
 * site, reports into `k.report`, jiffies.
 *
 * @example
 * PercpuSanitizer.attach(k.percpu, sanitizerHost(k));
 */
export function sanitizerHost(m: Kernel): SanitizerHost {
  return {
    who() {
      const c = m.current;
      return c === null ? null : { cpu: c.id, pid: c.curr.pid, comm: c.curr.comm };
    },
    guestSite() {
      const ctx = m.current?.cpu.current ?? null;
      // Inside a helper or kfunc: the context's pc is just past the call.
      return ctx === null ? null : guestBacktrace(ctx, ctx.pc - 1);
    },
    report(kind, lines) {
      m.report(kind, m.current ?? m.cpus[0], lines);
    },
    jiffies() {
      return m.memory.read64(m.symbol('jiffies'));
    },
  };
}

/** `prog+0x18/0x40` for `pc`, then the return sites of the local-call frames. */
function guestBacktrace(ctx: CpuContext, pc: number): string[] {
  const lines = [symbolizePc(ctx.program, pc)];
  for (let d = ctx.words[CTX_DEPTH] - 1; d >= 0; d--) {
    lines.push(symbolizePc(ctx.program, ctx.words[CTX_FRAMES + d * FRAME_WORDS] - 1));
  }
  return lines;
}
