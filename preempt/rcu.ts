/**
 * RCU, after the kernel's preemptible flavour (CONFIG_PREEMPT_RCU,
 * kernel/rcu/tree.c and tree_plugin.h), cut down to one rcu_node:
 *
 *  - **Readers.** rcu_read_lock()/rcu_read_unlock() nest per task
 *    (`current->rcu_read_lock_nesting`); a reader may be preempted and even
 *    migrated inside its read-side critical section. As in every kernel
 *    since the flavour consolidation, a region with preemption or bottom
 *    halves disabled is a reader too: the tick reports no quiescent state
 *    from inside one.
 *  - **Quiescent states** of a CPU: a context switch (the outgoing task, if
 *    inside a read section, is queued as a *blocked reader* first, as
 *    rcu_note_context_switch does), a timer tick on an idle CPU, or a tick
 *    that interrupted a task outside any read section with preemption and
 *    bottom halves enabled (rcu_flavor_sched_clock_irq). A CPU that is idle
 *    when a grace period starts is quiescent at once (dynticks-idle).
 *  - **Grace periods.** A grace period started at time t ends when every CPU
 *    has passed a quiescent state after t *and* every blocked reader that
 *    holds it has left its read section: the readers preempted before t, and
 *    those preempted during it on a CPU that had not yet reported. One grace
 *    period runs at a time; one is started when a callback needs it.
 *  - **Callbacks.** call_rcu(fn) on CPU c waits for the first grace period
 *    that starts after the call; then c's RCU_SOFTIRQ runs it, in softirq
 *    context, at c's next interrupt exit or local_bh_enable(). Callbacks of
 *    one CPU run in the order they were queued.
 *
 * Every machine has RCU from boot (installPercpuKptr calls `installRcu`).
 * The machine calls three hooks: `rcuNoteContextSwitch` from the context
 * switch, `rcuSchedClockIrq` from the timer tick and `rcuCore` for
 * RCU_SOFTIRQ. Native tasks can sleep
 * until a grace period has passed with `yield* synchronizeRcu(m)`, or until
 * every queued callback has run with `yield* rcuBarrier(m)`.
 *
 * State: one Rcu per machine, in a WeakMap (not a Machine field), and in JS
 * rather than emulated memory: the callbacks are JS functions, and task
 * nesting has no field in task_struct yet. So unlike the rest of the
 * machine, RCU state is not in a memory snapshot and not shared with
 * parallel workers.
 *
 * Context: every function runs on the machine's current CPU (runCpu), which
 * stands for holding the rcu_node lock.
 *
 * @example
 * const rcu = rcuOf(m.boot());
 * // in a native task on some CPU:
 * rcu.readLock();  ...  rcu.readUnlock();
 * rcu.callRcu(() => allocator.free(p)); // after every reader of p is done
 */

import { ErrnoError } from '../segments/errno.ts';
import type { CpuState } from './cpu-state.ts';
import type { Machine } from './machine.ts';
import { HARDIRQ_OFFSET, PREEMPT_MASK, SOFTIRQ_MASK } from './preempt-count.ts';
import { wakeUpProcess } from './scheduler.ts';
import { TASK_UNINTERRUPTIBLE, type Task } from './task.ts';

/** include/linux/interrupt.h: the RCU softirq vector. */
export const RCU_SOFTIRQ = 9;

/** A callback and the number of the grace period it waits for. */
interface RcuCallback {
  readonly fn: () => void;
  readonly gp: number;
}

/** The grace period in progress. */
interface GracePeriod {
  readonly seq: number;
  /** Emulated ns when it started. */
  readonly startedAt: number;
  /** CPUs that have not yet passed a quiescent state since the start. */
  readonly cpusLeft: Set<number>;
  /** Blocked readers this grace period waits for. */
  readonly holders: Set<Task>;
}

const rcus = new WeakMap<Machine, Rcu>();

/**
 * Gives `m` RCU; once per machine (EBUSY the second time), from its boot.
 *
 * @example
 * const rcu = installRcu(m); // in boot, once the CPUs exist
 */
export function installRcu(m: Machine): Rcu {
  if (rcus.has(m)) throw new ErrnoError('EBUSY', 'RCU is already installed on this machine');
  if (m.cpus.length === 0) throw new ErrnoError('EAGAIN', 'install RCU once the CPUs exist');
  const rcu = new Rcu(m);
  rcus.set(m, rcu);
  return rcu;
}

/**
 * The machine's RCU; EAGAIN before boot.
 *
 * @example
 * rcuOf(m).completed; // grace periods completed so far
 */
export function rcuOf(m: Machine): Rcu {
  const rcu = rcus.get(m);
  if (rcu === undefined) throw new ErrnoError('EAGAIN', 'the machine has not booted: no RCU yet');
  return rcu;
}

/**
 * rcu_note_context_switch(): called by the scheduler when `c` switches away
 * from `prev`.
 */
export function rcuNoteContextSwitch(m: Machine, c: CpuState, prev: Task): void {
  rcus.get(m)?.noteContextSwitch(c, prev);
}

