import { describe, expect, it } from 'vitest';
import {
  PCPU_EMPTY_POP_PAGES_HIGH,
  PCPU_EMPTY_POP_PAGES_LOW,
  PCPU_WARN_LIMIT,
  PercpuAllocator,
} from '../../percpu/allocator.ts';
import { PCPU_MIN_UNIT_SIZE } from '../../percpu/first-chunk.ts';
import { definePercpuCoreSymbols, setupPerCpuAreas } from '../../percpu/per-cpu-areas.ts';
import {
  formatPercpuStats,
  meminfoPercpu,
  type PercpuChunkStats,
  pcpuNrPages,
  percpuStats,
} from '../../percpu/percpu-stats.ts';
import { Machine } from '../../preempt/machine.ts';
import { AddressMap } from '../../segments/address-map.ts';
import { u64 } from '../../segments/ctype.ts';
import { linkAndLoad } from '../../segments/image-loader.ts';
import { Linker } from '../../segments/linker.ts';
import { PAGE_SIZE, PhysicalMemory } from '../../segments/memory.ts';
import { RawSpinlock } from '../../segments/raw-spinlock.ts';
import { allocatorViolations } from './allocator-fixtures.ts';

interface BootOptions {
  cpus?: number;
  chunkRegionSize?: number;
  scheduleBalance?: () => void;
}

/** Memory, address map, linked image and per-CPU areas as boot makes them, plus the allocator. */
function boot(opts: BootOptions = {}) {
  const cpus = opts.cpus ?? 2;
  const memory = new PhysicalMemory(16 << 20);
  const map = new AddressMap(memory.size);
  const linker = new Linker();
  definePercpuCoreSymbols(linker);
  linker.definePerCpu('counter', u64, 7n);
  const image = linkAndLoad(linker, memory, map);
  const areas = setupPerCpuAreas(memory, map, image, cpus);
  const warnings: string[] = [];
  const pcpu = new PercpuAllocator({
    memory,
    map,
    areas,
    warn: (line) => warnings.push(line),
    chunkRegionSize: opts.chunkRegionSize ?? 4 << 20,
    scheduleBalance: opts.scheduleBalance,
  });
  const addr = (p: number, cpu: number) => areas.perCpuPtr(p, cpu);
  return { memory, map, areas, image, pcpu, warnings, cpus, addr };
}

type Booted = ReturnType<typeof boot>;

const alloc = (b: Booted, size: number, align = 4, opts = {}) => {
  const p = b.pcpu.alloc(size, align, opts);
  if (p === null) throw new Error(`allocation of ${size} failed: ${b.warnings.join('; ')}`);
  return p;
};

const chunkStats = (b: Booted) => percpuStats(b.pcpu).chunks;
const firstChunk = (b: Booted) => chunkStats(b).find((c) => c.kind === 'first')!;
const emptyPopPages = (b: Booted) => percpuStats(b.pcpu).global.emptyPopPages;

/** Takes the whole dynamic area of the first chunk, so later allocations need new chunks. */
const fillFirstChunk = (b: Booted) => alloc(b, firstChunk(b).contigBytes);

/** The chunk whose region holds the allocation at `p`. */
function chunkOf(b: Booted, p: number): PercpuChunkStats {
  const a = b.addr(p, 0);
  const found = chunkStats(b).find(
    (c) => a >= c.base + c.startOffset && a < c.base + c.nrPages * PAGE_SIZE - c.endOffset,
  );
  if (found === undefined) throw new Error(`no chunk holds 0x${p.toString(16)}`);
  return found;
}

