import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../../segments/memory.ts';
import { NO_OWNER, RawSpinlock } from '../../segments/raw-spinlock.ts';

describe('RawSpinlock.withLock', () => {
  it('holds the lock for CPU `cpu` while fn runs, and returns its value', () => {
    const lock = RawSpinlock.init(new PhysicalMemory(1 << 16), 0x2000);
    expect(lock.withLock(3, () => lock.holder)).toBe(3);
    expect(lock.holder).toBe(NO_OWNER);
  });

  it('releases the lock when fn throws', () => {
    const lock = RawSpinlock.init(new PhysicalMemory(1 << 16), 0x2000);
    expect(() =>
      lock.withLock(1, () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(lock.holder).toBe(NO_OWNER);
    expect(() => lock.withLock(1, () => lock.withLock(1, () => 0))).toThrow(/^EBUSY/);
  });
});
