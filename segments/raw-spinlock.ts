/**
 * A raw spinlock (the kernel's `raw_spinlock_t`) living in emulated memory:
 * one 32-bit lock word taken with `Atomics.compareExchange`, and beside it
 * the CPU that holds it (the `owner_cpu` that CONFIG_DEBUG_SPINLOCK keeps),
 * for reports and for catching misuse.
 *
 *     struct raw_spinlock { u32 locked; s32 owner_cpu; }   // 8 bytes, 4-aligned
 *
 * Every piece of shared kernel state (allocator metadata, run queues, map
 * buckets) is guarded by one of these, so any CPU, and later any worker
 * thread over the same SharedArrayBuffer, may take it.
 *
 * Contention. In the deterministic engine all CPUs run in one thread and a
 * helper or kernel function runs whole, so a lock is never seen held by
 * another CPU: finding it held means a recursion or a lock left held, and
 * spinning would hang the emulator. `lock` therefore throws EBUSY naming the
 * holder, like the kernel's `BUG: spinlock recursion`. A lock made with
 * `{ concurrent: true }` (the parallel runner's worker threads) spins instead.
 *
 * Interrupts and preemption are the caller's business, as with
 * `raw_spin_lock`: host-side kernel code runs whole in this emulator.
 *
 * @example
 * const lock = RawSpinlock.init(memory, addr);
 * lock.lock(0);
 * try { ... } finally { lock.unlock(0); }
 */

import { s32, struct, u32 } from './ctype.ts';
import { ErrnoError } from './errno.ts';
import type { PhysicalMemory } from './memory.ts';

/** The in-memory layout of a raw spinlock. */
export const rawSpinlockType = struct('raw_spinlock', [
  ['locked', u32],
  ['owner_cpu', s32],
]);
const RAW_SPINLOCK_W = rawSpinlockType.word;

/** `owner_cpu` of an unlocked lock (the kernel's SPINLOCK_OWNER_INIT uses -1 too). */
export const NO_OWNER = -1;

/** Set in a thread that shares the memory with others: every lock then spins when held. */
let threadsShareMemory = false;

/**
 * Declares that this thread shares the memory with other threads (the
 * parallel runner's CPU workers): every lock taken from this thread then
 * spins while another CPU holds it, as a `{ concurrent: true }` lock does,
 * whatever it was made with. A lock held by the taking CPU itself is still
 * a recursion (EBUSY) rather than a hang.
 *
 * @example
 * setThreadsShareMemory(true); // in a worker thread, before running a CPU
 */
export function setThreadsShareMemory(on: boolean): void {
  threadsShareMemory = on;
}

export interface RawSpinlockOptions {
  /** Spin when the lock is held (worker threads) instead of reporting a deadlock. */
  concurrent?: boolean;
}

export class RawSpinlock {
  private readonly words: Int32Array;
  private readonly at: number;
  private readonly concurrent: boolean;

  /** A handle on the lock word at `addr` (4-byte aligned), already initialised. */
  constructor(
    readonly memory: PhysicalMemory,
    readonly addr: number,
    opts: RawSpinlockOptions = {},
  ) {
    memory.check(addr, rawSpinlockType.size, 'write');
    if (addr % 4 !== 0) {
      throw new ErrnoError('EINVAL', `spinlock address 0x${addr.toString(16)} is not 4-aligned`);
    }
    this.words = new Int32Array(memory.buffer);
    this.at = addr >> 2;
    this.concurrent = opts.concurrent === true;
  }

  /**
   * `raw_spin_lock_init`: writes an unlocked lock at `addr` and returns a handle.
   *
   * @example
   * const lock = RawSpinlock.init(memory, 0x2000);
   * lock.holder; // -1
   */
  static init(memory: PhysicalMemory, addr: number, opts: RawSpinlockOptions = {}): RawSpinlock {
    const lock = new RawSpinlock(memory, addr, opts);
    Atomics.store(lock.words, lock.at + RAW_SPINLOCK_W.locked, 0);
    Atomics.store(lock.words, lock.at + RAW_SPINLOCK_W.owner_cpu, NO_OWNER);
    return lock;
  }

  /**
   * `raw_spin_trylock` on CPU `cpu`: takes the lock if it is free.
   *
   * @example
   * if (lock.tryLock(1)) lock.unlock(1);
   */
  tryLock(cpu: number): boolean {
    return RawSpinlock.tryLockAt(this.words, this.addr, cpu);
  }