describe('alloc_percpu and free_percpu', () => {
  it('serves the first chunk dynamic area first, one copy per CPU a unit apart', () => {
    const b = boot({ cpus: 3 });
    const p = alloc(b, 16, 8);
    const fc = b.areas.firstChunk;
    const off = b.addr(p, 0) - b.areas.base;
    expect(off).toBeGreaterThanOrEqual(fc.staticSize + fc.reservedSize);
    expect(off % 8).toBe(0);
    for (let cpu = 0; cpu < 3; cpu++) {
      expect(b.addr(p, cpu)).toBe(b.areas.offsets[cpu] + p);
      expect(b.addr(p, cpu) - b.addr(p, 0)).toBe(cpu * fc.unitSize);
    }
    expect(chunkOf(b, p).kind).toBe('first');
  });

  it('gives memory zeroed on every CPU, even where junk was freed', () => {
    const b = boot({ cpus: 4 });
    const p = alloc(b, 64, 8);
    for (let cpu = 0; cpu < 4; cpu++) b.memory.fill(b.addr(p, cpu), 64, 0xa5);
    b.pcpu.free(p);
    const q = alloc(b, 64, 8);
    expect(q).toBe(p);
    for (let cpu = 0; cpu < 4; cpu++) {
      expect(b.memory.readBytes(b.addr(q, cpu), 64).every((x) => x === 0)).toBe(true);
    }
  });

  it('rounds sizes up to 4 bytes and alignments up to 4, as pcpu_alloc does', () => {
    const b = boot();
    const p = alloc(b, 1, 1);
    expect(b.pcpu.sizeOf(p)).toBe(4);
    expect(b.pcpu.sizeOf(alloc(b, 10, 2))).toBe(12);
    expect(b.pcpu.sizeOf(alloc(b, 8, 0))).toBe(8);
    // an alignment below 4 becomes 4 before the power-of-two check, so 3 is accepted
    expect(b.pcpu.alloc(8, 3)).not.toBeNull();
    expect(b.warnings).toEqual([]);
  });

  it('honours every power-of-two alignment up to a page', () => {
    const b = boot();
    alloc(b, 4); // misalign what follows
    for (let align = 1; align <= PAGE_SIZE; align *= 2) {
      const p = alloc(b, 12, align);
      for (let cpu = 0; cpu < b.cpus; cpu++) expect(b.addr(p, cpu) % align).toBe(0);
    }
  });

  it('accepts the largest size, PCPU_MIN_UNIT_SIZE, in a chunk of its own', () => {
    const b = boot();
    const p = alloc(b, PCPU_MIN_UNIT_SIZE);
    expect(chunkOf(b, p).kind).toBe('chunk');
    expect(b.pcpu.sizeOf(p)).toBe(PCPU_MIN_UNIT_SIZE);
  });

  it('reuses freed space: the same requests after freeing get the same places', () => {
    const b = boot();
    const first = Array.from({ length: 300 }, (_, k) => alloc(b, 8 + (k % 7) * 24, 8));
    const chunks = percpuStats(b.pcpu).global.nrChunks;
    for (const p of first) b.pcpu.free(p);
    const again = Array.from({ length: 300 }, (_, k) => alloc(b, 8 + (k % 7) * 24, 8));
    expect(new Set(again)).toEqual(new Set(first));
    expect(percpuStats(b.pcpu).global.nrChunks).toBe(chunks);
  });

  it('treats free_percpu(NULL) as a no-op', () => {
    const b = boot();
    const before = percpuStats(b.pcpu);
    b.pcpu.free(null);
    b.pcpu.free(0);
    expect(percpuStats(b.pcpu)).toEqual(before);
  });

  it('answers isAllocationStart and sizeOf for the sanitizer', () => {
    const b = boot();
    const p = alloc(b, 24, 8);
    expect(b.pcpu.isAllocationStart(p)).toBe(true);
    expect(b.pcpu.sizeOf(p)).toBe(24);
    for (const q of [p + 4, p + 1, p + 24, p - 8, 0, b.areas.symbol('counter').address, -5, 0.5]) {
      expect(b.pcpu.isAllocationStart(q)).toBe(false);
      expect(b.pcpu.sizeOf(q)).toBeUndefined();
    }
    b.pcpu.free(p);
    expect(b.pcpu.isAllocationStart(p)).toBe(false);
  });

  it('refuses to free what is not the start of a live allocation, changing nothing', () => {
    const b = boot();
    const p = alloc(b, 32, 8);
    const q = alloc(b, 32, 8);
    b.pcpu.free(q);
    const before = percpuStats(b.pcpu);
    const bad = [p + 4, q, b.areas.symbol('counter').address, 0x7fff_0000, Number.NaN, 1.5];
    for (const x of bad)
      expect(() => b.pcpu.free(x)).toThrow(/^EINVAL: free_percpu\((0x[0-9a-f]+|NaN|1\.5)\): not /);
    expect(() => b.pcpu.free(p + 4)).toThrow(
      `EINVAL: free_percpu(0x${(p + 4).toString(16)}): not the start of a live per-CPU allocation`,
    );
    expect(percpuStats(b.pcpu)).toEqual(before);
    expect(b.pcpu.sizeOf(p)).toBe(32);
    b.pcpu.free(p); // the lock was released on every throw
  });
});

