import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressMap } from '../../segments/address-map.ts';
import { ErrnoError } from '../../segments/errno.ts';
import {
  KernelHeap,
  type KernelHeapOptions,
  KMALLOC_MAX_SIZE,
  kmallocHeapType,
  ZERO_SIZE_PTR,
} from '../../segments/kmalloc.ts';
import { PAGE_SIZE, PhysicalMemory } from '../../segments/memory.ts';
import { zoneType } from '../../segments/page-alloc.ts';
import { RawSpinlock } from '../../segments/raw-spinlock.ts';
import { KMALLOC_SIZES, kmemCacheType } from '../../segments/slab.ts';

function heapOf(size = 1 << 20, opts: KernelHeapOptions = {}, memorySize = 16 << 20) {
  const memory = new PhysicalMemory(memorySize);
  const map = new AddressMap(memory.size);
  const heap = KernelHeap.create(memory, map, size, opts);
  return { memory, map, heap };
}

const cache = (heap: KernelHeap, name: string) => {
  const c = heap.stats().caches.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no cache ${name}`);
  return c;
};

/** The ErrnoError `fn` throws. */
function errnoOf(fn: () => unknown): ErrnoError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ErrnoError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

const hex = (n: number) => `0x${n.toString(16)}`;

describe('KernelHeap.create and attach', () => {
  it("reserves the 'kmalloc heap' region and puts the page area after its metadata", () => {
    const { map, heap } = heapOf(1 << 20);
    const region = map.regions().find((r) => r.name === 'kmalloc heap');
    expect(region).toEqual({ name: 'kmalloc heap', start: heap.stateAddr, size: 1 << 20 });
    expect(heap.pagesStart % PAGE_SIZE).toBe(0);
    expect(heap.pagesStart).toBeGreaterThan(heap.stateAddr + kmallocHeapType.size);
    expect(heap.pagesEnd).toBeLessThanOrEqual(heap.stateAddr + (1 << 20));
    const s = heap.stats();
    // 256 pages less about 2.3% of metadata.
    expect(s.totalPages).toBe((heap.pagesEnd - heap.pagesStart) / PAGE_SIZE);
    expect(s.totalPages).toBeGreaterThanOrEqual(248);
    expect(s).toMatchObject({ objects: 0, bytesInUse: 0, pagesInUse: 0, freePages: s.totalPages });
    expect(s.buddyinfo.reduce((n, k, o) => n + (k << o), 0)).toBe(s.totalPages);
  });

  it('refuses a size that is not a positive multiple of the page size, or leaves no page', () => {
    for (const size of [0, -PAGE_SIZE, 5000, 1.5, Number.NaN]) {
      expect(() => heapOf(size)).toThrow(`EINVAL: kmalloc heap size ${size} is not a positive`);
    }
    expect(() => heapOf(PAGE_SIZE)).toThrow(
      `EINVAL: kmalloc heap size ${PAGE_SIZE} leaves no page after its metadata`,
    );
    expect(heapOf(2 * PAGE_SIZE).heap.stats().totalPages).toBe(1);
  });

  it('attach makes a second handle on the same heap in memory', () => {
    const { memory, heap } = heapOf();
    const other = KernelHeap.attach(memory, heap.stateAddr, { currentCpu: () => 1 });
    const p = heap.kmalloc(40);
    const q = other.kmalloc(9000);
    expect(other.ksize(p)).toBe(64);
    other.kfree(p);
    heap.kfree(q);
    expect(heap.stats()).toEqual(other.stats());
    expect(heap.stats().objects).toBe(0);
    expect(() => KernelHeap.attach(memory, heap.stateAddr + 8)).toThrow(
      `EINVAL: no kmalloc heap at ${hex(heap.stateAddr + 8)}`,
    );
  });
});

describe('kmalloc size classes', () => {
  it('serves each size from the smallest cache that holds it, above 8 KiB from pages', () => {
    const { heap } = heapOf(4 << 20);
    const cases: [number, number][] = [
      [1, 8],
      [8, 8],
      [9, 16],
      [17, 32],
      [33, 64],
      [65, 96],
      [96, 96],
      [97, 128],
      [129, 192],
      [193, 256],
      [257, 512],
      [513, 1024],
      [1025, 2048],
      [2049, 4096],
      [4097, 8192],
      [8192, 8192],
      [8193, 16384],
      [12288, 16384],
      [16385, 32768],
      [100_000, 131072],
    ];
    for (const [size, usable] of cases)
      expect([size, heap.ksize(heap.kmalloc(size))]).toEqual([size, usable]);
    const s = heap.stats();
    expect(s.largeObjects).toBe(4);
    expect(s.largePages).toBe((16384 * 2 + 32768 + 131072) / PAGE_SIZE);
    expect(s.objects).toBe(cases.length);
    expect(s.bytesInUse).toBe(cases.reduce((n, [, u]) => n + u, 0));
  });

  it('has the kmalloc caches with SLUB-like slab orders', () => {
    const { heap } = heapOf();
    const caches = heap.stats().caches;
    expect(caches.map((c) => c.name)).toEqual([
      'kmalloc-8',
      'kmalloc-16',
      'kmalloc-32',
      'kmalloc-64',
      'kmalloc-96',
      'kmalloc-128',
      'kmalloc-192',
      'kmalloc-256',
      'kmalloc-512',
      'kmalloc-1k',
      'kmalloc-2k',
      'kmalloc-4k',
      'kmalloc-8k',
    ]);
    expect(caches.map((c) => c.size)).toEqual(KMALLOC_SIZES);
    expect(caches.map((c) => c.order)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 3]);
    expect(caches.map((c) => c.objsPerSlab)).toEqual([
      512, 256, 128, 64, 42, 32, 21, 16, 16, 16, 16, 8, 4,
    ]);
  });

  it('aligns power-of-two sizes naturally, kmalloc-96 to 32, kmalloc-192 to 64, large blocks to their size', () => {
    const { heap } = heapOf(4 << 20);
    for (const size of [...KMALLOC_SIZES, 16384, 65536, 1 << 20]) {
      const align = size & -size;
      for (let k = 0; k < 5; k++) {
        const p = heap.kmalloc(size);
        expect(p % align, `kmalloc(${size}) = ${hex(p)}`).toBe(0);
      }
    }
  });

  it('returns ZERO_SIZE_PTR for 0, which kfree and ksize accept and which faults', () => {
    const { memory, heap } = heapOf();
    expect(heap.kmalloc(0)).toBe(ZERO_SIZE_PTR);
    expect(heap.kzalloc(0)).toBe(ZERO_SIZE_PTR);
    expect(heap.ksize(ZERO_SIZE_PTR)).toBe(0);
    expect(heap.ksize(0)).toBe(0);
    heap.kfree(ZERO_SIZE_PTR);
    heap.kfree(0);
    expect(() => memory.read8(ZERO_SIZE_PTR)).toThrow('EFAULT');
    expect(heap.stats().objects).toBe(0);
  });

  it('throws EINVAL for a size that is not a non-negative integer', () => {
    const { heap } = heapOf();
    for (const size of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => heap.kmalloc(size)).toThrow(
        `EINVAL: kmalloc size ${size} is not a non-negative integer`,
      );
    }
  });

  it('returns 0 above KMALLOC_MAX_SIZE, and above what the region holds', () => {
    const { heap } = heapOf(1 << 20);
    expect(heap.kmalloc(KMALLOC_MAX_SIZE + 1)).toBe(0);
    expect(heap.kmalloc(1 << 20)).toBe(0);
    expect(heap.stats().pagesInUse).toBe(0);
    const big = heapOf(12 << 20, {}, 32 << 20).heap;
    const p = big.kmalloc(KMALLOC_MAX_SIZE);
    expect(big.ksize(p)).toBe(KMALLOC_MAX_SIZE);
    expect(p % KMALLOC_MAX_SIZE).toBe(0);
  });
});

describe('kzalloc and reuse', () => {
  it('reuses the object freed last (LIFO freelist) and zeroes it only when asked', () => {
    const { memory, heap } = heapOf();
    const a = heap.kmalloc(64);
    memory.fill(a, 64, 0xff);
    heap.kfree(a);
    expect(heap.kmalloc(60)).toBe(a);
    // Not zeroed: only the first word (the free pointer) changed.
    expect([...memory.readBytes(a + 4, 60)].every((b) => b === 0xff)).toBe(true);
    memory.fill(a, 64, 0xff);
    heap.kfree(a);
    expect(heap.kzalloc(33)).toBe(a);
    expect([...memory.readBytes(a, 64)].every((b) => b === 0)).toBe(true);
    memory.fill(a, 64, 0xff);
    heap.kfree(a);
    expect(heap.kmalloc(64, { zero: true })).toBe(a);
    expect([...memory.readBytes(a, 64)].every((b) => b === 0)).toBe(true);
  });

  it('zeroes a whole large block', () => {
    const { memory, heap } = heapOf();
    const a = heap.kmalloc(9000);
    memory.fill(a, 16384, 0xa5);
    heap.kfree(a);
    expect(heap.kzalloc(9000)).toBe(a);
    expect([...memory.readBytes(a, 16384)].every((b) => b === 0)).toBe(true);
  });
});

describe('slabs and pages', () => {
  it('keeps one empty slab per cache, gives others back, and shrink() releases it', () => {
    const { heap } = heapOf();
    const objs = Array.from({ length: 32 }, () => heap.kmalloc(2048));
    expect(cache(heap, 'kmalloc-2k')).toMatchObject({
      numSlabs: 2,
      activeObjs: 32,
      partialSlabs: 0,
    });
    expect(heap.stats().slabPages).toBe(16);
    for (const p of objs) heap.kfree(p);
    expect(cache(heap, 'kmalloc-2k')).toMatchObject({
      numSlabs: 1,
      activeObjs: 0,
      partialSlabs: 1,
      emptySlabs: 1,
    });
    expect(heap.stats()).toMatchObject({ slabPages: 8, objects: 0, bytesInUse: 0 });
    expect(heap.shrink()).toBe(8);
    expect(heap.shrink()).toBe(0);
    const s = heap.stats();
    expect(s).toMatchObject({ slabPages: 0, pagesInUse: 0, freePages: s.totalPages });
    expect(cache(heap, 'kmalloc-2k')).toMatchObject({
      numSlabs: 0,
      partialSlabs: 0,
      emptySlabs: 0,
    });
  });

  it('fills partial slabs before the empty one it keeps', () => {
    const { heap } = heapOf();
    const first = Array.from({ length: 16 }, () => heap.kmalloc(1024));
    const second = Array.from({ length: 16 }, () => heap.kmalloc(1024));
    for (const p of second) heap.kfree(p);
    heap.kfree(first[5]);
    expect(cache(heap, 'kmalloc-1k')).toMatchObject({
      numSlabs: 2,
      partialSlabs: 2,
      emptySlabs: 1,
    });
    expect(heap.kmalloc(1000)).toBe(first[5]);
    expect(heap.kmalloc(1000)).toBe(second[15]);
    expect(cache(heap, 'kmalloc-1k')).toMatchObject({ emptySlabs: 0, activeObjs: 17 });
  });

  it('merges freed blocks back into the blocks the heap started with', () => {
    const { heap } = heapOf();
    const before = heap.stats().buddyinfo;
    const ptrs = [1, 20000, 300, 70000, 5000, 8, 40000, 2048].map((n) => heap.kmalloc(n));
    expect(heap.stats().buddyinfo).not.toEqual(before);
    for (const p of ptrs.reverse()) heap.kfree(p);
    heap.shrink();
    expect(heap.stats().buddyinfo).toEqual(before);
  });

  it('returns 0 when memory runs out, and succeeds again once something is freed', () => {
    const { heap } = heapOf(256 << 10);
    const blocks: number[] = [];
    for (let p = heap.kmalloc(16384); p !== 0; p = heap.kmalloc(16384)) blocks.push(p);
    const small: number[] = [];
    for (let p = heap.kmalloc(256); p !== 0; p = heap.kmalloc(256)) small.push(p);
    expect(heap.stats().freePages).toBe(0);
    expect(heap.kmalloc(8)).toBe(0);
    expect(heap.kmalloc(9000)).toBe(0);
    heap.kfree(blocks[0]);
    expect(heap.kmalloc(8)).not.toBe(0);
    expect(heap.kmalloc(9000)).toBe(0);
    heap.kfree(small.pop()!);
    expect(heap.kmalloc(200)).not.toBe(0);
  });

  it("reclaims the caches' empty slabs when the page allocator has no block", () => {
    const { heap } = heapOf(256 << 10);
    const objs = Array.from({ length: 16 }, () => heap.kmalloc(2048));
    const slab = Math.min(...objs);
    for (const p of objs) heap.kfree(p);
    const blocks = [heap.kmalloc(8 * PAGE_SIZE)];
    expect(heap.stats().slabPages).toBe(8);
    for (let p = heap.kmalloc(8 * PAGE_SIZE); p !== 0; p = heap.kmalloc(8 * PAGE_SIZE))
      blocks.push(p);
    expect(blocks).toContain(slab);
    expect(heap.stats()).toMatchObject({ slabPages: 0, largeObjects: blocks.length });
  });
});

describe('kfree and ksize of what is not a live object', () => {
  it('names the address and what is there, and changes nothing', () => {
    const { heap } = heapOf();
    const a = heap.kmalloc(64);
    const b = heap.kmalloc(100);
    const big = heap.kmalloc(20000);
    const odd = heap.kmalloc(96);
    heap.kfree(a);
    const freed = heap.kmalloc(10000);
    heap.kfree(freed);
    const before = heap.stats();
    const regionEnd = heap.stateAddr + heap.regionSize;
    const base96 = odd - (odd % PAGE_SIZE);
    const cases: [number, string][] = [
      [
        a,
        `kfree of ${hex(a)}: the kmalloc-64 object there is free (a double free, or a pointer kmalloc did not return)`,
      ],
      [b + 8, `kfree of ${hex(b + 8)}: 8 bytes into the kmalloc-128 object at ${hex(b)}`],
      [
        big + PAGE_SIZE + 16,
        `kfree of ${hex(big + PAGE_SIZE + 16)}: ${PAGE_SIZE + 16} bytes into the 32768-byte allocation at ${hex(big)}`,
      ],
      [
        base96 + 42 * 96,
        `kfree of ${hex(base96 + 42 * 96)}: in the unused tail of the kmalloc-96 slab at ${hex(base96)}`,
      ],
      [heap.stateAddr + 64, `kfree of ${hex(heap.stateAddr + 64)}: in the kmalloc heap's metadata`],
      [
        freed + PAGE_SIZE,
        `kfree of ${hex(freed + PAGE_SIZE)}: the page at ${hex(freed + PAGE_SIZE)} is free`,
      ],
      [
        regionEnd,
        `kfree of ${hex(regionEnd)}: not in the kmalloc heap [${hex(heap.stateAddr)}, ${hex(regionEnd)})`,
      ],
      [b + 0.5, `kfree of ${b + 0.5}: not in the kmalloc heap`],
      [-8, 'kfree of -8: not in the kmalloc heap'],
    ];
    for (const [addr, message] of cases) {
      const e = errnoOf(() => heap.kfree(addr));
      expect(e.errno).toBe('EINVAL');
      expect(e.message).toContain(message);
    }
    expect(heap.stats()).toEqual(before);
  });

  it('catches a double free of a large allocation and of an object whose slab went back', () => {
    const { heap } = heapOf();
    const big = heap.kmalloc(50000);
    heap.kfree(big);
    expect(() => heap.kfree(big)).toThrow(
      `EINVAL: kfree of ${hex(big)}: the page at ${hex(big)} is free`,
    );
    heap.kfree(heap.kmalloc(512)); // a kept empty kmalloc-512 slab
    const objs = Array.from({ length: 17 }, () => heap.kmalloc(512));
    for (const p of objs) heap.kfree(p);
    expect(cache(heap, 'kmalloc-512').numSlabs).toBe(1);
    // The first sixteen filled the kept slab, which stays; the last one's slab went back.
    expect(() => heap.kfree(objs[0])).toThrow('the kmalloc-512 object there is free');
    expect(() => heap.kfree(objs[16])).toThrow(
      `EINVAL: kfree of ${hex(objs[16])}: the page at ${hex(objs[16])} is free`,
    );
  });

  it('ksize refuses the same addresses', () => {
    const { heap } = heapOf();
    const a = heap.kmalloc(8);
    expect(() => heap.ksize(a + 4)).toThrow(
      `EINVAL: ksize of ${hex(a + 4)}: 4 bytes into the kmalloc-8 object at ${hex(a)}`,
    );
    heap.kfree(a);
    expect(() => heap.ksize(a)).toThrow(
      `EINVAL: ksize of ${hex(a)}: the kmalloc-8 object there is free`,
    );
  });
});

