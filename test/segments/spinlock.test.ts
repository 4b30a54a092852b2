import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../../segments/memory.ts';
import {
  spinHolderAt,
  spinlockStats,
  spinlockType,
  spinTryLockAt,
  spinUnlockAt,
} from '../../segments/spinlock.ts';

describe('spinlock statistics', () => {
  const setup = () => {
    const memory = new PhysicalMemory(1 << 16);
    return { memory, words: new Int32Array(memory.buffer) };
  };

  it('is a raw spinlock and two u32 counters: 16 bytes', () => {
    expect(spinlockType.size).toBe(16);
    expect(spinlockType.field('acquisitions').offset).toBe(8);
  });

  it('counts each acquisition and each failed test-and-set', () => {
    const { memory, words } = setup();
    expect(spinTryLockAt(words, 0x2000, 0)).toBe(true);
    expect(spinHolderAt(words, 0x2000)).toBe(0);
    expect(spinTryLockAt(words, 0x2000, 1)).toBe(false);
    expect(spinTryLockAt(words, 0x2000, 1)).toBe(false);
    spinUnlockAt(words, 0x2000, 0);
    expect(spinHolderAt(words, 0x2000)).toBe(-1);
    expect(spinTryLockAt(words, 0x2000, 1)).toBe(true);
    expect(spinlockStats(memory, 0x2000)).toEqual({ acquisitions: 2, spins: 2 });
  });

  it('refuses an unlock by a CPU that does not hold it (EPERM)', () => {
    const { words } = setup();
    spinTryLockAt(words, 0x2000, 0);
    expect(() => spinUnlockAt(words, 0x2000, 1)).toThrow(/^EPERM: spinlock wrong CPU on CPU#1/);
    spinUnlockAt(words, 0x2000, 0);
    expect(() => spinUnlockAt(words, 0x2000, 0)).toThrow(/^EPERM: spinlock already unlocked/);
  });
});
