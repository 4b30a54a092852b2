/**
 * spinlock_t with lock statistics: a raw spinlock followed by the two
 * counters the lab graders (and anyone studying contention) read, the ones
 * xv6's kalloctest prints per lock and CONFIG_LOCK_STAT keeps per lock class:
 *
 *     struct spinlock {                 // 16 bytes, 4-aligned
 *       struct raw_spinlock rlock;      // locked, owner_cpu
 *       u32 acquisitions;               // times the lock was taken
 *       u32 spins;                      // failed test-and-set attempts (xv6's #test-and-set)
 *     };
 *
 * The counters live beside the lock in emulated memory and are bumped with
 * `Atomics.add`, so the deterministic engine and the parallel runner's
 * worker threads count into the same place. A zeroed spinlock is unlocked
 * (owner 0 is only a hint while unlocked), so a lock in `.data` or in a
 * per-CPU variable needs no init.
 *
 * Guest programs take one with the `spin_lock` / `spin_unlock` kfuncs
 * (preempt/guest-interface.ts): a failed attempt re-executes the call, so a
 * waiting CPU spins instruction by instruction as arch_spin_lock's loop does.
 *
 * @example
 * const words = new Int32Array(memory.buffer);
 * if (spinTryLockAt(words, lock, cpu)) spinUnlockAt(words, lock, cpu);
 * spinlockStats(memory, lock); // { acquisitions: 1, spins: 0 }
 */

import { struct, u32 } from './ctype.ts';
import type { PhysicalMemory } from './memory.ts';
import { RawSpinlock, rawSpinlockType } from './raw-spinlock.ts';

/** The in-memory layout of a spinlock with statistics. */
export const spinlockType = struct('spinlock', [
  ['rlock', rawSpinlockType],
  ['acquisitions', u32],
  ['spins', u32],
]);
const SPINLOCK_W = spinlockType.word;

/** What a spinlock has counted since it was zeroed. */
export interface SpinlockStats {
  readonly acquisitions: number;
  readonly spins: number;
}

/**
 * One test-and-set of the spinlock at `addr` (4-aligned) by CPU `cpu`:
 * true when it took the lock (an acquisition counted), false when another
 * CPU holds it (a spin counted). No check of `addr`.
 *
 * @example
 * while (!spinTryLockAt(words, lock, 1)) {} // what a CPU waiting for it does
 */
export function spinTryLockAt(words: Int32Array, addr: number, cpu: number): boolean {
  const at = addr >> 2;
  if (RawSpinlock.tryLockAt(words, addr, cpu)) {
    Atomics.add(words, at + SPINLOCK_W.acquisitions, 1);
    return true;
  }
  Atomics.add(words, at + SPINLOCK_W.spins, 1);
  return false;
}

/**
 * Releases the spinlock at `addr` held by CPU `cpu`: EPERM when it is not
 * held, or held by another CPU (raw_spin_unlock's checks).
 *
 * @example
 * spinUnlockAt(words, lock, 1);
 */
export function spinUnlockAt(words: Int32Array, addr: number, cpu: number): void {
  RawSpinlock.unlockAt(words, addr, cpu, true);
}

/**
 * The CPU holding the spinlock at `addr`, or -1 when it is free.
 *
 * @example
 * spinHolderAt(words, lock); // -1
 */
export function spinHolderAt(words: Int32Array, addr: number): number {
  const at = addr >> 2;
  return Atomics.load(words, at) === 0 ? -1 : Atomics.load(words, at + 1);
}

/**
 * The statistics of the spinlock at `addr`, read from memory.
 *
 * @example
 * const { acquisitions, spins } = spinlockStats(k.memory, k.symbol('kmem_lock'));
 */
export function spinlockStats(memory: PhysicalMemory, addr: number): SpinlockStats {
  memory.check(addr, spinlockType.size, 'read');
  return {
    acquisitions: memory.read32(addr + 4 * SPINLOCK_W.acquisitions),
    spins: memory.read32(addr + 4 * SPINLOCK_W.spins),
  };
}
