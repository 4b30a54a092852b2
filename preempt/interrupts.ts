/**
 * Interrupts. A raised line stays pending until the CPU has interrupts
 * enabled; then, between two instructions of whatever runs there:
 *
 *   irq_enter   preempt_count += HARDIRQ_OFFSET, interrupts off
 *   handlers    timer: the scheduler tick, the watchdog, the scenario's
 *               timer handlers; reschedule IPI: set need_resched
 *   irq_exit    preempt_count -= HARDIRQ_OFFSET; pending softirqs run
 *               unless the interrupted code was itself in softirq or had
 *               bottom halves disabled (in_interrupt())
 *   return      to a preemptible context with need_resched set:
 *               preempt_schedule_irq(), i.e. the task is preempted here.
 *
 * The soft-lockup watchdog runs in the timer interrupt: a CPU that has not
 * scheduled for 2 * watchdog_thresh seconds while not preemptible prints
 * `BUG: soft lockup - CPU#n stuck for Ns! [comm:pid]` once per stall.
 *
 * Context: the machine's current CPU is `c` (runCpu).
 *
 * @example
 * raiseIrq(c, 'reschedule'); // an IPI asking c to reschedule
 */

import { StopReason } from '../cpu/cpu.ts';
import type { LoadedProgram } from '../cpu/program.ts';
import {
  type CpuState,
  IRQ_DEVICE,
  IRQ_RESCHEDULE,
  IRQ_TIMER,
  RCU_SOFTIRQ,
  SCHED_SOFTIRQ,
  TIMER_SOFTIRQ,
} from './cpu-state.ts';
import type { Kernel } from './kernel.ts';
import { oopsLines } from './oops.ts';
import {
  HARDIRQ_OFFSET,
  inInterrupt,
  preemptCountAdd,
  SOFTIRQ_OFFSET,
  setNeedResched,
} from './preempt-count.ts';
import { loadBalance, schedule } from './scheduler.ts';
import { wakeSleepers } from './sleep.ts';
import { SOFTIRQ_NAMES } from './trace/events.ts';

/** Interrupt numbers as the trace names them. */
const TIMER_IRQ = 0;
/** x86 RESCHEDULE_VECTOR. */
export const RESCHEDULE_IRQ = 253;
/** Device interrupts are the vectors from here up (FIRST_EXTERNAL_VECTOR). */
export const FIRST_DEVICE_IRQ = 32;
/** The softirqs the kernel itself serves; openSoftirq refuses them. */
export const KERNEL_SOFTIRQS: readonly number[] = [TIMER_SOFTIRQ, SCHED_SOFTIRQ, RCU_SOFTIRQ];
/** Instructions a guest hardirq handler may run before it is declared stuck. */
const IRQ_HANDLER_BUDGET = 1_000_000;

export function raiseIrq(c: CpuState, line: 'timer' | 'reschedule'): void {
  c.pendingIrqs |= line === 'timer' ? IRQ_TIMER : IRQ_RESCHEDULE;
  c.watch.interrupt();
}

/** A device raises `irq` on `c` (its handler is k.irqActions.get(irq)). */
export function raiseDeviceIrq(c: CpuState, irq: number): void {
  if (!c.pendingDeviceIrqs.includes(irq)) c.pendingDeviceIrqs.push(irq);
  c.pendingIrqs |= IRQ_DEVICE;
  c.watch.interrupt();
}

/** Takes every pending interrupt of `c` (interrupts must be enabled). */
export function deliverInterrupts(k: Kernel, c: CpuState): void {
  const lines = c.pendingIrqs;
  const pc = interruptedPc(c);
  c.pendingIrqs = 0;
  c.setIrqsEnabled(false);
  preemptCountAdd(k.memory, c.vars.preemptCount, HARDIRQ_OFFSET);
  if (lines & IRQ_TIMER) {
    k.trace(c, { type: 'irq_handler_entry', irq: TIMER_IRQ, name: 'timer', pc });
    timerInterrupt(k, c);
    k.trace(c, { type: 'irq_handler_exit', irq: TIMER_IRQ, ret: 'handled' });
  }
  if (lines & IRQ_DEVICE) deviceInterrupts(k, c, pc);
  if (lines & IRQ_RESCHEDULE) {
    k.trace(c, { type: 'irq_handler_entry', irq: RESCHEDULE_IRQ, name: 'resched', pc });
    setNeedResched(k.memory, c.vars.preemptCount);
    k.trace(c, { type: 'irq_handler_exit', irq: RESCHEDULE_IRQ, ret: 'handled' });
  }
  preemptCountAdd(k.memory, c.vars.preemptCount, -HARDIRQ_OFFSET);
  if (!inInterrupt(c.preemptCount) && c.softirqPending !== 0) doSoftirq(k, c);
  c.setIrqsEnabled(true);
  // Return from interrupt: preempt_schedule_irq when preemptible and asked to.
  if (c.needResched && c.preemptCount === 0) schedule(k, c, !c.isIdle);
}

/**
 * The instruction an interrupt stops on `c`, the one its task resumes at
 * (regs->ip): interrupts come between two instructions of the task's
 * program, never inside a handler (those run with interrupts off or to
 * completion). -1 for the idle task and native code.
 */