describe('state in memory', () => {
  it('refuses a corrupted free pointer with EFAULT instead of handing out memory twice', () => {
    const { memory, heap } = heapOf();
    const a = heap.kmalloc(64);
    const b = heap.kmalloc(64);
    const c = heap.kmalloc(64);
    heap.kfree(b);
    heap.kfree(a);
    memory.write32(a, c); // a use after free: the free pointer now names a live object
    expect(() => heap.kmalloc(64)).toThrow(
      `EFAULT: kmalloc-64: freelist corrupted in the slab at ${hex(a - (a % PAGE_SIZE))}: the free object at ${hex(a)} points to ${hex(c)}, not a free object of the slab`,
    );
    // The list_lock was dropped: the cache still frees.
    heap.kfree(c);
    memory.write32(a, b);
    expect([heap.kmalloc(64), heap.kmalloc(64), heap.kmalloc(64)]).toEqual([c, a, b]);
  });

  it("takes the cache's list_lock and the zone lock in memory, as the calling CPU", () => {
    const { memory, heap } = heapOf(1 << 20, { currentCpu: () => 2 });
    const cachesAddr = heap.stateAddr + kmallocHeapType.field('caches').offset;
    const lock64 = new RawSpinlock(memory, cachesAddr + 3 * kmemCacheType.size);
    expect(lock64.locked).toBe(false);
    lock64.lock(1);
    expect(() => heap.kmalloc(64)).toThrow(
      `EBUSY: spinlock lockup on CPU#2: lock at ${hex(lock64.addr)} is held by CPU#1`,
    );
    const p = heap.kmalloc(8);
    expect(() => heap.kfree(p)).not.toThrow();
    lock64.unlock(1);
    heap.kfree(heap.kmalloc(64));
    const zoneLock = new RawSpinlock(
      memory,
      heap.stateAddr + kmallocHeapType.field('zone').offset + zoneType.field('lock').offset,
    );
    zoneLock.lock(0);
    expect(() => heap.kmalloc(9000)).toThrow('EBUSY: spinlock lockup on CPU#2');
    zoneLock.unlock(0);
    expect(heap.kmalloc(9000)).not.toBe(0);
  });
});

