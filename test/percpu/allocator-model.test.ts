/**
 * The per-CPU allocator against a reference model: random sequences of
 * allocations (1 B to 32 KiB, alignments 1 to 4096, atomic or sleepable,
 * now and then reserved), frees and balance runs. The model keeps the live
 * allocations as a sorted interval list (CPU 0 addresses) and the counters
 * the kernel's percpu_stats should show. After every step:
 *
 *  - every live allocation is where the model says, sized as rounded, at its
 *    alignment on every CPU, overlapping no other;
 *  - a new allocation is zero on every CPU (the model writes junk into every
 *    allocation as soon as it has it, so stale bytes would show);
 *  - the global statistics equal the model's counters, and each chunk's
 *    (allocations, free bytes, fragments, smallest/median/largest allocation)
 *    equal what the model's intervals inside that chunk give;
 *  - a sleepable request fails only when the chunk region is full (it is not,
 *    here), an atomic or reserved one only with the kernel's message;
 *  - freed space is reused: freeing an allocation of 32 bytes or more and
 *    asking again for its size at alignment 4 creates no chunk, unless the
 *    free isolated the chunk for the balance worker.
 *
 * At the end everything is freed: every chunk is wholly free, and two runs of
 * the balance worker leave the first chunk and one spare.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PCPU_EMPTY_POP_PAGES_HIGH, PercpuAllocator } from '../../percpu/allocator.ts';
import { definePercpuCoreSymbols, setupPerCpuAreas } from '../../percpu/per-cpu-areas.ts';
import { type PercpuChunkStats, percpuStats } from '../../percpu/percpu-stats.ts';
import { AddressMap } from '../../segments/address-map.ts';
import { u64 } from '../../segments/ctype.ts';
import { linkAndLoad } from '../../segments/image-loader.ts';
import { Linker } from '../../segments/linker.ts';
import { PAGE_SIZE, PhysicalMemory } from '../../segments/memory.ts';

const CPUS = 3;

function boot() {
  const memory = new PhysicalMemory(32 << 20);
  const map = new AddressMap(memory.size);
  const linker = new Linker();
  definePercpuCoreSymbols(linker);
  linker.definePerCpu('counter', u64, 0n);
  const image = linkAndLoad(linker, memory, map);
  const areas = setupPerCpuAreas(memory, map, image, CPUS);
  const warnings: string[] = [];
  const pcpu = new PercpuAllocator({
    memory,
    map,
    areas,
    warn: (line) => warnings.push(line),
    chunkRegionSize: 16 << 20,
  });
  return { memory, areas, pcpu, warnings };
}

interface Live {
  ptr: number;
  /** CPU 0 address and rounded size. */
  addr: number;
  size: number;
  align: number;
}

type Op =
  | { kind: 'alloc'; size: number; alignShift: number; atomic: boolean; reserved: boolean }
  | { kind: 'free'; pick: number }
  | { kind: 'reuse'; pick: number }
  | { kind: 'balance' };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('alloc' as const),
      size: fc.oneof(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 1024 }),
        fc.integer({ min: 1, max: 32 << 10 }),
      ),
      alignShift: fc.integer({ min: 0, max: 12 }),
      atomic: fc.boolean(),
      reserved: fc.nat({ max: 6 }).map((n) => n === 0),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reuse' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'balance' as const }) },
);

class Model {
  readonly live: Live[] = [];
  nrAlloc = 0;
  nrDealloc = 0;
  nrMaxAlloc = 0;
  minAllocSize: number;
  maxAllocSize = 0;
  /** Largest allocation seen per chunk base, for chunks still alive. */
  readonly chunkMax = new Map<number, number>();

  constructor(
    readonly unitSize: number,
    /** pcpu_nr_populated at boot: the whole first chunk, static part included. */
    readonly firstChunkPages: number,
  ) {
    this.minAllocSize = unitSize;
  }

  add(l: Live, chunkBase: number): void {
    for (const o of this.live) {
      if (l.addr < o.addr + o.size && o.addr < l.addr + l.size) {
        throw new Error(`0x${l.addr.toString(16)}+${l.size} overlaps 0x${o.addr.toString(16)}`);
      }
    }
    this.live.push(l);
    this.nrAlloc++;
    this.nrMaxAlloc = Math.max(this.nrMaxAlloc, this.live.length);
    this.minAllocSize = Math.min(this.minAllocSize, l.size);
    this.maxAllocSize = Math.max(this.maxAllocSize, l.size);
    this.chunkMax.set(chunkBase, Math.max(this.chunkMax.get(chunkBase) ?? 0, l.size));
  }

  remove(index: number): Live {
    const [l] = this.live.splice(index, 1);
    this.nrDealloc++;
    return l;
  }

  /** The allocations inside a chunk's region, sorted by address. */
  inChunk(c: PercpuChunkStats): Live[] {
    const lo = c.base + c.startOffset;
    const hi = c.base + c.nrPages * PAGE_SIZE - c.endOffset;
    return this.live.filter((l) => l.addr >= lo && l.addr < hi).sort((x, y) => x.addr - y.addr);
  }
}