  /**
   * `raw_spin_lock` on CPU `cpu`. Throws EBUSY when the lock is held and the
   * lock is not concurrent (a deadlock in the single-threaded engine).
   *
   * @example
   * lock.lock(0); // ... critical section ...; lock.unlock(0);
   */
  lock(cpu: number): void {
    RawSpinlock.lockAt(this.words, this.addr, cpu, this.concurrent);
  }

  /**
   * Runs `fn` with the lock held by CPU `cpu`, and releases it however `fn` ends.
   *
   * @example
   * lock.withLock(0, () => counter++);
   */
  withLock<T>(cpu: number, fn: () => T): T {
    this.lock(cpu);
    try {
      return fn();
    } finally {
      this.unlock(cpu);
    }
  }

  /**
   * `raw_spin_unlock` on CPU `cpu`: EPERM when the lock is not held, or held by another CPU.
   *
   * @example
   * lock.lock(2); lock.unlock(2);
   */
  unlock(cpu: number): void {
    RawSpinlock.unlockAt(this.words, this.addr, cpu, this.concurrent);
  }

  /**
   * `raw_spin_trylock` of the lock at `addr` (4-aligned, initialised)
   * through `words`, an Int32Array over the whole memory: for code with a
   * lock per bucket that keeps no handle per lock. No check of `addr`.
   *
   * @example
   * const words = new Int32Array(memory.buffer);
   * if (RawSpinlock.tryLockAt(words, bucket + 8, cpu)) RawSpinlock.unlockAt(words, bucket + 8, cpu);
   */
  static tryLockAt(words: Int32Array, addr: number, cpu: number): boolean {
    const at = addr >> 2;
    if (Atomics.compareExchange(words, at + RAW_SPINLOCK_W.locked, 0, 1) !== 0) return false;
    Atomics.store(words, at + RAW_SPINLOCK_W.owner_cpu, cpu);
    return true;
  }

  /**
   * `raw_spin_lock` of the lock at `addr` through `words`, as `lock`: EBUSY
   * when held, unless `concurrent` (then it spins).
   *
   * @example
   * RawSpinlock.lockAt(words, bucket + 8, cpu);
   */
  static lockAt(words: Int32Array, addr: number, cpu: number, concurrent = false): void {
    if (RawSpinlock.tryLockAt(words, addr, cpu)) return;
    const at = addr >> 2;
    const owner = Atomics.load(words, at + RAW_SPINLOCK_W.owner_cpu);
    if ((!concurrent && !threadsShareMemory) || owner === cpu) {
      throw new ErrnoError(
        'EBUSY',
        `spinlock ${owner === cpu ? 'recursion' : 'lockup'} on CPU#${cpu}: lock at 0x${addr.toString(16)} is held by CPU#${owner}`,
      );
    }
    while (!RawSpinlock.tryLockAt(words, addr, cpu)) {
      // Wait for the word to change rather than hammering it; 1 ms caps a missed wake.
      Atomics.wait(words, at + RAW_SPINLOCK_W.locked, 1, 1);
    }
  }

  /**
   * `raw_spin_unlock` of the lock at `addr` through `words`, as `unlock`:
   * EPERM when it is not held, or held by another CPU.
   *
   * @example
   * RawSpinlock.unlockAt(words, bucket + 8, cpu);
   */
  static unlockAt(words: Int32Array, addr: number, cpu: number, concurrent = false): void {
    const at = addr >> 2;
    const owner = Atomics.load(words, at + RAW_SPINLOCK_W.owner_cpu);
    if (Atomics.load(words, at + RAW_SPINLOCK_W.locked) === 0) {
      throw new ErrnoError(
        'EPERM',
        `spinlock already unlocked on CPU#${cpu}: lock at 0x${addr.toString(16)}`,
      );
    }
    if (owner !== cpu) {
      throw new ErrnoError(
        'EPERM',
        `spinlock wrong CPU on CPU#${cpu}: lock at 0x${addr.toString(16)} is held by CPU#${owner}`,
      );
    }
    Atomics.store(words, at + RAW_SPINLOCK_W.owner_cpu, NO_OWNER);
    Atomics.store(words, at + RAW_SPINLOCK_W.locked, 0);
    if (concurrent || threadsShareMemory) Atomics.notify(words, at + RAW_SPINLOCK_W.locked, 1);
  }

  /** True while some CPU holds the lock. */
  get locked(): boolean {
    return Atomics.load(this.words, this.at + RAW_SPINLOCK_W.locked) !== 0;
  }

  /** The CPU holding the lock, or -1. */
  get holder(): number {
    return Atomics.load(this.words, this.at + RAW_SPINLOCK_W.owner_cpu);
  }
}