describe("refused requests print the kernel's warning", () => {
  const cases: [number, number, string][] = [
    [0, 8, 'illegal size (0) or align (8) for percpu allocation'],
    [0, 1, 'illegal size (0) or align (4) for percpu allocation'],
    [PCPU_MIN_UNIT_SIZE + 1, 4, 'illegal size (32772) or align (4) for percpu allocation'],
    [8, 2 * PAGE_SIZE, 'illegal size (8) or align (8192) for percpu allocation'],
    [8, 6, 'illegal size (8) or align (6) for percpu allocation'],
    [5, 24, 'illegal size (8) or align (24) for percpu allocation'],
    [-1, 8, 'illegal size (-1) or align (8) for percpu allocation'],
    [2.5, 8, 'illegal size (2.5) or align (8) for percpu allocation'],
  ];
  for (const [size, align, text] of cases) {
    it(`size ${size} align ${align}`, () => {
      const b = boot();
      expect(b.pcpu.alloc(size, align)).toBeNull();
      expect(b.warnings).toEqual([text]);
      expect(percpuStats(b.pcpu).global.nrAlloc).toBe(0);
    });
  }

  it('prints nothing with noWarn (__GFP_NOWARN)', () => {
    const b = boot();
    expect(b.pcpu.alloc(0, 8, { noWarn: true })).toBeNull();
    expect(b.warnings).toEqual([]);
  });
});

describe('allocation failures', () => {
  it('fails an atomic allocation no populated page can fit, and asks for balance', () => {
    const b = boot();
    fillFirstChunk(b);
    expect(b.pcpu.alloc(64, 8, { atomic: true })).toBeNull();
    expect(b.warnings).toEqual([
      'allocation failed, size=64 align=8 atomic=1, atomic alloc failed, no space left',
    ]);
    expect(b.pcpu.balancePending).toBe(true);
    expect(percpuStats(b.pcpu).global.nrChunks).toBe(1); // atomic never creates a chunk
  });

  it('serves the same request sleepable by creating a chunk and populating its page', () => {
    const b = boot();
    fillFirstChunk(b);
    const pages = pcpuNrPages(b.pcpu);
    const p = alloc(b, 64, 8);
    expect(chunkOf(b, p).kind).toBe('chunk');
    expect(percpuStats(b.pcpu).global.nrChunks).toBe(2);
    expect(pcpuNrPages(b.pcpu)).toBe(pages + b.cpus); // one page in every unit
    expect(b.map.describe(b.addr(p, 1))).toMatch(/^percpu chunks\+/);
  });

  it('serves atomic allocations from pages the balance worker populated', () => {
    const b = boot();
    fillFirstChunk(b);
    expect(b.pcpu.alloc(64, 8, { atomic: true })).toBeNull();
    b.pcpu.balance();
    expect(b.pcpu.balancePending).toBe(false);
    const p = b.pcpu.alloc(64, 8, { atomic: true });
    expect(p).not.toBeNull();
    expect(chunkOf(b, p!).kind).toBe('chunk');
    // an atomic request larger than the populated run still fails
    expect(b.pcpu.alloc(5 * PAGE_SIZE, 8, { atomic: true })).toBeNull();
  });

  it('fails a sleepable allocation when the chunk region is full', () => {
    const b = boot({ chunkRegionSize: 0 });
    fillFirstChunk(b);
    expect(b.pcpu.alloc(100, 4)).toBeNull();
    expect(b.warnings).toEqual([
      'allocation failed, size=100 align=4 atomic=0, failed to allocate new chunk',
    ]);
  });

  it('prints with pcpu_lock released, so the warn hook may look at the allocator', () => {
    const b = boot();
    fillFirstChunk(b);
    const seen: number[] = [];
    const pcpu = new PercpuAllocator({
      memory: b.memory,
      attach: b.pcpu.stateAddr,
      warn: () => seen.push(percpuStats(pcpu).global.nrCurAlloc),
    });
    expect(pcpu.alloc(64, 8, { atomic: true })).toBeNull();
    expect(seen).toEqual([1]);
  });

  it(`limits failure warnings to ${PCPU_WARN_LIMIT}, then counts them`, () => {
    const b = boot();
    fillFirstChunk(b);
    for (let k = 0; k < PCPU_WARN_LIMIT + 5; k++) b.pcpu.alloc(8, 4, { atomic: true });
    expect(b.warnings).toHaveLength(PCPU_WARN_LIMIT + 1);
    expect(b.warnings.at(-1)).toBe('limit reached, disable warning');
    expect(b.pcpu.warningsSuppressed).toBe(5);
    expect(b.pcpu.alloc(0, 4)).toBeNull(); // illegal requests still warn
    expect(b.warnings.at(-1)).toMatch(/^illegal size/);
  });
});

