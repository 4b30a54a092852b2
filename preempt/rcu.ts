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
 * Every kernel has RCU from boot (`k.rcu`, made by `Rcu.install`). The
 * kernel calls three hooks: `noteContextSwitch` from the context switch,
 * `schedClockIrq` from the timer tick and `invokeCallbacks` for
 * RCU_SOFTIRQ. Native tasks can sleep until a grace period has passed with
 * `yield* k.synchronizeRcu()`, or until every queued callback has run with
 * `yield* k.rcuBarrier()` (rcu-sync.ts).
 *
 * State. What CPUs share is in emulated memory, so every thread's `Rcu`
 * handle over the same memory (the parallel runner's workers) sees one RCU:
 *
 *     struct rcu_state {                // 'rcu_state' region, reserved at install
 *       raw_spinlock lock;              // the rcu_node lock (rnp->lock)
 *       u32 gp_seq;                     // completed << 2 | 1 while one runs (rcu_seq_*)
 *       u32 gp_seq_needed;              // the highest gp_seq a callback waits for
 *       u32 qsmask[2];                  // CPUs (64 at most) still to report
 *       u64 gp_start;                   // emulated ns when the current one started
 *       u32 blkd_tasks[W];              // blocked readers, a bit per task slot
 *       u32 gp_tasks[W];                // those of them holding the current one
 *     };
 *
 * A task's read nesting is its task_struct's `rcu_read_lock_nesting`
 * (preempt/task.ts); the bitmaps count task slots in the kernel's task
 * structs region, which install is given. The callback lists stay in JS, one per CPU: the
 * callbacks are JS closures, queued and run by their CPU; each records the
 * gp_seq it waits for (rcu_seq_snap), compared with gp_seq in memory.
 *
 * Locking. `lock` guards every read-modify-write of rcu_state; it is taken
 * by the calling CPU (the hook's CPU, or the machine's current one, CPU 0
 * from host code) and never held across a callback, a report or raising a
 * softirq. Lock-free, as in the kernel: a task's own nesting (only it
 * changes it, while it runs), the unlocked peeks at gp_seq and at a CPU's
 * own qsmask bit that skip taking the lock when there is nothing to report
 * (a CPU's bit is cleared only by that CPU; a bit set meanwhile by a new
 * grace period is reported at its next quiescent state), and a running
 * task's own blkd_tasks bit (set only while it is switched out). In the
 * single-threaded engine the lock found held is a bug: EBUSY.
 *
 * @example
 * const rcu = new Machine().boot().rcu;
 * // in a native task on some CPU:
 * rcu.readLock();  ...  rcu.readUnlock();
 * rcu.callRcu(() => allocator.free(p)); // after every reader of p is done
 */

