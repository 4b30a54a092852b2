/**
 * The per-CPU run queue, `runqueues` in each CPU's per-CPU unit as in the
 * kernel (DEFINE_PER_CPU_SHARED_ALIGNED(struct rq, runqueues)). It holds the
 * runnable tasks that are not running, in FIFO order, as pids; `curr` is the
 * running task's struct address (the idle task's when none). A simple
 * round-robin class stands in for CFS: it is all a race needs.
 *
 * Context: the caller holds the run queue's lock (the deterministic engine
 * runs one CPU at a time; the parallel mode takes rq->lock).
 *
 * @example
 * rq.enqueue(pid);
 * rq.pickNext(); // the pid that waited longest, or -1
 */

import { array, struct, u32, u64 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import type { SchedWatch } from './sched-watch.ts';

/** How many tasks one run queue can hold. */
export const RQ_CAPACITY = 64;

export const rqStruct = struct('rq', [
  ['lock', u32],
  ['nr_running', u32],
  ['curr', u64],
  ['nr_switches', u64],
  ['queue', array(u32, RQ_CAPACITY)],
]);
const RQ_OFF = rqStruct.off;

export class RunQueue {
  constructor(
    readonly memory: PhysicalMemory,
    /** Address of this CPU's struct rq. */
    readonly addr: number,
    readonly cpu: number,
    /** Told of every change of the queue (strategies decide again after one). */
    readonly watch: SchedWatch,
  ) {}

  /** Tasks waiting to run (the running one is not counted); at most RQ_CAPACITY. */
  get length(): number {
    return Math.min(this.memory.read32(this.addr + RQ_OFF.nr_running), RQ_CAPACITY);
  }

  /** What is wrong with the struct as memory holds it, or null (the scheduler checks before use). */
  corruption(): string | null {
    const n = this.memory.read32(this.addr + RQ_OFF.nr_running);
    return n > RQ_CAPACITY ? `nr_running ${n} exceeds its ${RQ_CAPACITY} slots` : null;
  }

  /** Replaces the waiting pids with `pids` (the scheduler's repair of a corrupted queue). */
  rewrite(pids: readonly number[]): void {
    this.write([...pids]);
  }

  get curr(): number {
    return Number(this.memory.read64(this.addr + RQ_OFF.curr));
  }
  set curr(taskAddr: number) {
    this.memory.write64(this.addr + RQ_OFF.curr, BigInt(taskAddr));
  }

  get nrSwitches(): bigint {
    return this.memory.read64(this.addr + RQ_OFF.nr_switches);
  }
  countSwitch(): void {
    this.memory.write64(this.addr + RQ_OFF.nr_switches, this.nrSwitches + 1n);
  }

  /** The waiting pids, first to run first. */
  pids(): number[] {
    const n = this.length;
    const out = new Array<number>(n);
    for (let k = 0; k < n; k++) out[k] = this.at(k);
    return out;
  }

  /** The k-th waiting pid (0 runs first); k < length. */
  at(k: number): number {
    return this.memory.read32(this.addr + RQ_OFF.queue + 4 * k);
  }

  /** The pid that runs next, or -1 when none waits. */
  head(): number {
    return this.length === 0 ? -1 : this.at(0);
  }

  enqueue(pid: number): void {
    const n = this.length;
    if (n >= RQ_CAPACITY) {
      throw new ErrnoError('EAGAIN', `run queue of CPU ${this.cpu} is full (${RQ_CAPACITY} tasks)`);
    }
    this.memory.write32(this.addr + RQ_OFF.queue + 4 * n, pid);
    this.memory.write32(this.addr + RQ_OFF.nr_running, n + 1);
    this.watch.changed();
  }

  /** Removes `pid`; returns false when it was not queued. */
  remove(pid: number): boolean {
    const n = this.length;
    for (let at = 0; at < n; at++) {
      if (this.at(at) !== pid) continue;
      this.close(at, n);
      return true;
    }
    return false;
  }

  /** Dequeues and returns the first pid, or -1 when empty. */
  pickNext(): number {
    const n = this.length;
    if (n === 0) return -1;
    const pid = this.at(0);
    this.close(0, n);
    return pid;
  }

  /** Shifts the pids after slot `at` down by one, of `n` queued. */
  private close(at: number, n: number): void {
    const q = this.addr + RQ_OFF.queue;
    for (let k = at; k < n - 1; k++) this.memory.write32(q + 4 * k, this.at(k + 1));
    this.memory.write32(this.addr + RQ_OFF.nr_running, n - 1);
    this.watch.changed();
  }

  private write(list: readonly number[]): void {
    list.forEach((pid, k) => {
      this.memory.write32(this.addr + RQ_OFF.queue + 4 * k, pid);
    });
    this.memory.write32(this.addr + RQ_OFF.nr_running, list.length);
    this.watch.changed();
  }
}