/** rcu_sched_clock_irq(): called from `c`'s timer interrupt. */
export function rcuSchedClockIrq(m: Machine, c: CpuState): void {
  rcus.get(m)?.schedClockIrq(c);
}

/** rcu_core(): the RCU_SOFTIRQ handler of `c`. */
export function rcuCore(m: Machine, c: CpuState): void {
  rcus.get(m)?.invokeCallbacks(c);
}

export class Rcu {
  /** Grace periods completed so far (rcu_state.gp_seq, counted in whole periods). */
  completed = 0;
  private gp: GracePeriod | null = null;
  private readonly nesting = new Map<Task, number>();
  /** Tasks switched out inside a read section and still in it (rnp->blkd_tasks). */
  private readonly blocked = new Set<Task>();
  /** Per CPU, callbacks in the order queued. */
  private readonly callbacks: RcuCallback[][];
  /** The highest grace period number any queued callback waits for. */
  private needed = 0;

  constructor(private readonly m: Machine) {
    this.callbacks = m.cpus.map(() => []);
  }

  /** True while a grace period runs. */
  get gpInProgress(): boolean {
    return this.gp !== null;
  }

  /** Callbacks queued and not yet invoked, over all CPUs. */
  get pendingCallbacks(): number {
    return this.callbacks.reduce((n, list) => n + list.length, 0);
  }

  /**
   * rcu_preempt_depth() of `task` (the running task of the caller's CPU by default).
   *
   * @example
   * rcu.depth(); // 0 outside any read section
   */
  depth(task: Task = this.m.here().curr): number {
    return this.nesting.get(task) ?? 0;
  }

  /**
   * rcu_read_lock() for the caller's task.
   *
   * @example
   * rcu.readLock();
   */
  readLock(): void {
    const task = this.m.here().curr;
    this.nesting.set(task, this.depth(task) + 1);
  }

  /**
   * rcu_read_unlock() for the caller's task. Leaving the outermost section
   * as a blocked reader releases the grace period it held
   * (rcu_read_unlock_special). Without a matching lock: a warning, nothing else.
   *
   * @example
   * rcu.readUnlock();
   */
  readUnlock(): void {
    const c = this.m.here();
    const task = c.curr;
    const depth = this.depth(task);
    if (depth === 0) {
      this.m.report('warning', c, [
        `WARNING: CPU: ${c.id} PID: ${task.pid} at kernel/rcu/tree_plugin.h __rcu_read_unlock`,
        `rcu_read_unlock() in ${task.comm}/${task.pid} without rcu_read_lock()`,
      ]);
      return;
    }
    if (depth > 1) {
      this.nesting.set(task, depth - 1);
      return;
    }
    this.nesting.delete(task);
    this.unblock(task);
  }

  /** Callbacks queued on CPU `cpu` and not yet invoked. */
  pendingCallbacksOn(cpu: number): number {
    return this.callbacks[cpu].length;
  }

  /**
   * call_rcu(): runs `fn` on CPU `cpu` (by default the caller's, CPU 0 from
   * host code) after a grace period that starts after this call.
   *
   * @example
   * rcu.callRcu(() => allocator.free(ptr));
   */
  callRcu(fn: () => void, cpu = this.m.current?.id ?? 0): void {
    this.m.areas.checkCpu(cpu);
    const gp = this.gp === null ? this.completed + 1 : this.gp.seq + 1;
    this.callbacks[cpu].push({ fn, gp });
    this.needed = Math.max(this.needed, gp);
    if (this.gp === null) this.startGp();
  }

  /** See rcuNoteContextSwitch. */
  noteContextSwitch(c: CpuState, prev: Task): void {
    const depth = this.depth(prev);
    if (depth > 0) {
      if (prev.exited) {
        // exit_rcu(): the section ends with the task; lockdep says so.
        this.m.report('warning', c, [
          `WARNING: ${prev.comm}/${prev.pid} still has locks held!`,
          ` #0: (rcu_read_lock){....}, nesting ${depth}`,
        ]);
        this.nesting.delete(prev);
        this.unblock(prev);
      } else if (!this.blocked.has(prev)) {
        // rcu_preempt_ctxt_queue(): a preempted reader blocks the current
        // grace period if this CPU still owed it a quiescent state.
        this.blocked.add(prev);
        if (this.gp?.cpusLeft.has(c.id)) this.gp.holders.add(prev);
      }
    }
    this.quiescent(c);
  }

  /** See rcuSchedClockIrq. */
  schedClockIrq(c: CpuState): void {
    if (c.isIdle) {
      this.quiescent(c);
    } else {
      const interrupted = c.preemptCount - HARDIRQ_OFFSET;
      if ((interrupted & (PREEMPT_MASK | SOFTIRQ_MASK)) === 0 && this.depth(c.curr) === 0) {
        this.quiescent(c);
      }
    }
    if (this.hasReadyCallbacks(c.id)) c.softirqPending |= 1 << RCU_SOFTIRQ;
  }

