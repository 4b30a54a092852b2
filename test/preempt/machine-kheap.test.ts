import { describe, expect, it } from 'vitest';
import { Machine } from '../../preempt/machine.ts';
import type { TaskBody } from '../../preempt/task.ts';
import { kmallocHeapType } from '../../segments/kmalloc.ts';
import { RawSpinlock } from '../../segments/raw-spinlock.ts';
import { kmemCacheType } from '../../segments/slab.ts';
import { run } from './machine-fixtures.ts';

describe('the machine kernel heap (m.kheap)', () => {
  it("boots a 'kmalloc heap' region of kmallocHeap bytes, 4 MiB by default", () => {
    const b = new Machine({ cpus: 2 });
    expect('kheap' in b).toBe(false); // the builder has none: only the booted kernel does
    const m = b.boot();
    expect(m.map.regions().find((r) => r.name === 'kmalloc heap')?.size).toBe(4 << 20);
    expect(m.kheap.regionSize).toBe(4 << 20);
    const small = new Machine({ cpus: 1, kmallocHeap: 256 << 10 }).boot();
    expect(small.kheap.regionSize).toBe(256 << 10);
    expect(() => new Machine({ kmallocHeap: 1000 }).boot()).toThrow(
      'EINVAL: kmalloc heap size 1000 is not a positive multiple of 4096',
    );
  });

  it('takes its locks as the CPU running the caller', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const lock = new RawSpinlock(
      m.memory,
      m.kheap.stateAddr + kmallocHeapType.field('caches').offset + 5 * kmemCacheType.size,
    );
    const seen: string[] = [];
    let ptr = 0;
    m.spawn({
      comm: 'kmalloc',
      cpu: 1,
      allowed: [1],
      *body(): TaskBody {
        yield;
        lock.lock(0);
        try {
          m.kheap.kmalloc(128);
        } catch (e) {
          seen.push(String(e));
        }
        lock.unlock(0);
        ptr = m.kheap.kmalloc(128);
        return 0;
      },
    });
    run(m);
    expect(seen).toEqual([
      `ErrnoError: EBUSY: spinlock lockup on CPU#1: lock at 0x${lock.addr.toString(16)} is held by CPU#0`,
    ]);
    expect(m.kheap.ksize(ptr)).toBe(128);
  });
});