describe('the reserved chunk', () => {
  const inReserved = (b: Booted, p: number) => {
    const off = b.addr(p, 0) - b.areas.base;
    const fc = b.areas.firstChunk;
    return off >= fc.staticSize && off < fc.staticSize + fc.reservedSize;
  };

  it('serves reserved allocations only, from the reserved area of the first chunk', () => {
    const b = boot();
    const r = alloc(b, 100, 8, { reserved: true });
    expect(inReserved(b, r)).toBe(true);
    expect(chunkOf(b, r).kind).toBe('reserved');
    const normal = Array.from({ length: 400 }, () => alloc(b, 128, 8));
    expect(normal.some((p) => inReserved(b, p))).toBe(false);
    b.pcpu.free(r);
    expect(chunkOf(b, alloc(b, 8, 4, { reserved: true })).kind).toBe('reserved');
  });

  it('fails when the reserved area is full, never falling back', () => {
    const b = boot();
    alloc(b, b.areas.firstChunk.reservedSize - 64, 4, { reserved: true });
    expect(b.pcpu.alloc(128, 4, { reserved: true })).toBeNull();
    expect(b.warnings).toEqual([
      'allocation failed, size=128 align=4 atomic=0, alloc from reserved chunk failed',
    ]);
  });
});

describe('the balance worker (pcpu_balance_workfn)', () => {
  it(`keeps empty populated pages topped up to ${PCPU_EMPTY_POP_PAGES_HIGH} as allocations use them`, () => {
    const b = boot();
    fillFirstChunk(b);
    expect(emptyPopPages(b)).toBe(0);
    for (let k = 0; k < 200; k++) {
      alloc(b, 64 + (k % 13) * 40, 8, { atomic: k % 3 === 0 && emptyPopPages(b) > 0 });
      if (emptyPopPages(b) < PCPU_EMPTY_POP_PAGES_LOW) {
        expect(b.pcpu.balancePending).toBe(true);
        b.pcpu.balance();
        expect(emptyPopPages(b)).toBe(PCPU_EMPTY_POP_PAGES_HIGH);
      }
    }
  });

  it('runs through the scheduleBalance hook when the count drops below the low mark', () => {
    let calls = 0;
    const b: Booted = boot({
      scheduleBalance: () => {
        calls++;
        b.pcpu.balance();
      },
    });
    fillFirstChunk(b); // no empty page left: the worker populates a new chunk
    expect(calls).toBe(1);
    expect(emptyPopPages(b)).toBe(PCPU_EMPTY_POP_PAGES_HIGH);
    alloc(b, PAGE_SIZE, PAGE_SIZE, { atomic: true });
    alloc(b, PAGE_SIZE, PAGE_SIZE, { atomic: true });
    expect(calls).toBe(1); // 2 left: not below PCPU_EMPTY_POP_PAGES_LOW
    alloc(b, PAGE_SIZE, PAGE_SIZE, { atomic: true });
    expect(calls).toBe(2);
    expect(emptyPopPages(b)).toBe(PCPU_EMPTY_POP_PAGES_HIGH);
  });

  /**
   * Two chunks of 1 KiB allocations, four to a page: B and C. C is emptied
   * but for its first page, then B likewise: B's empty pages make it a
   * reclaim candidate while C still holds more than enough.
   */
  function twoChunks() {
    const b = boot();
    fillFirstChunk(b);
    const perChunk = b.pcpu.unitSize / 1024;
    const inB = Array.from({ length: perChunk }, () => alloc(b, 1024));
    const inC = Array.from({ length: perChunk }, () => alloc(b, 1024));
    expect(chunkOf(b, inB[0]).base).not.toBe(chunkOf(b, inC[0]).base);
    expect(chunkOf(b, inB.at(-1)!).base).toBe(chunkOf(b, inB[0]).base);
    for (const p of inC.slice(4)) b.pcpu.free(p);
    return { b, inB, inC, pagesLeft: b.pcpu.unitPages - 1 };
  }

  it('isolates a chunk with many empty pages and depopulates them', () => {
    const { b, inB, pagesLeft } = twoChunks();
    expect(emptyPopPages(b)).toBe(pagesLeft);
    for (const p of inB.slice(4)) b.pcpu.free(p);
    const kinds = () => chunkStats(b).map((c) => c.kind);
    expect(kinds()).toContain('to_depopulate');
    expect(emptyPopPages(b)).toBe(pagesLeft); // an isolated chunk's pages do not count
    expect(b.pcpu.balancePending).toBe(true);
    const pages = pcpuNrPages(b.pcpu);
    b.pcpu.balance();
    expect(pcpuNrPages(b.pcpu)).toBe(pages - pagesLeft * b.cpus);
    expect(kinds()).toContain('sidelined');
    const sidelined = chunkStats(b).find((c) => c.kind === 'sidelined')!;
    expect(sidelined.emptyPopPages).toBe(0);
    expect(sidelined.base).toBe(chunkOf(b, inB[0]).base);
  });

  it('still allocates from a sidelined chunk when nothing else fits, reintegrating it', () => {
    const { b, inB, pagesLeft } = twoChunks();
    for (const p of inB.slice(4)) b.pcpu.free(p);
    b.pcpu.balance();
    const chunks = percpuStats(b.pcpu).global.nrChunks;
    const big = Math.min(PCPU_MIN_UNIT_SIZE, pagesLeft * PAGE_SIZE); // one such fits in C
    const inC = alloc(b, big);
    const inB2 = alloc(b, big);
    expect(chunkOf(b, inB2).base).toBe(chunkOf(b, inB[0]).base);
    expect(chunkOf(b, inB2).kind).toBe('chunk');
    expect(chunkOf(b, inC).base).not.toBe(chunkOf(b, inB[0]).base);
    expect(percpuStats(b.pcpu).global.nrChunks).toBe(chunks);
  });

  it('reintegrates an isolated chunk instead of depopulating when the count runs low', () => {
    const { b, inB, pagesLeft } = twoChunks();
    for (const p of inB.slice(4)) b.pcpu.free(p);
    // use up C's empty pages: page-aligned pages cannot land in the isolated chunk
    for (let k = 0; k < pagesLeft; k++) alloc(b, PAGE_SIZE, PAGE_SIZE);
    expect(emptyPopPages(b)).toBe(0);
    const pages = pcpuNrPages(b.pcpu);
    b.pcpu.balance();
    expect(pcpuNrPages(b.pcpu)).toBe(pages);
    expect(chunkStats(b).map((c) => c.kind)).not.toContain('to_depopulate');
    expect(emptyPopPages(b)).toBe(pagesLeft);
  });

  it('releases wholly free chunks beyond one and reuses their memory', () => {
    const b = boot();
    fillFirstChunk(b);
    const big = b.pcpu.unitSize - 1024;
    const ps = Array.from({ length: 3 }, () => alloc(b, Math.min(big, PCPU_MIN_UNIT_SIZE)));
    const bases = ps.map((p) => chunkOf(b, p).base);
    expect(new Set(bases).size).toBe(3);
    expect(percpuStats(b.pcpu).global.nrChunks).toBe(4);
    for (const p of ps) b.pcpu.free(p);
    expect(b.pcpu.balancePending).toBe(true);
    b.pcpu.balance();
    expect(percpuStats(b.pcpu).global.nrChunks).toBe(2);
    expect(percpuStats(b.pcpu).global.nrMaxChunks).toBe(4);
    const again = Array.from({ length: 3 }, () => alloc(b, Math.min(big, PCPU_MIN_UNIT_SIZE)));
    expect(new Set(again.map((p) => chunkOf(b, p).base))).toEqual(new Set(bases));
  });
});

