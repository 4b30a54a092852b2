/**
 * What a CPU does with its time: take its interrupts, run its current task
 * (a slice of a guest program, or one step of native code), reschedule at
 * the points that ask for it, and survive the task's death. The machine
 * calls `runCpu` for every quantum the engine decides.
 *
 * Context: runs with the machine's current CPU set to `c`.
 *
 * @example
 * runCpu(m, m.cpus[0], 100); // CPU 0 for 100 instructions
 */

import { StopReason } from '../cpu/cpu.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { CpuState } from './cpu-state.ts';
import { deliverInterrupts, raiseIrq } from './interrupts.ts';
import type { Kernel } from './kernel.ts';
import { oopsLines } from './oops.ts';
import { preemptCountReset } from './preempt-count.ts';
import { exitTask, schedule } from './scheduler.ts';
import { TASK_RUNNING, type Task } from './task.ts';

/**
 * Runs `c` for `quantum` instructions (or idle time), delivering its
 * interrupts and switching tasks on the way. Hardirq handlers count against
 * the quantum and run whole, so a quantum can end a handler's length late.
 * Returns the instructions used.
 */
export function runCpu(m: Kernel, c: CpuState, quantum: number): number {
  const saved = m.current;
  m.current = c;
  const start = c.clock;
  const end = start + quantum;
  try {
    while (c.clock < end) {
      if (c.clock >= c.nextTick) {
        raiseIrq(c, 'timer');
        // Ticks missed behind a long handler coalesce into this one, as lost ticks do.
        while (c.nextTick <= c.clock) c.nextTick += m.opts.tickInterval;
      }
      if (c.pendingIrqs !== 0 && c.irqsEnabled) {
        deliverInterrupts(m, c);
        continue;
      }
      const until = Math.min(end, c.nextTick);
      if (c.isIdle) {
        // Nothing to run: halt until the next timer interrupt.
        if (!schedule(m, c, false)) m.advance(c, until - c.clock);
        continue;
      }
      execute(m, c, until - c.clock);
      if (c.reschedRequested) reschedPoint(m, c);
    }
  } finally {
    m.current = saved;
  }
  return c.clock - start;
}

/**
 * One step of a native task: its generator runs to its next yield (one
 * instruction of time), then exits, asks for a reschedule, or dies.
 */
export function nativeStep(m: Kernel, c: CpuState, task: Task): void {
  if (task.body.kind !== 'native') return;
  m.advance(c, 1);
  try {
    const r = task.body.body.next();
    if (r.done) exitTask(m, c, task, BigInt(r.value ?? 0));
    else c.reschedRequested = true;
  } catch (e) {
    nativeDeath(m, c, task, e);
  }
}

/** Runs the current task of `c` for up to `budget` instructions. */
function execute(m: Kernel, c: CpuState, budget: number): void {
  const task = c.curr;
  if (task.body.kind === 'native') {
    nativeStep(m, c, task);
    return;
  }
  const ctx = task.ctx!;
  const reason = c.cpu.run(ctx, budget);
  m.advance(c, c.cpu.executed);
  if (reason === StopReason.Exit) exitTask(m, c, task, ctx.reg(0));
  else if (reason === StopReason.Fault) guestOops(m, c, task);
}

/**
 * After a kfunc or native step asked to stop: a task that went to sleep
 * gives up the CPU; one that called schedule() yields it; a runnable one is
 * preempted if a reschedule is pending and it is preemptible
 * (preempt_enable's and local_irq_restore's check).
 */
export function reschedPoint(m: Kernel, c: CpuState): void {
  c.reschedRequested = false;
  const task = c.curr;
  if (c.isIdle) return;
  if (task.state !== TASK_RUNNING) {
    if (c.preemptCount !== 0) {
      // __schedule_bug(): the count as schedule() sees it (its own disable included), then reset.
      const count = (c.preemptCount + 1).toString(16).padStart(8, '0');
      m.report('warning', c, [`BUG: scheduling while atomic: ${task.comm}/${task.pid}/0x${count}`]);
      preemptCountReset(m.memory, c.vars.preemptCount);
    }
    schedule(m, c, false);
  } else if (c.yieldRequested) {
    schedule(m, c, false);
  } else if (c.needResched && c.preemptible()) {
    schedule(m, c, true);
  }
  c.yieldRequested = false;
}

/** A guest fault: the oops report, then the task dies and the CPU goes on. */
export function guestOops(m: Kernel, c: CpuState, task: Task): void {
  const fault = c.cpu.fault!;
  const who = { cpu: c.id, pid: task.pid, comm: task.comm, count: m.nextOops() };
  m.report('oops', c, oopsLines(fault, task.ctx!, who, m.disasmOptions()));
  exitTask(m, c, task, BigInt(fault.code));
}

/** Native task code threw: a BUG report with the error, then the task dies. */
export function nativeDeath(m: Kernel, c: CpuState, task: Task, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  m.report('oops', c, [
    `BUG: ${message}`,
    `Oops: ${e instanceof ErrnoError ? e.errno : 'EFAULT'} [#${m.nextOops()}] SMP`,
    `CPU: ${c.id} PID: ${task.pid} Comm: ${task.comm}`,
  ]);
  exitTask(m, c, task, BigInt(e instanceof ErrnoError ? e.code : -14));
}
