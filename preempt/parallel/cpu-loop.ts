/**
 * One CPU's loop in parallel mode: the steps runCpu (execution.ts) takes
 * for a quantum, the same `cpuStep`, repeated by this CPU's worker thread
 * until the machine finishes or stops, with the kernel parts under the
 * scheduler lock (ParallelLocking):
 *
 *   take IPIs      reschedule -> the reschedule interrupt line; call-function
 *                  -> answered; stop -> leave the loop
 *   step           timer tick due -> the timer line; then one of:
 *     lock         pending interrupts delivered (handlers, softirqs,
 *                  preemption on return), without the lock for a quiet tick;
 *                  an idle CPU picks a task (pulling one from a busy CPU);
 *                  a native task's step; unlock
 *     run          the guest program until the next tick, without the lock:
 *                  this is where CPUs run truly in parallel; then, locked,
 *                  its exit, oops, or the reschedule it asked for
 *     idle         nothing to run: halt in Atomics.wait on the mailbox
 *                  (short when a task sleeps on this CPU), then the clock
 *                  jumps to the next tick, as an idle CPU sleeps until it
 *
 * After each locked part, a halted CPU whose run queue gained a task gets a
 * reschedule IPI (resched_curr's smp_send_reschedule).
 *
 * The timer ticks by this CPU's own instruction count. The machine's trace
 * clock (`k.steps`) is the sum of every CPU's published clock, so merged
 * traces stay roughly causal; exact order is not reproducible in this mode.
 *
 * Context: the worker of CPU `c`, with the machine attached (attach.ts).
 *
 * @example
 * const end = runCpuParallel(k, k.cpus[1], ctl, live, { maxSteps: 1e7, sliceMs: 20 });
 */

import { ErrnoError } from '../../segments/errno.ts';
import { type CpuState, IRQ_TIMER } from '../cpu-state.ts';
import { type CpuLocking, cpuStep } from '../execution.ts';
import { raiseIrq } from '../interrupts.ts';
import type { Kernel } from '../kernel.ts';
import type { Task } from '../task.ts';
import { allExited } from './attach.ts';
import { IPI_CALL_FUNCTION, IPI_RESCHEDULE, IPI_STOP, type ParallelControl } from './mailbox.ts';

/** How long an idle CPU with nothing of its own halts before looking for work again. */
const IDLE_HALT_MS = 1;

/** Why the loop returned: `slice` means it gave the event loop a turn and should be called again. */
export type LoopEnd = 'finished' | 'stopped' | 'max-steps' | 'slice';

export interface LoopOptions {
  /** Stop the machine once all CPUs together have executed this many instructions. */
  readonly maxSteps: number;
  /** Return 'slice' after about this many ms, so the worker can answer messages. */
  readonly sliceMs: number;
}

/**
 * Runs CPU `c` until the machine finishes (every task in `live` exited),
 * stops, reaches `maxSteps`, or `sliceMs` passes. Exceptions out of here
 * are emulator bugs: the worker reports them and stops the machine.
 */
export function runCpuParallel(
  k: Kernel,
  c: CpuState,
  ctl: ParallelControl,
  live: readonly Task[],
  opts: LoopOptions,
): LoopEnd {
  const deadline = performance.now() + opts.sliceMs;
  const taskCount = k.tasks.size;
  // Other CPUs fill this CPU's run queue only from native code or timer handlers: without
  // either, an empty queue stays empty until this CPU fills it, and quiet ticks are safe.
  const quietTicks =
    ![...k.tasks.values()].some((t) => t.body.kind === 'native') &&
    k.timerHandlers.every((list) => list.every((h) => !('fn' in h)));
  const locking = new ParallelLocking(ctl, quietTicks);
  k.current = c;
  try {
    for (let n = 0; ; n++) {
      const ipis = ctl.takeIpis(c.id);
      if (ipis !== 0) {
        if (ipis & IPI_STOP) return 'stopped';
        if (ipis & IPI_RESCHEDULE) raiseIrq(c, 'reschedule');
        if (ipis & IPI_CALL_FUNCTION) ctl.answerCall(c.id);
      }
      if (ctl.stopped) return 'stopped';
      if (allExited(live)) return 'finished';
      k.steps = ctl.steps();
      if (k.steps >= opts.maxSteps) return 'max-steps';
      if ((n & 15) === 15 && performance.now() >= deadline) return 'slice';
      if (k.tasks.size !== taskCount) {
        throw new ErrnoError(
          'ENOTSUPP',
          `CPU ${c.id} spawned a task while running in parallel mode: other CPUs' workers do not know it`,
        );
      }
      cpuStep(k, c, Number.POSITIVE_INFINITY, locking);
      ctl.publishClock(c.id, c.clock);
    }
  } finally {
    k.current = null;
  }
}

/**
 * The kernel parts of this CPU's steps (execution.ts's cpuStep) under the
 * scheduler lock, with a reschedule IPI to halted CPUs that gained work
 * after each; quiet ticks without it; HLT in Atomics.wait.
 */
class ParallelLocking implements CpuLocking {
  constructor(
    private readonly ctl: ParallelControl,
    /** No native task and no native timer handler: see runCpuParallel. */
    private readonly quietTicks: boolean,
  ) {}

  lock(_k: Kernel, c: CpuState): void {
    this.ctl.lock(c.id);
  }

  unlock(k: Kernel, c: CpuState): void {
    this.ctl.unlock(c.id);
    kickHalted(k, c, this.ctl);
  }

  irqsLockFree(k: Kernel, c: CpuState): boolean {
    return this.quietTicks && isQuietTick(k, c);
  }

  /**
   * HLT: nothing to run. With a task sleeping on this CPU, time only has to
   * reach the next tick; otherwise wait for an IPI a little first.
   */
  halt(k: Kernel, c: CpuState, until: number): void {
    if (!k.sleepers.some((s) => s.cpu === c.id)) this.ctl.halt(c.id, IDLE_HALT_MS);
    if (until > c.clock) k.advance(c, until - c.clock);
  }
}

/**
 * True when the timer interrupt pending on `c` touches nothing another CPU
 * touches, so it can be taken without the scheduler lock: only the timer is
 * pending, a task runs and keeps running (no need_resched now, and the tick
 * will set none: slice left, or an empty run queue that no one else can
 * fill), no balancing softirq is due, no sleeper wakes, and there is no
 * handler, RCU or per-CPU allocator work. Ticks being most of the lock's
 * use, taking most of them without it is what lets CPUs scale.
 */
function isQuietTick(k: Kernel, c: CpuState): boolean {
  if (c.pendingIrqs !== IRQ_TIMER || c.isIdle || c.needResched || c.softirqPending !== 0) {
    return false;
  }
  if ((c.ticks + 1) % k.opts.balanceInterval === 0 || k.timerHandlers[c.id].length > 0)
    return false;
  if (c.sliceLeft <= 1 && c.rq.length > 0) return false;
  if (k.percpu.balancePending) return false;
  if (k.rcu.gpInProgress || k.rcu.pendingCallbacks > 0) return false;
  for (const s of k.sleepers) if (s.cpu === c.id && s.wakeAt <= c.ticks + 1) return false;
  return true;
}

/** smp_send_reschedule to halted CPUs that have tasks waiting in their run queue. */
function kickHalted(k: Kernel, c: CpuState, ctl: ParallelControl): void {
  for (const other of k.cpus) {
    if (other !== c && ctl.isHalted(other.id) && other.rq.length > 0) {
      ctl.sendIpi(other.id, IPI_RESCHEDULE);
    }
  }
}