describe('exhaust and free (issue 11)', () => {
  /** Allocates `size` bytes until the allocator refuses; returns the pointers. */
  const exhaust = (b: Booted, size: (k: number) => number) => {
    const ps: number[] = [];
    for (let p = b.pcpu.alloc(size(0), 8); p !== null; p = b.pcpu.alloc(size(ps.length), 8)) {
      ps.push(p);
    }
    return ps;
  };
  const snapshot = (b: Booted) => {
    const { nrCurAlloc, nrChunks, emptyPopPages } = percpuStats(b.pcpu).global;
    return {
      nrCurAlloc,
      nrChunks,
      emptyPopPages,
      nrPopulated: b.pcpu.nrPopulated,
      metadata: b.pcpu.metadataBytes(),
    };
  };
  const sizes: [string, (k: number) => number, number][] = [
    ['512 B', () => 512, 1 << 20],
    ['4 B', () => 4, 128 << 10],
    ['8 B to 3 KiB, mixed', (k) => [8, 24, 512, 3000, 64, 1024][k % 6], 1 << 20],
  ];

  for (const [what, size, region] of sizes) {
    it(`${what}: the same number fits every round, with or without the balance worker`, () => {
      const b = boot({ chunkRegionSize: region });
      const counts: number[] = [];
      for (let round = 0; round < 4; round++) {
        const ps = exhaust(b, size);
        expect(b.warnings.at(-1)).toMatch(/atomic=0, failed to allocate new chunk$/);
        counts.push(ps.length);
        for (const p of ps) b.pcpu.free(p);
        expect(allocatorViolations(b.pcpu)).toEqual([]);
        expect(percpuStats(b.pcpu).global.nrCurAlloc).toBe(0);
      }
      // No balance run: what free() returned served the next round at once.
      expect(new Set(counts).size).toBe(1);
      // ...and that number fills most of the region (each chunk serves every CPU).
      let bytes = 0;
      for (let k = 0; k < counts[0]; k++) bytes += size(k);
      expect(bytes).toBeGreaterThan(region / b.cpus / 2);

      // The balance worker then gives back what it keeps no more, the same every round.
      b.pcpu.balance();
      expect(allocatorViolations(b.pcpu)).toEqual([]);
      const rest = snapshot(b);
      expect(rest.nrChunks).toBe(2); // the first chunk and one spare
      expect(rest.emptyPopPages).toBeGreaterThanOrEqual(PCPU_EMPTY_POP_PAGES_HIGH);
      for (let round = 0; round < 3; round++) {
        const ps = exhaust(b, size);
        expect(ps.length).toBe(counts[0]);
        for (const p of ps) b.pcpu.free(p);
        b.pcpu.balance();
        expect(allocatorViolations(b.pcpu)).toEqual([]);
        expect(snapshot(b)).toEqual(rest);
      }
    });
  }

  it('half freed, the other half still fits again, chunk by chunk', () => {
    const b = boot({ chunkRegionSize: 1 << 20 });
    const ps = exhaust(b, () => 256);
    const kept = ps.filter((_, k) => k % 2 === 0);
    for (const p of ps.filter((_, k) => k % 2 === 1)) b.pcpu.free(p);
    expect(allocatorViolations(b.pcpu)).toEqual([]);
    const again = exhaust(b, () => 256);
    expect(again.length).toBe(ps.length - kept.length);
    expect(allocatorViolations(b.pcpu)).toEqual([]);
  });
});

