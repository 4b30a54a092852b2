/**
 * What a CPU does with its time: take its interrupts, run its current task
 * (a slice of a guest program, or one step of native code), reschedule at
 * the points that ask for it, and survive the task's death. `cpuStep` is one
 * step of that; both ways of running a machine repeat it: `runCpu` for
 * every quantum the deterministic engine decides, and each worker's loop in
 * parallel mode (parallel/cpu-loop.ts), which takes the scheduler lock
 * around the kernel parts through its CpuLocking.
 *
 * Context: runs with the kernel's current CPU set to `c`.
 *
 * @example
 * runCpu(k, k.cpus[0], 100); // CPU 0 for 100 instructions
 */

import { CTX_PROG_ID } from '../cpu/context.ts';
import { StopReason } from '../cpu/cpu.ts';
import { CpuFault } from '../cpu/fault.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { CpuState } from './cpu-state.ts';
import { deliverInterrupts, raiseIrq } from './interrupts.ts';
import type { Kernel } from './kernel.ts';
import { oopsLines } from './oops.ts';
import { preemptCountReset } from './preempt-count.ts';
import { exitTask, schedule } from './scheduler.ts';
import { TASK_RUNNING, type Task } from './task.ts';

/**
 * How a CPU's step guards its kernel parts (interrupts, scheduling, exits,
 * native code: what other CPUs' state is touched by) and how it halts. The
 * deterministic engine runs one CPU at a time and needs no lock; parallel
 * mode takes the scheduler lock (parallel/cpu-loop.ts).
 */
export interface CpuLocking {
  /** Before a kernel part. */
  lock(k: Kernel, c: CpuState): void;
  /** After it (also when it threw). */
  unlock(k: Kernel, c: CpuState): void;
  /** True when `c`'s pending interrupts may be taken without the lock. */
  irqsLockFree(k: Kernel, c: CpuState): boolean;
  /** Nothing to run: HLT until `until` on `c`'s clock. */
  halt(k: Kernel, c: CpuState, until: number): void;
}

/** One CPU at a time: no lock, and a halted CPU's clock jumps to the next interrupt. */
const ALONE: CpuLocking = {
  lock() {},
  unlock() {},
  irqsLockFree: () => true,
  halt(k, c, until) {
    k.advance(c, until - c.clock);
  },
};

/**
 * Runs `c` for `quantum` instructions (or idle time), delivering its
 * interrupts and switching tasks on the way. Hardirq handlers count against
 * the quantum and run whole, so a quantum can end a handler's length late.
 * Returns the instructions used.
 */
export function runCpu(k: Kernel, c: CpuState, quantum: number): number {
  const saved = k.current;
  k.current = c;
  const start = c.clock;
  const end = start + quantum;
  try {
    while (c.clock < end) cpuStep(k, c, end, ALONE);
  } finally {
    k.current = saved;
  }
  return c.clock - start;
}

/**
 * Runs `c` for up to `steps` one-instruction steps, exactly as that many
 * `runCpu(k, c, 1)` calls in a row would, but ends after the first step that
 * changed what a strategy sees (sched-watch.ts) or that brought the machine
 * to `stepLimit` instructions. Guest code between two such changes runs in
 * one interpreter call. Returns the steps taken (at least one).
 */
export function runCpuSteps(k: Kernel, c: CpuState, steps: number, stepLimit: number): number {
  const saved = k.current;
  const watch = c.watch;
  const gen = watch.gen;
  k.current = c;
  watch.running = c.cpu;
  let done = 0;
  try {
    while (done < steps) {
      if (
        c.clock < c.nextTick &&
        (c.pendingIrqs === 0 || !c.irqsEnabled) &&
        c.curr.body.kind === 'program'
      ) {
        // Only guest code until the tick: one step per instruction, and
        // whatever would end a step early stops the interpreter (the watch).
        const budget = Math.min(steps - done, c.nextTick - c.clock, stepLimit - k.steps);
        const start = c.clock;
        cpuStep(k, c, start + budget, ALONE);
        done += c.clock - start;
      } else {
        const end = c.clock + 1;
        while (c.clock < end) cpuStep(k, c, end, ALONE);
        done++;
      }
      if (watch.gen !== gen || k.steps >= stepLimit) break;
    }
  } finally {
    watch.running = null;
    k.current = saved;
  }
  return done;
}