const regionOf = (c: PercpuChunkStats) => ({
  lo: c.base + c.startOffset,
  hi: c.base + c.nrPages * PAGE_SIZE - c.endOffset,
});

/**
 * Pages of a chunk holding live allocations or the bytes hidden before and
 * after its region: all must be populated, and all other populated pages
 * are empty.
 */
function touchedPages(model: Model, c: PercpuChunkStats): Set<number> {
  const pages = new Set<number>();
  const mark = (from: number, to: number) => {
    for (let p = Math.floor(from / PAGE_SIZE); p * PAGE_SIZE < to; p++) pages.add(p);
  };
  if (c.startOffset > 0) mark(0, c.startOffset);
  if (c.endOffset > 0) mark(c.nrPages * PAGE_SIZE - c.endOffset, c.nrPages * PAGE_SIZE);
  for (const l of model.inChunk(c)) mark(l.addr - c.base, l.addr - c.base + l.size);
  return pages;
}

/** chunk_map_stats computed from the model's intervals. */
function expectedChunk(model: Model, c: PercpuChunkStats) {
  const live = model.inChunk(c);
  const { lo, hi } = regionOf(c);
  let at = lo;
  let sumFrag = 0;
  let maxFrag = 0;
  let largestFree = 0;
  for (const l of live) {
    sumFrag += l.addr - at;
    maxFrag = Math.max(maxFrag, l.addr - at);
    at = l.addr + l.size;
  }
  largestFree = Math.max(maxFrag, hi - at);
  const sizes = live.map((l) => l.size).sort((x, y) => x - y);
  const used = sizes.reduce((a, b) => a + b, 0);
  return {
    nrAlloc: live.length,
    freeBytes: hi - lo - used,
    sumFrag,
    maxFrag,
    curMinAlloc: sizes[0] ?? 0,
    curMedAlloc: sizes.length ? sizes[Math.floor((sizes.length - 1) / 2)] : 0,
    curMaxAlloc: sizes.at(-1) ?? 0,
    largestFree,
    firstFree: live.length && live[0].addr === lo ? undefined : lo,
  };
}

function check(b: ReturnType<typeof boot>, model: Model): void {
  const s = percpuStats(b.pcpu);
  expect(s.global).toMatchObject({
    nrAlloc: model.nrAlloc,
    nrDealloc: model.nrDealloc,
    nrCurAlloc: model.live.length,
    nrMaxAlloc: model.nrMaxAlloc,
    minAllocSize: model.minAllocSize,
    maxAllocSize: model.maxAllocSize,
  });
  expect(s.global.nrChunks).toBe(s.chunks.filter((c) => c.kind !== 'reserved').length);
  const counted = s.chunks.filter((c) => c.kind === 'first' || c.kind === 'chunk');
  expect(s.global.emptyPopPages).toBe(counted.reduce((n, c) => n + c.emptyPopPages, 0));
  let placed = 0;
  for (const c of s.chunks) {
    const e = expectedChunk(model, c);
    placed += e.nrAlloc;
    expect(c).toMatchObject({
      nrAlloc: e.nrAlloc,
      freeBytes: e.freeBytes,
      sumFrag: e.sumFrag,
      maxFrag: e.maxFrag,
      curMinAlloc: e.curMinAlloc,
      curMedAlloc: e.curMedAlloc,
      curMaxAlloc: e.curMaxAlloc,
    });
    expect(c.contigBytes).toBeLessThanOrEqual(e.largestFree);
    if (e.firstFree !== undefined) {
      expect(c.firstBit * 4).toBeLessThanOrEqual(e.firstFree - c.base);
    }
    if (c.kind !== 'reserved' && c.kind !== 'first') {
      expect(c.maxAllocSize).toBe(model.chunkMax.get(c.base) ?? 0);
    }
  }
  expect(placed).toBe(model.live.length); // every allocation lies in some chunk
  let dynamicPopulated = 0;
  for (const c of s.chunks) {
    const touched = touchedPages(model, c);
    expect(touched.size).toBeLessThanOrEqual(c.nrPopulated);
    if (c.kind === 'first' || c.kind === 'reserved') {
      expect(c.nrPopulated).toBe(c.nrPages);
    } else {
      dynamicPopulated += c.nrPopulated;
    }
    expect(c.emptyPopPages).toBe(c.nrPopulated - touched.size);
  }
  expect(b.pcpu.nrPopulated).toBe(model.firstChunkPages + dynamicPopulated);
  for (const l of model.live) expect(b.pcpu.sizeOf(l.ptr)).toBe(l.size);
}

function zeroEverywhere(b: ReturnType<typeof boot>, l: Live): boolean {
  for (let cpu = 0; cpu < CPUS; cpu++) {
    const at = b.areas.perCpuPtr(l.ptr, cpu);
    if (at % l.align !== 0) return false;
    const bytes = b.memory.u8.subarray(at, at + l.size);
    for (let k = 0; k < bytes.length; k++) if (bytes[k] !== 0) return false;
  }
  return true;
}