  /**
   * rcu_do_batch(): runs `c`'s callbacks whose grace period has completed.
   * A callback that throws is reported as an oops and the others still run.
   */
  invokeCallbacks(c: CpuState): void {
    const list = this.callbacks[c.id];
    let k = 0;
    while (k < list.length && list[k].gp <= this.completed) k++;
    const ready = list.splice(0, k);
    for (const cb of ready) {
      try {
        cb.fn();
      } catch (e) {
        if (!(e instanceof Error)) throw e;
        this.m.report('oops', c, [
          `BUG: an RCU callback failed: ${e.message}`,
          `CPU: ${c.id} PID: ${c.curr.pid} Comm: ${c.curr.comm}`,
        ]);
      }
    }
  }

  private hasReadyCallbacks(cpu: number): boolean {
    const list = this.callbacks[cpu];
    return list.length > 0 && list[0].gp <= this.completed;
  }

  /**
   * rcu_gp_init(): every CPU owes a quiescent state, except idle ones
   * (dynticks-idle); the CPU starting it is never taken for idle, as it may be
   * in an interrupt handler inside a read section.
   */
  private startGp(): void {
    const cpusLeft = new Set<number>();
    for (const c of this.m.cpus) if (!c.isIdle || c === this.m.current) cpusLeft.add(c.id);
    this.gp = {
      seq: this.completed + 1,
      startedAt: this.m.now(),
      cpusLeft,
      // Readers preempted before the start are in sections older than it.
      holders: new Set(this.blocked),
    };
    this.maybeEndGp();
  }

  /** rcu_qs() + rcu_report_qs_rdp(): `c` passed a quiescent state. */
  private quiescent(c: CpuState): void {
    if (this.gp === null || !this.gp.cpusLeft.delete(c.id)) return;
    this.maybeEndGp();
  }

  /** A blocked reader left its section: it holds no grace period any more. */
  private unblock(task: Task): void {
    if (!this.blocked.delete(task)) return;
    if (this.gp?.holders.delete(task)) this.maybeEndGp();
  }

  /** rcu_gp_cleanup(): ends the grace period if nothing holds it; starts the next one if needed. */
  private maybeEndGp(): void {
    const gp = this.gp;
    if (gp === null || gp.cpusLeft.size > 0 || gp.holders.size > 0) return;
    this.completed = gp.seq;
    this.gp = null;
    for (const c of this.m.cpus) {
      if (this.hasReadyCallbacks(c.id)) c.softirqPending |= 1 << RCU_SOFTIRQ;
    }
    if (this.needed > this.completed) this.startGp();
  }
}

/**
 * synchronize_rcu() for a native task: `yield* synchronizeRcu(m)` returns
 * once a full grace period has elapsed, so every reader that was inside a
 * read section at the call has left it. The task sleeps meanwhile (woken by
 * an RCU callback, as wait_rcu_gp does); it must not be a reader itself
 * (EINVAL).
 *
 * @example
 * m.spawn({ comm: 'updater', *body() { unpublish(); yield* synchronizeRcu(m); free(); return 0; } });
 */
export function* synchronizeRcu(m: Machine): Generator<void, void, void> {
  const rcu = rcuOf(m);
  if (rcu.depth() > 0) {
    throw new ErrnoError(
      'EINVAL',
      'illegal synchronize_rcu() in an RCU read-side critical section: it would wait for itself',
    );
  }
  let done = false;
  const wake = sleeper(m);
  rcu.callRcu(() => {
    done = true;
    wake();
  });
  while (!done) yield* wake.sleep();
}

/**
 * rcu_barrier() for a native task: returns once every callback queued
 * before the call, on any CPU, has run. The task sleeps meanwhile.
 *
 * @example
 * m.spawn({ comm: 'rcu_barrier', body: () => rcuBarrier(m) });
 */
export function* rcuBarrier(m: Machine): Generator<void, undefined, void> {
  const rcu = rcuOf(m);
  let left = 0;
  const wake = sleeper(m);
  // A marker at the end of each CPU's list runs after every callback before it.
  for (const c of m.cpus) {
    if (rcu.pendingCallbacksOn(c.id) === 0) continue;
    left++;
    rcu.callRcu(() => {
      if (--left === 0) wake();
    }, c.id);
  }
  while (left > 0) yield* wake.sleep();
  return undefined;
}

/**
 * The calling native task's sleep and its wake-up: `yield* s.sleep()` puts
 * it to sleep (TASK_UNINTERRUPTIBLE) until `s()` is called.
 */
function sleeper(m: Machine): (() => void) & { sleep(): Generator<void, void, void> } {
  const task = m.here().curr;
  const wake = () => {
    if (task.state === TASK_UNINTERRUPTIBLE) wakeUpProcess(m, task, task.cpu);
  };
  return Object.assign(wake, {
    *sleep(): Generator<void, void, void> {
      task.state = TASK_UNINTERRUPTIBLE;
      m.here().reschedRequested = true;
      yield;
    },
  });
}