describe('statistics (debugfs percpu_stats, /proc/meminfo)', () => {
  it('counts allocations, frees, chunks and sizes', () => {
    const b = boot();
    const ps = [alloc(b, 8), alloc(b, 100), alloc(b, 3000)];
    b.pcpu.free(ps[1]);
    const rest = firstChunk(b).contigBytes;
    fillFirstChunk(b);
    const inNew = alloc(b, 500);
    expect(percpuStats(b.pcpu).global).toEqual({
      nrAlloc: 5,
      nrDealloc: 1,
      nrCurAlloc: 4,
      nrMaxAlloc: 4,
      nrChunks: 2,
      nrMaxChunks: 2,
      minAllocSize: 8,
      maxAllocSize: rest,
      emptyPopPages: 0,
    });
    expect(firstChunk(b)).toMatchObject({
      nrAlloc: 3,
      maxAllocSize: rest,
      freeBytes: 100,
      contigBytes: 100,
      emptyPopPages: 0,
    });
    expect(chunkOf(b, inNew)).toMatchObject({
      kind: 'chunk',
      nrAlloc: 1,
      maxAllocSize: 500,
      freeBytes: b.pcpu.unitSize - 500,
      firstBit: 125,
    });
  });

  it('describes fragments between allocations of a chunk', () => {
    const b = boot();
    const [x, , z] = [alloc(b, 40), alloc(b, 8), alloc(b, 200), alloc(b, 16)];
    b.pcpu.free(x);
    b.pcpu.free(z);
    expect(firstChunk(b)).toMatchObject({
      nrAlloc: 2,
      sumFrag: 240,
      maxFrag: 200,
      curMinAlloc: 8,
      curMedAlloc: 8,
      curMaxAlloc: 16,
    });
  });

  it('prints like the debugfs file', () => {
    const b = boot();
    alloc(b, 24);
    const text = formatPercpuStats(percpuStats(b.pcpu));
    const fc = b.areas.firstChunk;
    expect(text.startsWith('Percpu Memory Statistics\nAllocation Info:\n')).toBe(true);
    expect(text).toContain(`\n  unit_size           : ${String(fc.unitSize).padStart(12)}\n`);
    expect(text).toContain('\n  atom_size           :         4096\n');
    expect(text).toContain('\nGlobal Stats:\n----------------------------------------\n');
    expect(text).toContain('\n  nr_alloc            :            1\n');
    expect(text).toContain('\n  min_alloc_size      :           24\n');
    const chunksPart = text.slice(text.indexOf('Per Chunk Stats:'));
    expect(chunksPart.indexOf('Chunk: <- Reserved Chunk\n')).toBeLessThan(
      chunksPart.indexOf('Chunk: <- First Chunk\n'),
    );
    expect(chunksPart).toContain('  cur_max_alloc       :           24\n\n');
  });

  it("shows /proc/meminfo's Percpu: as populated pages in every unit", () => {
    const b = boot({ cpus: 3 });
    const fc = b.areas.firstChunk;
    const firstPages = (fc.staticSize + fc.reservedSize + fc.dynSize) / PAGE_SIZE;
    expect(pcpuNrPages(b.pcpu)).toBe(firstPages * 3);
    const kb = firstPages * 3 * 4;
    expect(meminfoPercpu(b.pcpu)).toBe(`Percpu:         ${String(kb).padStart(8)} kB`);
    fillFirstChunk(b);
    alloc(b, 2 * PAGE_SIZE);
    expect(meminfoPercpu(b.pcpu)).toBe(`Percpu:         ${String(kb + 2 * 3 * 4).padStart(8)} kB`);
  });
});