function junk(b: ReturnType<typeof boot>, l: Live): void {
  for (let cpu = 0; cpu < CPUS; cpu++) b.memory.fill(b.areas.perCpuPtr(l.ptr, cpu), l.size, 0x5a);
}

function chunkBaseOf(b: ReturnType<typeof boot>, addr: number): PercpuChunkStats {
  const c = percpuStats(b.pcpu).chunks.find((x) => {
    const r = regionOf(x);
    return addr >= r.lo && addr < r.hi;
  });
  if (c === undefined) throw new Error(`no chunk holds 0x${addr.toString(16)}`);
  return c;
}

function runOps(ops: Op[]): void {
  const b = boot();
  const fcl = b.areas.firstChunk;
  const model = new Model(
    b.pcpu.unitSize,
    (fcl.staticSize + fcl.reservedSize + fcl.dynSize) / PAGE_SIZE,
  );
  const reservedLo = b.areas.base + fcl.staticSize;
  const reservedHi = reservedLo + fcl.reservedSize;

  const allocate = (size: number, align: number, atomic: boolean, reserved: boolean) => {
    const warned = b.warnings.length;
    const suppressed = b.pcpu.warningsSuppressed;
    const ptr = b.pcpu.alloc(size, align, { atomic, reserved });
    const rounded = Math.ceil(size / 4) * 4;
    const a = Math.max(align, 4);
    if (ptr === null) {
      expect(atomic || reserved).toBe(true);
      const reason = reserved
        ? 'alloc from reserved chunk failed'
        : 'atomic alloc failed, no space left';
      if (b.pcpu.warningsSuppressed === suppressed) {
        expect(b.warnings[warned]).toBe(
          `allocation failed, size=${rounded} align=${a} atomic=${atomic ? 1 : 0}, ${reason}`,
        );
      }
      return null;
    }
    const l: Live = { ptr, addr: b.areas.perCpuPtr(ptr, 0), size: rounded, align: a };
    expect(zeroEverywhere(b, l)).toBe(true);
    expect(l.addr >= reservedLo && l.addr < reservedHi).toBe(reserved);
    model.add(l, chunkBaseOf(b, l.addr).base);
    junk(b, l);
    return l;
  };

  for (const o of ops) {
    switch (o.kind) {
      case 'alloc':
        allocate(o.size, 1 << o.alignShift, o.atomic, o.reserved);
        break;
      case 'free':
        if (model.live.length > 0) b.pcpu.free(model.remove(o.pick % model.live.length).ptr);
        break;
      case 'reuse': {
        if (model.live.length === 0) break;
        const l = model.remove(o.pick % model.live.length);
        const reserved = l.addr >= reservedLo && l.addr < reservedHi;
        const chunks = percpuStats(b.pcpu).global.nrChunks;
        b.pcpu.free(l.ptr);
        const kind = chunkBaseOf(b, l.addr).kind;
        const again = allocate(l.size, 4, false, reserved);
        if (!reserved && l.size >= 32 && kind !== 'to_depopulate') {
          expect(again).not.toBeNull();
          expect(percpuStats(b.pcpu).global.nrChunks).toBe(chunks);
        }
        break;
      }
      case 'balance': {
        b.pcpu.balance();
        expect(b.pcpu.balancePending).toBe(false);
        const alive = new Set(percpuStats(b.pcpu).chunks.map((c) => c.base));
        for (const base of model.chunkMax.keys()) if (!alive.has(base)) model.chunkMax.delete(base);
        break;
      }
    }
    check(b, model);
  }

  while (model.live.length > 0) b.pcpu.free(model.remove(0).ptr);
  check(b, model);
  for (const c of percpuStats(b.pcpu).chunks) {
    const { lo, hi } = regionOf(c);
    expect(c.freeBytes).toBe(hi - lo);
  }
  b.pcpu.balance();
  b.pcpu.balance();
  expect(percpuStats(b.pcpu).global.nrChunks).toBeLessThanOrEqual(2);
  expect(percpuStats(b.pcpu).global.emptyPopPages).toBeGreaterThanOrEqual(
    PCPU_EMPTY_POP_PAGES_HIGH,
  );
}

describe('the per-CPU allocator against a reference model', () => {
  it('keeps allocations apart, aligned, zeroed, counted and reused', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => runOps(ops)),
      { numRuns: 150 },
    );
  });

  it('survives long runs of small allocations', () => {
    const small = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('alloc' as const),
          size: fc.integer({ min: 1, max: 600 }),
          alignShift: fc.integer({ min: 0, max: 6 }),
          atomic: fc.boolean(),
          reserved: fc.constant(false),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('reuse' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'balance' as const }) },
    );
    fc.assert(
      fc.property(fc.array(small, { minLength: 200, maxLength: 400 }), (ops) => runOps(ops)),
      { numRuns: 15 },
    );
  });
});