/**
 * One step of `c`, running nothing past `end` on its clock (a handler may
 * carry it further): the timer interrupt if due; pending interrupts if
 * enabled; else the idle task schedules or halts until the next tick; else
 * one step of native code; else the guest program until the next tick or
 * `end`, then its exit, oops or the reschedule it asked for.
 */
export function cpuStep(k: Kernel, c: CpuState, end: number, locking: CpuLocking): void {
  if (c.clock >= c.nextTick) {
    raiseIrq(c, 'timer');
    programTick(k, c);
  }
  if (c.pendingIrqs !== 0 && c.irqsEnabled) {
    if (locking.irqsLockFree(k, c)) {
      deliverInterrupts(k, c);
      return;
    }
    locking.lock(k, c);
    try {
      deliverInterrupts(k, c);
    } finally {
      locking.unlock(k, c);
    }
    return;
  }
  const until = Math.min(end, c.nextTick);
  c.stepEnd = until;
  const task = c.curr;
  if (task.body.kind === 'program') {
    runGuest(k, c, task, until - c.clock, locking);
    return;
  }
  let halt = false;
  locking.lock(k, c);
  try {
    if (task === c.idle) {
      halt = !schedule(k, c, false);
    } else {
      nativeStep(k, c, task);
      if (c.reschedRequested) reschedPoint(k, c);
    }
  } finally {
    locking.unlock(k, c);
  }
  // Nothing to run: halt until the next timer interrupt.
  if (halt) locking.halt(k, c, until);
}

/**
 * Programs `c`'s next timer interrupt: the next multiple of the tick
 * interval after now, plus the delay the strategy chooses (the kernel's
 * timer is not cycle-exact either).
 */
function programTick(k: Kernel, c: CpuState): void {
  // Ticks missed behind a long handler coalesce into this one, as lost ticks do.
  do c.tickNominal += k.opts.tickInterval;
  while (c.tickNominal <= c.clock);
  c.nextTick = c.tickNominal + (c.tickDelay === null ? 0 : c.tickDelay(c));
}

/** The guest program of `task` for up to `budget` instructions, unlocked; then its exit, oops or reschedule. */
function runGuest(k: Kernel, c: CpuState, task: Task, budget: number, locking: CpuLocking): void {
  const ctx = task.ctx!;
  // The interpreter checks the context is one it could have left; the kernel, that it is this task's.
  const foreign =
    ctx.stackTop !== task.stackTop ? foreignStack(task, ctx.stackTop) : resumeProgram(k, task);
  const reason = foreign === null ? c.cpu.run(ctx, budget) : StopReason.Fault;
  k.advance(c, foreign === null ? c.cpu.executed : 0);
  const exited = reason === StopReason.Exit;
  const faulted = reason === StopReason.Fault;
  if (!exited && !faulted && !c.reschedRequested) return;
  locking.lock(k, c);
  try {
    if (exited) exitTask(k, c, task, ctx.reg(0));
    else if (faulted) guestOops(k, c, task, foreign ?? c.cpu.fault!);
    if (c.reschedRequested) reschedPoint(k, c);
  } finally {
    locking.unlock(k, c);
  }
}

/**
 * One step of a native task: its generator runs to its next yield (one
 * instruction of time), then exits, asks for a reschedule, or dies.
 */
function nativeStep(k: Kernel, c: CpuState, task: Task): void {
  if (task.body.kind !== 'native') return;
  if (task.resumeFree) task.resumeFree = false;
  else k.advance(c, 1);
  try {
    const r = task.body.body.next();
    if (r.done) exitTask(k, c, task, BigInt(r.value ?? 0));
    else c.reschedRequested = true;
  } catch (e) {
    nativeDeath(k, c, task, e);
  }
}

