/**
 * The scheduler: context switches, wakeups, exits and migrations on the
 * per-CPU run queues, after kernel/sched/core.c with one round-robin class
 * in place of CFS (equal priorities, a fixed time slice).
 *
 *  - schedule(): the running task gives the CPU up; if it is still runnable
 *    (it was preempted) it goes to the tail of its run queue. The head of
 *    the queue runs next, or the idle task after an idle balance found
 *    nothing to pull. A switch is traced as sched_switch.
 *  - A task runs on the CPU whose run queue holds it; it changes CPU only
 *    through migrateTask(), which refuses a running task, a task with
 *    migration disabled, and a CPU outside its allowed mask.
 *  - The load balancer (SCHED_SOFTIRQ) pulls one waiting task from the
 *    busiest CPU when it has at least two more than this one.
 *
 * Context: called with the machine's current CPU set to `c` (runCpu), which
 * stands for holding `c`'s run-queue lock.
 *
 * @example
 * schedule(k, c, true); // preempt the running task
 */

import type { CpuState } from './cpu-state.ts';
import type { Kernel } from './kernel.ts';
import {
  clearNeedResched,
  HARDIRQ_MASK,
  preemptCountReset,
  setNeedResched,
} from './preempt-count.ts';
import { RQ_CAPACITY } from './runqueue.ts';
import { EXIT_ZOMBIE, stateLetter, TASK_INTERRUPTIBLE, TASK_RUNNING, type Task } from './task.ts';

/**
 * Picks the next task on `c` and switches to it. `preempt` says the running
 * task was preempted (it stays runnable) rather than giving up the CPU.
 * Returns true when a task other than idle runs afterwards.
 */
export function schedule(k: Kernel, c: CpuState, preempt: boolean): boolean {
  const prev = c.curr;
  const prevRunnable = prev !== c.idle && !prev.exited && prev.state === TASK_RUNNING;
  clearNeedResched(k.memory, c.vars.preemptCount);
  if (prevRunnable && preempt && c.rq.length === 0) {
    c.sliceLeft = k.opts.timeSlice;
    return true;
  }
  if (prevRunnable) {
    enqueueTask(k, c, prev);
    prev.onRq = true;
  }
  if (c.rq.length === 0) idleBalance(k, c);
  const next = pickNextTask(k, c);
  next.onRq = false;
  if (next !== prev) contextSwitch(k, c, prev, next, preempt && prevRunnable);
  c.sliceLeft = k.opts.timeSlice;
  // Scheduling is what the watchdog waits for: a new stall starts from here.
  c.stuckSince = -1;
  c.lockupReported = false;
  return next !== c.idle;
}

/**
 * The head of `c`'s run queue, checked: the queue lives in memory a stray
 * store can reach, so a pid that names no task, an exited one, one of
 * another CPU or one not waiting (running, or queued twice) is reported as
 * run-queue corruption and dropped, and the next is tried. The idle task
 * when none is left.
 */
function pickNextTask(k: Kernel, c: CpuState): Task {
  repairRunQueue(k, c);
  for (;;) {
    const pid = c.rq.pickNext();
    if (pid < 0) return c.idle;
    const task = k.tasks.get(pid);
    const bad = notWaitingOn(task, pid, c.id);
    if (bad === undefined) return task!;
    runQueueCorrupted(k, c, bad);
  }
}

/** Why `task` (the task of `pid`) cannot be a waiting entry of CPU `cpu`'s run queue. */
function notWaitingOn(task: Task | undefined, pid: number, cpu: number): string | undefined {
  if (task === undefined) return `pid ${pid} names no task`;
  const who = `${task.comm}/${pid}`;
  if (task.exited) return `${who} has exited`;
  if (task.cpu !== cpu) return `${who} belongs to CPU ${task.cpu}`;
  if (!task.onRq) return `${who} is not waiting (it is running, or was queued twice)`;
  return undefined;
}

/**
 * A run queue whose count is out of range keeps only the entries that name
 * tasks waiting on it, each once (what a stray store left cannot be trusted).
 */