import type { AddressMap, Region } from '../segments/address-map.ts';
import { array, type StructType, struct, u32, u64 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import { RawSpinlock, rawSpinlockType } from '../segments/raw-spinlock.ts';
import { type CpuState, RCU_SOFTIRQ } from './cpu-state.ts';
import { HARDIRQ_OFFSET, PREEMPT_MASK, SOFTIRQ_MASK } from './preempt-count.ts';
import type { ReportKind } from './reports.ts';
import { type Task, taskStruct } from './task.ts';

/** What RCU uses of the kernel (kernel.ts's Kernel is one). */
export interface RcuHost {
  readonly memory: PhysicalMemory;
  readonly map: AddressMap;
  readonly areas: { checkCpu(cpu: number): void };
  readonly cpus: readonly CpuState[];
  /** The CPU executing the caller, or null for host code. */
  readonly current: CpuState | null;
  here(): CpuState;
  report(kind: ReportKind, c: CpuState, lines: string[]): void;
  /** Emulated time in ns. */
  now(): number;
}

/** A callback and the gp_seq it waits for (rcu_seq_snap at call_rcu). */
interface RcuCallback {
  readonly fn: () => void;
  readonly gp: number;
}

/** RCU_SEQ_CTR_SHIFT and RCU_SEQ_STATE_MASK: gp_seq is a counter above two state bits. */
const SEQ_CTR_SHIFT = 2;
const SEQ_STATE_MASK = 3;
/** The qsmask words: two u32, for NR_CPUS = 64. */
const QS_WORDS = 2;

/** The layout of rcu_state for `slots` task slots. */
export function rcuStateType(slots: number): StructType {
  const words = Math.ceil(slots / 32);
  return struct('rcu_state', [
    ['lock', rawSpinlockType],
    ['gp_seq', u32],
    ['gp_seq_needed', u32],
    ['qsmask', array(u32, QS_WORDS)],
    ['gp_start', u64],
    ['blkd_tasks', array(u32, words)],
    ['gp_tasks', array(u32, words)],
  ]);
}

export class Rcu {
  /**
   * Gives the kernel RCU: reserves and initialises its rcu_state for the
   * task slots of `taskStructs`. Boot does this once its CPUs exist.
   *
   * @example
   * const rcu = Rcu.install(k, taskStructs);
   */
  static install(host: RcuHost, taskStructs: Region): Rcu {
    if (host.cpus.length === 0) throw new ErrnoError('EAGAIN', 'install RCU once the CPUs exist');
    const type = rcuStateType(taskStructs.size / taskStruct.size);
    const region = host.map.reserve('rcu_state', type.size, type.align);
    host.memory.fill(region.start, type.size);
    RawSpinlock.init(host.memory, region.start + type.off.lock);
    return new Rcu(host, region.start, taskStructs);
  }

  /** The rcu_node lock, in rcu_state. */
  readonly lock: RawSpinlock;
  private readonly words: Int32Array;
  /** Word indices of rcu_state's fields in `words`. */
  private readonly seqAt: number;
  private readonly neededAt: number;
  private readonly qsAt: number;
  private readonly blkdAt: number;
  private readonly gpTasksAt: number;
  private readonly slotWords: number;
  private readonly startAddr: number;
  private readonly slotsBase: number;
  /** Per CPU, callbacks in the order queued (this thread's; see the top comment). */
  private readonly callbacks: RcuCallback[][];

  /**
   * A handle on the rcu_state at `addr`, which install wrote for the task
   * slots of `taskStructs`: every handle over the same memory sees the same RCU.
   *
   * @example
   * const other = new Rcu(k, k.rcu.addr, k.rcu.taskStructs);
   * other.completed === k.rcu.completed; // true
   */
  constructor(
    private readonly m: RcuHost,
    readonly addr: number,
    /** The task_struct slots whose bits the blocked-reader bitmaps hold. */
    readonly taskStructs: Region,
  ) {
    const slots = { base: taskStructs.start, count: taskStructs.size / taskStruct.size };
    const type = rcuStateType(slots.count);
    m.memory.check(addr, type.size, 'write');
    const at = (name: string) => (addr + type.field(name).offset) >> 2;
    this.lock = new RawSpinlock(m.memory, addr + type.off.lock);
    this.words = new Int32Array(m.memory.buffer);
    this.seqAt = at('gp_seq');
    this.neededAt = at('gp_seq_needed');
    this.qsAt = at('qsmask');
    this.blkdAt = at('blkd_tasks');
    this.gpTasksAt = at('gp_tasks');
    this.slotWords = Math.ceil(slots.count / 32);
    this.startAddr = addr + type.off.gp_start;
    this.slotsBase = slots.base;
    this.callbacks = m.cpus.map(() => []);
  }

  /** Grace periods completed so far (the counter of rcu_state.gp_seq). */
  get completed(): number {
    return Atomics.load(this.words, this.seqAt) >>> SEQ_CTR_SHIFT;
  }

  /** True while a grace period runs. */
  get gpInProgress(): boolean {
    return (Atomics.load(this.words, this.seqAt) & SEQ_STATE_MASK) !== 0;
  }

  /** Emulated ns when the current (or last) grace period started. */
  get gpStart(): number {
    return Number(this.m.memory.read64(this.startAddr));
  }

  /**
   * True while CPU `cpu` owes the current grace period a quiescent state (its qsmask bit).
   *
   * @example
   * rcu.owesQs(1); // false once CPU 1 has context-switched since the start
   */
  owesQs(cpu: number): boolean {
    const word = Atomics.load(this.words, this.qsAt + (cpu >> 5));
    return (word & (1 << (cpu & 31))) !== 0;
  }

  /**
   * True while `task` is a blocked reader: switched out inside its read
   * section and not yet out of it (on rnp->blkd_tasks).
   *
   * @example
   * rcu.isBlockedReader(reader); // true once it was preempted inside its section
   */
  isBlockedReader(task: Task): boolean {
    return this.testBit(this.blkdAt, this.slotOf(task));
  }

  /**
   * True while the grace period in progress waits for the blocked reader `task`.
   *
   * @example
   * rcu.holdsGracePeriod(reader);
   */
  holdsGracePeriod(task: Task): boolean {
    return this.testBit(this.gpTasksAt, this.slotOf(task));
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
    return task.rcuReadLockNesting;
  }

  /**
   * rcu_read_lock() for the caller's task.
   *
   * @example
   * rcu.readLock();
   */
  readLock(): void {
    const task = this.m.here().curr;
    task.rcuReadLockNesting = task.rcuReadLockNesting + 1;
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
    const depth = task.rcuReadLockNesting;
    if (depth === 0) {
      this.m.report('warning', c, [
        `WARNING: CPU: ${c.id} PID: ${task.pid} at kernel/rcu/tree_plugin.h __rcu_read_unlock`,
        `rcu_read_unlock() in ${task.comm}/${task.pid} without rcu_read_lock()`,
      ]);
      return;
    }
    task.rcuReadLockNesting = depth - 1;
    if (depth > 1 || !this.isBlockedReader(task)) return;
    this.lock.lock(c.id);
    const ended = this.unblockLocked(task);
    this.lock.unlock(c.id);
    if (ended) this.raiseReadyCallbacks();
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
    const me = this.m.current?.id ?? 0;
    const w = this.words;
    this.lock.lock(me);
    const seq = w[this.seqAt];
    // rcu_seq_snap(): the end of the first grace period that starts after now.
    const gp = (seq + 2 * SEQ_STATE_MASK + 1) & ~SEQ_STATE_MASK;
    this.callbacks[cpu].push({ fn, gp });
    if (gp > w[this.neededAt]) w[this.neededAt] = gp;
    let ended = false;
    if ((seq & SEQ_STATE_MASK) === 0) {
      this.startGpLocked();
      ended = this.maybeEndGpLocked();
    }
    this.lock.unlock(me);
    if (ended) this.raiseReadyCallbacks();
  }

  /** See rcuNoteContextSwitch. */
  noteContextSwitch(c: CpuState, prev: Task): void {
    const depth = prev.rcuReadLockNesting;
    if (depth === 0 && !this.owesQs(c.id)) return;
    if (depth > 0 && prev.exited) {
      // exit_rcu(): the section ends with the task; lockdep says so.
      this.m.report('warning', c, [
        `WARNING: ${prev.comm}/${prev.pid} still has locks held!`,
        ` #0: (rcu_read_lock){....}, nesting ${depth}`,
      ]);
      prev.rcuReadLockNesting = 0;
    }
    this.lock.lock(c.id);
    let ended = false;
    if (depth > 0) {
      const slot = this.slotOf(prev);
      if (prev.exited) {
        ended = this.unblockLocked(prev);
      } else if (!this.testBit(this.blkdAt, slot)) {
        // rcu_preempt_ctxt_queue(): a preempted reader blocks the current
        // grace period if this CPU still owed it a quiescent state.
        this.setBit(this.blkdAt, slot);
        if (this.owesQs(c.id)) this.setBit(this.gpTasksAt, slot);
      }
    }
    ended = this.quiescentLocked(c.id) || ended;
    this.lock.unlock(c.id);
    if (ended) this.raiseReadyCallbacks();
  }

  /** See rcuSchedClockIrq. */
  schedClockIrq(c: CpuState): void {
    if (this.owesQs(c.id)) {
      const interrupted = c.preemptCount - HARDIRQ_OFFSET;
      if (
        c.isIdle ||
        ((interrupted & (PREEMPT_MASK | SOFTIRQ_MASK)) === 0 && c.curr.rcuReadLockNesting === 0)
      ) {
        this.lock.lock(c.id);
        const ended = this.quiescentLocked(c.id);
        this.lock.unlock(c.id);
        if (ended) this.raiseReadyCallbacks();
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
    const seq = Atomics.load(this.words, this.seqAt);
    let k = 0;
    while (k < list.length && list[k].gp <= seq) k++;
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

  /** rcu_seq_done() for the first callback of CPU `cpu`. */
  private hasReadyCallbacks(cpu: number): boolean {
    const list = this.callbacks[cpu];
    return list.length > 0 && list[0].gp <= Atomics.load(this.words, this.seqAt);
  }

  /** After a grace period ended: every CPU with callbacks now ready raises RCU_SOFTIRQ. */
  private raiseReadyCallbacks(): void {
    for (const c of this.m.cpus) {
      if (this.hasReadyCallbacks(c.id)) c.softirqPending |= 1 << RCU_SOFTIRQ;
    }
  }

  private slotOf(task: Task): number {
    return (task.addr - this.slotsBase) / taskStruct.size;
  }

  private testBit(at: number, bit: number): boolean {
    return (Atomics.load(this.words, at + (bit >> 5)) & (1 << (bit & 31))) !== 0;
  }

  /** Sets a bit of a bitmap in rcu_state; caller holds `lock`. */
  private setBit(at: number, bit: number): void {
    this.words[at + (bit >> 5)] |= 1 << (bit & 31);
  }

  /** Clears a bit and says whether it was set; caller holds `lock`. */
  private clearBit(at: number, bit: number): boolean {
    const i = at + (bit >> 5);
    const mask = 1 << (bit & 31);
    const was = (this.words[i] & mask) !== 0;
    this.words[i] &= ~mask;
    return was;
  }

  /**
   * rcu_gp_init(), caller holds `lock`: every CPU owes a quiescent state,
   * except idle ones (dynticks-idle); the CPU starting it is never taken for
   * idle, as it may be in an interrupt handler inside a read section.
   * Readers preempted before the start are in sections older than it.
   */
  private startGpLocked(): void {
    const w = this.words;
    w[this.seqAt] += 1; // rcu_seq_start()
    this.m.memory.write64(this.startAddr, BigInt(this.m.now()));
    for (let k = 0; k < QS_WORDS; k++) w[this.qsAt + k] = 0;
    for (const c of this.m.cpus) {
      if (!c.isIdle || c === this.m.current) w[this.qsAt + (c.id >> 5)] |= 1 << (c.id & 31);
    }
    for (let k = 0; k < this.slotWords; k++) w[this.gpTasksAt + k] = w[this.blkdAt + k];
  }

  /** rcu_qs() + rcu_report_qs_rdp(), caller holds `lock`: CPU `cpu` passed a quiescent state. */
  private quiescentLocked(cpu: number): boolean {
    return this.clearBit(this.qsAt, cpu) && this.maybeEndGpLocked();
  }

  /** Caller holds `lock`: blocked reader `task` left its section and holds no grace period. */
  private unblockLocked(task: Task): boolean {
    const slot = this.slotOf(task);
    if (!this.clearBit(this.blkdAt, slot)) return false;
    return this.clearBit(this.gpTasksAt, slot) && this.maybeEndGpLocked();
  }

  /**
   * rcu_gp_cleanup(), caller holds `lock`: ends the grace period if nothing
   * holds it, and starts the next one if a callback needs it. True when one ended.
   */
  private maybeEndGpLocked(): boolean {
    const w = this.words;
    let ended = false;
    while ((w[this.seqAt] & SEQ_STATE_MASK) !== 0 && !this.held()) {
      w[this.seqAt] = (w[this.seqAt] | SEQ_STATE_MASK) + 1; // rcu_seq_end()
      ended = true;
      if (w[this.neededAt] <= w[this.seqAt]) break;
      this.startGpLocked();
    }
    return ended;
  }

  /** Some CPU or blocked reader still holds the grace period in progress. */
  private held(): boolean {
    const w = this.words;
    for (let k = 0; k < QS_WORDS; k++) if (w[this.qsAt + k] !== 0) return true;
    for (let k = 0; k < this.slotWords; k++) if (w[this.gpTasksAt + k] !== 0) return true;
    return false;
  }
}