describe('state in emulated memory', () => {
  it('places its state and chunks in named regions of the address map', () => {
    const b = boot();
    expect(b.map.describe(b.pcpu.stateAddr)).toBe('percpu allocator+0');
    expect(b.map.regions().find((r) => r.name === 'percpu chunks')?.size).toBe(4 << 20);
  });

  it('is rebuilt from memory alone: a copy of memory is a working copy of the allocator', () => {
    const b = boot();
    const live = Array.from({ length: 50 }, (_, k) => alloc(b, 8 + k * 8));
    const copy = new PhysicalMemory(b.memory.size);
    copy.u8.set(b.memory.u8);
    const twin = new PercpuAllocator({ memory: copy, attach: b.pcpu.stateAddr });
    for (const p of live) expect(twin.sizeOf(p)).toBe(b.pcpu.sizeOf(p));
    expect(percpuStats(twin)).toEqual(percpuStats(b.pcpu));
    twin.free(live[3]);
    b.pcpu.free(live[3]);
    expect(twin.alloc(33, 8)).toBe(b.pcpu.alloc(33, 8));
  });

  it('refuses to attach where there is no allocator', () => {
    const b = boot();
    expect(() => new PercpuAllocator({ memory: b.memory, attach: 0x3000 })).toThrow(
      'EINVAL: no per-CPU allocator state at 0x3000: unit_size is 0',
    );
  });
});