/**
 * The heap against a model: random sequences of kmalloc (1 B to 64 KiB,
 * zeroed or not), kfree, free-and-ask-again and shrink on a 512 KiB heap,
 * small enough to run out. The model keeps the live objects with the size
 * they asked for and a tag byte written over their whole usable size. After
 * every step:
 *
 *  - every live object lies in the page area, at the alignment of its usable
 *    size (the largest power of two dividing it), overlapping no other, and
 *    ksize gives the usable size the model expects;
 *  - a zeroed object is zero over its usable size when returned, and a freed
 *    object still holds its tag (nothing wrote into a live object);
 *  - kmalloc returns 0 only when no slab of its cache has a free object and
 *    no free block of the order it needs is left, after reclaim;
 *  - freed space is reused: freeing an object and asking for its size again
 *    succeeds and takes no new pages;
 *  - the statistics agree with the model (objects, bytes, large pages, each
 *    cache's active objects) and with themselves (slab + large + free pages
 *    is the page area, the buddy lists hold the free pages, at most one
 *    empty slab per cache).
 *
 * At the end everything is freed and the heap shrunk: every page is free, in
 * the blocks the heap started with.
 */
describe('kmalloc against a model', () => {
  interface Live {
    addr: number;
    size: number;
    usable: number;
    tag: number;
  }

  type Op =
    | { kind: 'alloc'; size: number; zero: boolean }
    | { kind: 'free'; pick: number }
    | { kind: 'reuse'; pick: number }
    | { kind: 'shrink' };

  const size = fc.oneof(
    fc.integer({ min: 1, max: 256 }),
    fc.integer({ min: 1, max: 8192 }),
    fc.integer({ min: 1, max: 64 << 10 }),
  );
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({ kind: fc.constant('alloc' as const), size, zero: fc.boolean() }),
    },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reuse' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'shrink' as const }) },
  );

  /** True when `len` bytes at `addr` all equal `value`. */
  const allBytes = (memory: PhysicalMemory, addr: number, len: number, value: number) => {
    const u8 = memory.u8;
    for (let k = addr; k < addr + len; k++) if (u8[k] !== value) return false;
    return true;
  };

  /** The usable size the kernel gives a request: its cache's size, or whole pages in a power of two. */
  const usableOf = (n: number) => {
    const cacheSize = KMALLOC_SIZES.find((s) => s >= n);
    if (cacheSize !== undefined) return cacheSize;
    let bytes = PAGE_SIZE;
    while (bytes < n) bytes *= 2;
    return bytes;
  };
  const orderOf = (usable: number) => (usable > 8192 ? Math.log2(usable / PAGE_SIZE) : undefined);

  function check(heap: KernelHeap, live: readonly Live[]): void {
    const sorted = [...live].sort((a, b) => a.addr - b.addr);
    const problems: string[] = [];
    for (const [k, l] of sorted.entries()) {
      const at = `${hex(l.addr)} (${l.usable} bytes)`;
      if (l.addr < heap.pagesStart || l.addr + l.usable > heap.pagesEnd) {
        problems.push(`${at} outside the page area`);
      }
      if (l.addr % (l.usable & -l.usable) !== 0) problems.push(`${at} misaligned`);
      const prev = sorted[k - 1];
      if (prev !== undefined && prev.addr + prev.usable > l.addr) {
        problems.push(`${at} overlaps ${hex(prev.addr)} (${prev.usable} bytes)`);
      }
      if (heap.ksize(l.addr) !== l.usable) problems.push(`${at} has ksize ${heap.ksize(l.addr)}`);
    }
    expect(problems).toEqual([]);
    const s = heap.stats();
    const large = live.filter((l) => l.usable > 8192);
    expect(s).toMatchObject({
      objects: live.length,
      bytesInUse: live.reduce((n, l) => n + l.usable, 0),
      largeObjects: large.length,
      largePages: large.reduce((n, l) => n + l.usable / PAGE_SIZE, 0),
      pagesInUse: s.slabPages + s.largePages,
      slabPages: s.caches.reduce((n, c) => n + (c.numSlabs << c.order), 0),
      totalPages: s.slabPages + s.largePages + s.freePages,
      freePages: s.buddyinfo.reduce((n, k, o) => n + (k << o), 0),
    });
    const active = new Map<number, number>();
    for (const l of live) active.set(l.usable, (active.get(l.usable) ?? 0) + 1);
    for (const c of s.caches) {
      const ok =
        c.activeObjs === (active.get(c.size) ?? 0) &&
        c.numObjs >= c.activeObjs &&
        c.emptySlabs <= 1 &&
        c.partialSlabs <= c.numSlabs;
      expect(ok, `${JSON.stringify(c)}, model active ${active.get(c.size) ?? 0}`).toBe(true);
    }
  }

  /** After kmalloc(n) returned 0: nothing could have served it, even after reclaim. */
  function checkFull(heap: KernelHeap, n: number): void {
    const s = heap.stats();
    const usable = usableOf(n);
    const c = s.caches.find((x) => x.size === usable);
    const order = c?.order ?? orderOf(usable)!;
    if (c !== undefined) expect(c.partialSlabs).toBe(0);
    expect(s.caches.every((x) => x.emptySlabs === 0)).toBe(true);
    expect(
      s.buddyinfo.slice(order).every((k) => k === 0),
      `order ${order} for ${n}`,
    ).toBe(true);
  }

  it('keeps objects apart, aligned, zeroed when asked and counted, and reuses freed space', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 150, size: 'max' }), (ops) => {
        const { memory, heap } = heapOf(512 << 10, {}, 4 << 20);
        const initial = heap.stats().buddyinfo;
        const live: Live[] = [];
        let nextTag = 0;
        const give = (n: number, zero: boolean): boolean => {
          const addr = zero ? heap.kmalloc(n, { zero: true }) : heap.kmalloc(n);
          if (addr === 0) {
            checkFull(heap, n);
            return false;
          }
          const usable = usableOf(n);
          if (zero) expect(allBytes(memory, addr, usable, 0)).toBe(true);
          const tag = (nextTag++ % 255) + 1;
          memory.fill(addr, usable, tag);
          live.push({ addr, size: n, usable, tag });
          return true;
        };
        const take = (pick: number): Live => {
          const [l] = live.splice(pick % live.length, 1);
          expect(allBytes(memory, l.addr, l.usable, l.tag), `${hex(l.addr)} was overwritten`).toBe(
            true,
          );
          heap.kfree(l.addr);
          return l;
        };
        for (const o of ops) {
          if (o.kind === 'alloc') give(o.size, o.zero);
          else if (o.kind === 'free' && live.length > 0) take(o.pick);
          else if (o.kind === 'reuse' && live.length > 0) {
            const before = heap.stats();
            const l = take(o.pick);
            expect(give(l.size, false), `kmalloc(${l.size}) after freeing one`).toBe(true);
            const after = heap.stats();
            if (l.usable > 8192) expect(after.pagesInUse).toBe(before.pagesInUse);
            else expect(after.slabPages).toBeLessThanOrEqual(before.slabPages);
          } else if (o.kind === 'shrink') {
            heap.shrink();
            expect(heap.stats().caches.every((c) => c.emptySlabs === 0)).toBe(true);
          }
          check(heap, live);
        }
        while (live.length > 0) take(live.length >> 1);
        check(heap, live);
        heap.shrink();
        const s = heap.stats();
        expect(s.freePages).toBe(s.totalPages);
        expect(s.buddyinfo).toEqual(initial);
      }),
      { numRuns: 40 },
    );
  });
});