function interruptedPc(c: CpuState): number {
  const task = c.curr;
  return task.body.kind === 'program' && task.ctx !== null ? task.ctx.pc : -1;
}

/** handle_irq() for each raised device line, in the order they were raised. */
function deviceInterrupts(k: Kernel, c: CpuState, pc: number): void {
  const lines = c.pendingDeviceIrqs;
  while (lines.length > 0) {
    const irq = lines.shift()!;
    const action = k.irqActions.get(irq);
    if (action === undefined) continue;
    k.trace(c, { type: 'irq_handler_entry', irq, name: action.name, pc });
    action.handler(k, c.id);
    k.trace(c, { type: 'irq_handler_exit', irq, ret: 'handled' });
  }
}

/** The timer handler: jiffies, the scenario's handlers, the scheduler tick, the watchdog. */
function timerInterrupt(k: Kernel, c: CpuState): void {
  c.ticks++;
  if (c.id === 0) {
    const jiffies = k.symbol('jiffies');
    k.memory.write64(jiffies, k.memory.read64(jiffies) + 1n);
  }
  for (const h of k.timerHandlers[c.id]) {
    if ('program' in h) runIrqProgram(k, c, h.program);
    else h.fn(k, c.id);
  }
  wakeSleepers(k, c);
  k.rcu.schedClockIrq(c);
  schedulerTick(k, c);
  watchdog(k, c);
  c.softirqPending |= 1 << TIMER_SOFTIRQ;
  if (c.ticks % k.opts.balanceInterval === 0) c.softirqPending |= 1 << SCHED_SOFTIRQ;
}

/** scheduler_tick(): the running task's slice runs down; at 0, reschedule if others wait. */
function schedulerTick(k: Kernel, c: CpuState): void {
  if (c.isIdle) {
    if (c.rq.length > 0) setNeedResched(k.memory, c.vars.preemptCount);
    return;
  }
  c.sliceLeft--;
  if (c.sliceLeft <= 0 && c.rq.length > 0) setNeedResched(k.memory, c.vars.preemptCount);
}

function watchdog(k: Kernel, c: CpuState): void {
  // The interrupted context's count: ours minus the hardirq we are in.
  const interrupted = c.preemptCount - HARDIRQ_OFFSET;
  if (c.isIdle || interrupted === 0) {
    c.stuckSince = -1;
    c.lockupReported = false;
    return;
  }
  if (c.stuckSince < 0) c.stuckSince = c.clock;
  const stuckNs = (c.clock - c.stuckSince) * k.opts.nsPerInsn;
  if (!c.lockupReported && stuckNs >= 2 * k.opts.watchdogThresh * 1e9) {
    c.lockupReported = true;
    const task = c.curr;
    k.report('soft_lockup', c, [
      `BUG: soft lockup - CPU#${c.id} stuck for ${Math.floor(stuckNs / 1e9)}s! [${task.comm}:${task.pid}]`,
    ]);
  }
}

/** __do_softirq(): runs the pending vectors in softirq context. */
export function doSoftirq(k: Kernel, c: CpuState): void {
  // do_softirq()'s local_irq_save/restore: irq exit comes and goes with
  // interrupts off, local_bh_enable() with them on.
  const irqsWereEnabled = c.irqsEnabled;
  preemptCountAdd(k.memory, c.vars.preemptCount, SOFTIRQ_OFFSET);
  c.setIrqsEnabled(true);
  let pending = c.softirqPending;
  c.softirqPending = 0;
  while (pending !== 0) {
    const vec = 31 - Math.clz32(pending & -pending);
    pending &= pending - 1;
    const name = SOFTIRQ_NAMES[vec];
    k.trace(c, { type: 'softirq_entry', vec, name });
    if (vec === SCHED_SOFTIRQ) loadBalance(k, c);
    // pcpu_balance_work, queued on the unbound system workqueue: a kworker on
    // whichever CPU gets to it first runs it; here the first CPU whose timer
    // softirq finds it pending, so no one CPU's ticks (an idle CPU 0 under PCT
    // ticks never) hold it back.
    if (vec === TIMER_SOFTIRQ && k.percpu.balancePending) k.percpu.balance();
    if (vec === RCU_SOFTIRQ) k.rcu.invokeCallbacks(c);
    k.softirqActions[vec]?.(k, c);
    k.trace(c, { type: 'softirq_exit', vec, name });
  }
  c.setIrqsEnabled(irqsWereEnabled);
  preemptCountAdd(k.memory, c.vars.preemptCount, -SOFTIRQ_OFFSET);
}

/** Runs a guest hardirq handler to completion on `c`. */
function runIrqProgram(k: Kernel, c: CpuState, program: LoadedProgram): void {
  const ctx = c.irqCtx;
  ctx.program = program;
  ctx.reset();
  const reason = c.cpu.run(ctx, IRQ_HANDLER_BUDGET);
  k.advance(c, c.cpu.executed);
  if (reason === StopReason.Fault) {
    const who = { cpu: c.id, pid: 0, comm: 'irq', count: k.nextOops() };
    k.report('oops', c, oopsLines(c.cpu.fault!, ctx, who, k.disasmOptions()));
  } else if (reason !== StopReason.Exit) {
    k.report('warning', c, [
      `WARNING: CPU: ${c.id} hardirq handler ${program.name} did not return`,
    ]);
  }
}
