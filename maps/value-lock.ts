/**
 * The `struct bpf_spin_lock` inside a map value (one u32), taken by updates
 * and lookups with BPF_F_LOCK so that a value is copied whole
 * (copy_map_value_locked). It is an Atomics lock on the word in emulated
 * memory, so worker threads can share it; within one thread a held lock can
 * only be one a program left held, which is reported rather than spun on.
 *
 * @example
 * withValueLock(memory, valueAddr + spinLockOff, cpu, () => copy());
 */

import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';

/** How long to spin before calling a held lock a deadlock. */
const SPIN_LIMIT = 1 << 24;

/** Runs `fn` with the bpf_spin_lock at `lockAddr` (4-aligned) held. */
export function withValueLock<T>(
  memory: PhysicalMemory,
  lockAddr: number,
  cpu: number,
  fn: () => T,
): T {
  if (lockAddr % 4 !== 0) {
    throw new ErrnoError('EINVAL', `bpf_spin_lock at 0x${lockAddr.toString(16)} is not 4-aligned`);
  }
  memory.check(lockAddr, 4, 'write');
  const words = new Int32Array(memory.buffer, lockAddr, 1);
  for (let spins = 0; Atomics.compareExchange(words, 0, 0, 1) !== 0; spins++) {
    if (spins === SPIN_LIMIT) {
      throw new ErrnoError(
        'EBUSY',
        `bpf_spin_lock at 0x${lockAddr.toString(16)} stays held (cpu ${cpu} would deadlock)`,
      );
    }
  }
  try {
    return fn();
  } finally {
    Atomics.store(words, 0, 0);
  }
}