function repairRunQueue(k: Kernel, c: CpuState): void {
  const bad = c.rq.corruption();
  if (bad === null) return;
  runQueueCorrupted(k, c, bad);
  const seen = new Set<number>();
  c.rq.rewrite(
    c.rq.pids().filter((pid) => {
      const ok = !seen.has(pid) && notWaitingOn(k.tasks.get(pid), pid, c.id) === undefined;
      seen.add(pid);
      return ok;
    }),
  );
}

/**
 * Queues `task` on `c`. A full queue is first cleared of entries that name
 * no waiting task (stray stores can fill it); EAGAIN if it is full of real ones.
 */
function enqueueTask(k: Kernel, c: CpuState, task: Task): void {
  if (c.rq.length >= RQ_CAPACITY) {
    const waiting = c.rq
      .pids()
      .filter((pid) => notWaitingOn(k.tasks.get(pid), pid, c.id) === undefined);
    if (waiting.length < c.rq.length) {
      runQueueCorrupted(
        k,
        c,
        `${c.rq.length - waiting.length} of its ${RQ_CAPACITY} slots name no waiting task`,
      );
      c.rq.rewrite(waiting);
    }
  }
  c.rq.enqueue(task.pid);
}

/** A task_struct whose cpu field names no CPU: reported, and the task goes to the first CPU it may use. */
function taskCpuCorrupted(k: Kernel, task: Task): CpuState {
  const c = k.current ?? k.cpus[0];
  const to = k.cpus.find((x) => task.allowedOn(x.id)) ?? k.cpus[0];
  k.report('oops', c, [
    `BUG: task_struct of ${task.comm}/${task.pid} at 0x${task.addr.toString(16)} is corrupted: cpu ${task.cpu} names no CPU; it goes to CPU ${to.id}`,
    `Oops: EUCLEAN [#${k.nextOops()}] SMP`,
    `CPU: ${c.id} PID: ${c.curr.pid} Comm: ${c.curr.comm}`,
  ]);
  return to;
}

/** The oops of a corrupted run queue: the kernel would BUG(); here the bad entry is dropped. */
function runQueueCorrupted(k: Kernel, c: CpuState, what: string): void {
  k.report('oops', c, [
    `BUG: run queue of CPU ${c.id} at 0x${c.rq.addr.toString(16)} is corrupted: ${what}`,
    `Oops: EUCLEAN [#${k.nextOops()}] SMP`,
    `CPU: ${c.id} PID: ${c.curr.pid} Comm: ${c.curr.comm}`,
  ]);
}

function contextSwitch(k: Kernel, c: CpuState, prev: Task, next: Task, preempted: boolean): void {
  k.rcu.noteContextSwitch(c, prev);
  if (k.tracer !== null)
    k.trace(c, {
      type: 'sched_switch',
      prevComm: prev.comm,
      prevPid: prev.pid,
      prevPrio: prev.prio,
      prevState: preempted ? 'R+' : stateLetter(prev.state),
      nextComm: next.comm,
      nextPid: next.pid,
      nextPrio: next.prio,
    });
  if (prev !== c.idle) prev.countSwitch(!preempted);
  c.rq.countSwitch();
  c.curr = next;
  c.rq.curr = next.addr;
  c.watch.changed();
  next.cpu = c.id;
  k.memory.write64(c.vars.currentTask, BigInt(next.addr));
}

/**
 * wake_up_process(): makes `task` runnable on `cpu` (its last CPU by default)
 * and asks for a reschedule there if that CPU is idle.
 */
export function wakeUpProcess(k: Kernel, task: Task, cpu = task.cpu): void {
  const target = k.cpus[cpu] ?? taskCpuCorrupted(k, task);
  cpu = target.id;
  task.state = TASK_RUNNING;
  task.cpu = cpu;
  enqueueTask(k, target, task);
  task.onRq = true;
  if (k.tracer !== null)
    k.trace(k.current ?? target, {
      type: 'sched_wakeup',
      taskComm: task.comm,
      taskPid: task.pid,
      taskPrio: task.prio,
      targetCpu: cpu,
    });
  if (target.isIdle) setNeedResched(k.memory, target.vars.preemptCount);
}

/** The running task of `c` goes to sleep until wakeUpProcess. */
export function sleepCurrent(k: Kernel, c: CpuState): void {
  c.curr.state = TASK_INTERRUPTIBLE;
  schedule(k, c, false);
}

