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
    return Array.from({ length: n }, (_, k) =>
      this.memory.read32(this.addr + RQ_OFF.queue + 4 * k),
    );
  }

  enqueue(pid: number): void {
    const n = this.length;
    if (n >= RQ_CAPACITY) {
      throw new ErrnoError('EAGAIN', `run queue of CPU ${this.cpu} is full (${RQ_CAPACITY} tasks)`);
    }
    this.memory.write32(this.addr + RQ_OFF.queue + 4 * n, pid);
    this.memory.write32(this.addr + RQ_OFF.nr_running, n + 1);
  }

  /** Removes `pid`; returns false when it was not queued. */
  remove(pid: number): boolean {
    const list = this.pids();
    const at = list.indexOf(pid);
    if (at < 0) return false;
    list.splice(at, 1);
    this.write(list);
    return true;
  }

  /** Dequeues and returns the first pid, or -1 when empty. */
  pickNext(): number {
    const list = this.pids();
    const pid = list.shift();
    if (pid === undefined) return -1;
    this.write(list);
    return pid;
  }

  private write(list: readonly number[]): void {
    list.forEach((pid, k) => {
      this.memory.write32(this.addr + RQ_OFF.queue + 4 * k, pid);
    });
    this.memory.write32(this.addr + RQ_OFF.nr_running, list.length);
  }
}