/**
 * After a kfunc or native step asked to stop: a task that went to sleep
 * gives up the CPU; one that called schedule() yields it; a runnable one is
 * preempted if a reschedule is pending and it is preemptible
 * (preempt_enable's and local_irq_restore's check).
 */
function reschedPoint(k: Kernel, c: CpuState): void {
  c.reschedRequested = false;
  const task = c.curr;
  if (c.isIdle) return;
  if (task.state !== TASK_RUNNING) {
    if (c.preemptCount !== 0) {
      // __schedule_bug(): the count as schedule() sees it (its own disable included), then reset.
      const count = (c.preemptCount + 1).toString(16).padStart(8, '0');
      k.report('warning', c, [`BUG: scheduling while atomic: ${task.comm}/${task.pid}/0x${count}`]);
      preemptCountReset(k.memory, c.vars.preemptCount);
    }
    schedule(k, c, false);
  } else if (c.yieldRequested) {
    schedule(k, c, false);
  } else if (c.needResched && c.preemptible()) {
    schedule(k, c, true);
  }
  c.yieldRequested = false;
}

/** The fault of a saved context whose stack is not its task's (a stray store changed it). */
/**
 * Points the task's context at the program it runs: its own, or the one a
 * tail call jumped into, by the id the context keeps in memory (another
 * worker of parallel mode may have made the tail call). A fault for an id
 * that names no loaded program.
 */
function resumeProgram(k: Kernel, task: Task): CpuFault | null {
  const ctx = task.ctx!;
  const id = ctx.words[CTX_PROG_ID];
  const prog =
    id === 0
      ? task.body.kind === 'program'
        ? task.body.program
        : null
      : k.progs.byIdLookup(id)?.prog;
  if (prog === undefined || prog === null) {
    return new CpuFault(
      'corrupted-context',
      ctx.pc,
      `saved context of ${task.comm}/${task.pid} (task_struct at 0x${task.addr.toString(16)}) is corrupted: program id ${id} is not loaded`,
    );
  }
  if (ctx.program !== prog) ctx.program = prog;
  return null;
}

function foreignStack(task: Task, stackTop: number): CpuFault {
  const ctx = task.ctx!;
  return new CpuFault(
    'corrupted-context',
    ctx.pc,
    `saved context of ${task.comm}/${task.pid} (task_struct at 0x${task.addr.toString(16)}) is corrupted: stack top 0x${stackTop.toString(16)} is not its stack 0x${task.stackTop.toString(16)}`,
  );
}

/** A guest fault: the oops report, then the task dies and the CPU goes on. */
function guestOops(k: Kernel, c: CpuState, task: Task, fault: CpuFault): void {
  if (fault.kind === 'corrupted-context' && fault.detail.startsWith('saved context is')) {
    // The interpreter does not know whose context it was given: the kernel names the struct.
    const whose = `saved context of ${task.comm}/${task.pid} (task_struct at 0x${task.addr.toString(16)}) is`;
    const what = fault.detail.slice('saved context is'.length).replace(/ at pc -?\d+$/, '');
    fault = new CpuFault('corrupted-context', fault.pc, `${whose}${what}`);
  }
  const who = { cpu: c.id, pid: task.pid, comm: task.comm, count: k.nextOops() };
  k.report('oops', c, oopsLines(fault, task.ctx!, who, k.disasmOptions()));
  exitTask(k, c, task, BigInt(fault.code));
}

/** Native task code threw: a BUG report with the error, then the task dies. */
function nativeDeath(k: Kernel, c: CpuState, task: Task, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  k.report('oops', c, [
    `BUG: ${message}`,
    `Oops: ${e instanceof ErrnoError ? e.errno : 'EFAULT'} [#${k.nextOops()}] SMP`,
    `CPU: ${c.id} PID: ${task.pid} Comm: ${task.comm}`,
  ]);
  exitTask(k, c, task, BigInt(e instanceof ErrnoError ? e.code : -14));
}