describe('pcpu_lock, a raw spinlock in memory', () => {
  it('records the holder and refuses recursion and foreign unlocks', () => {
    const memory = new PhysicalMemory(1 << 20);
    const lock = RawSpinlock.init(memory, 0x2000);
    expect(lock.tryLock(1)).toBe(true);
    expect(lock.holder).toBe(1);
    expect(memory.read32(0x2000)).toBe(1);
    expect(lock.tryLock(2)).toBe(false);
    expect(() => lock.lock(1)).toThrow(
      'EBUSY: spinlock recursion on CPU#1: lock at 0x2000 is held by CPU#1',
    );
    expect(() => lock.lock(3)).toThrow('EBUSY: spinlock lockup on CPU#3');
    expect(() => lock.unlock(0)).toThrow('EPERM: spinlock wrong CPU on CPU#0');
    lock.unlock(1);
    expect(lock.holder).toBe(-1);
    expect(lock.locked).toBe(false);
    expect(() => lock.unlock(1)).toThrow('EPERM: spinlock already unlocked on CPU#1');
  });

  it('is held by the calling CPU for the duration of an operation, and only then', () => {
    let cpu = 2;
    const b = boot();
    const pcpu = new PercpuAllocator({
      memory: b.memory,
      attach: b.pcpu.stateAddr,
      currentCpu: () => cpu,
    });
    const lock = new RawSpinlock(b.memory, pcpu.stateAddr);
    expect(pcpu.withLock(() => [lock.locked, lock.holder])).toEqual([true, 2]);
    expect(lock.locked).toBe(false);
    cpu = 3;
    pcpu.free(alloc(b, 8));
    expect(lock.locked).toBe(false);
    lock.lock(0); // a CPU holding pcpu_lock: the allocator reports the deadlock
    expect(() => pcpu.alloc(8, 4)).toThrow('EBUSY: spinlock lockup on CPU#3');
    lock.unlock(0);
  });
});

describe('on a booted machine', () => {
  it('runs the balance work on the first CPU that ticks, CPU 0 idle (the unbound workqueue)', () => {
    const m = new Machine({ cpus: 2, tickInterval: 20, percpuChunkRegion: 256 << 10 }).boot();
    const ps: number[] = [];
    for (let p = m.percpu.alloc(512, 8); p !== null; p = m.percpu.alloc(512, 8)) ps.push(p);
    for (const p of ps) m.percpu.free(p);
    expect(m.percpu.balancePending).toBe(true);
    expect(percpuStats(m.percpu).global.nrChunks).toBeGreaterThan(2);
    const task = m.spawn({
      comm: 'cpu1',
      cpu: 1,
      allowed: [1],
      program: m.assemble(`r6 = 0
spin:
  r6 += 1
  if r6 < 200 goto spin
  r0 = 0
  exit`),
    });
    for (let k = 0; k < 100 && !task.exited; k++) m.runCpu(1, 20);
    expect(task.exited).toBe(true);
    expect(m.cpus[0].ticks).toBe(0);
    expect(m.cpus[1].ticks).toBeGreaterThan(0);
    expect(m.percpu.balancePending).toBe(false);
    expect(percpuStats(m.percpu).global.nrChunks).toBe(2);
    expect(allocatorViolations(m.percpu)).toEqual([]);
  });

  it('holds 100k live allocations of 8-512 bytes within the machine memory', () => {
    const m = new Machine({ cpus: 2, memorySize: 128 << 20, trace: false }).boot();
    const pcpu = new PercpuAllocator({
      memory: m.memory,
      map: m.map,
      areas: m.areas,
      chunkRegionSize: 64 << 20,
    });
    const sizes = [8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];
    const live = new Int32Array(100_000);
    for (let k = 0; k < live.length; k++) {
      const p = pcpu.alloc(sizes[(k * 7) % sizes.length], 8);
      if (p === null) throw new Error(`allocation ${k} failed`);
      live[k] = p;
    }
    const at = m.areas.perCpuPtr(live[99_999], 1);
    m.memory.write64(at, 0x1234n);
    expect(m.memory.read64(at)).toBe(0x1234n);
    expect(percpuStats(pcpu).global.nrCurAlloc).toBe(100_000);
    for (const p of live) pcpu.free(p);
    pcpu.balance();
    const g = percpuStats(pcpu).global;
    expect(g.nrCurAlloc).toBe(0);
    expect(g.nrChunks).toBe(2);
  });
});