/**
 * do_exit(): the task ends with `code`. If it was running on `c`, what it
 * held on the CPU (preempt count, disabled interrupts, its migration pin)
 * is released with the kernel's note, and the CPU schedules.
 */
export function exitTask(k: Kernel, c: CpuState, task: Task, code: bigint): void {
  if (c.curr === task) releaseDyingTask(k, c, task);
  task.exitCode = code;
  if (k.tracer !== null)
    k.trace(c, {
      type: 'sched_process_exit',
      taskComm: task.comm,
      taskPid: task.pid,
      taskPrio: task.prio,
    });
  task.state = EXIT_ZOMBIE;
  k.noteExit(task);
  if (c.curr === task) schedule(k, c, false);
}

/**
 * do_exit's clean-up: a dying task's preempt count, interrupt flag and
 * migration pin do not outlive it, and the kernel says so.
 */
function releaseDyingTask(k: Kernel, c: CpuState, task: Task): void {
  const count = c.preemptCount & ~HARDIRQ_MASK;
  if (count !== 0) {
    k.report('warning', c, [`note: ${task.comm}[${task.pid}] exited with preempt_count ${count}`]);
  }
  preemptCountReset(k.memory, c.vars.preemptCount);
  if (!c.irqsEnabled) {
    k.report('warning', c, [`WARNING: ${task.comm}[${task.pid}] exited with interrupts disabled`]);
    c.setIrqsEnabled(true);
  }
  task.migrationDisabled = 0;
}

/** Why a task cannot be migrated to `dest` now, or undefined when it can. */
export function cannotMigrate(k: Kernel, task: Task, dest: number): string | undefined {
  if (task.exited) return 'it has exited';
  if (k.cpus[task.cpu] === undefined) return `its task_struct names CPU ${task.cpu}`;
  if (!task.onRq) return 'it is not waiting on a run queue';
  if (task.kthread) return 'it is a bound kthread';
  if (task.migrationDisabled > 0) return 'migration is disabled';
  if (!task.allowedOn(dest)) return `CPU ${dest} is not in its allowed mask`;
  if (task.cpu === dest) return `it is already on CPU ${dest}`;
  if (k.cpus[task.cpu].curr === task) return 'it is running';
  return undefined;
}

/** Moves a waiting task to `dest`'s run queue (set_task_cpu + sched_migrate_task). */
export function migrateTask(k: Kernel, task: Task, dest: number): boolean {
  if (cannotMigrate(k, task, dest) !== undefined) return false;
  const src = k.cpus[task.cpu];
  src.rq.remove(task.pid);
  if (k.tracer !== null)
    k.trace(k.current ?? src, {
      type: 'sched_migrate_task',
      taskComm: task.comm,
      taskPid: task.pid,
      taskPrio: task.prio,
      origCpu: src.id,
      destCpu: dest,
    });
  task.cpu = dest;
  enqueueTask(k, k.cpus[dest], task);
  if (k.cpus[dest].isIdle) setNeedResched(k.memory, k.cpus[dest].vars.preemptCount);
  return true;
}

/** run_rebalance_domains(): pull one task from the busiest CPU if it has 2+ more. */
export function loadBalance(k: Kernel, c: CpuState): void {
  const load = (x: CpuState) => x.rq.length + (x.isIdle ? 0 : 1);
  let busiest: CpuState | undefined;
  for (const other of k.cpus) {
    if (other !== c && (busiest === undefined || load(other) > load(busiest))) busiest = other;
  }
  if (busiest === undefined || load(busiest) - load(c) < 2) return;
  pullOne(k, busiest, c);
}

/** newidle_balance(): an idle CPU pulls a waiting task from any other. */
function idleBalance(k: Kernel, c: CpuState): void {
  for (const other of k.cpus) {
    if (other !== c && other.rq.length > 0 && pullOne(k, other, c)) return;
  }
}

function pullOne(k: Kernel, from: CpuState, to: CpuState): boolean {
  for (const pid of from.rq.pids()) {
    // A pid that names no task is the source CPU's to find and report when it picks.
    const task = k.tasks.get(pid);
    if (task !== undefined && migrateTask(k, task, to.id)) return true;
  }
  return false;
}
