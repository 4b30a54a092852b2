import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bitmapClear,
  bitmapSet,
  Chunks,
  chunkMetaLayout,
  findLastBit,
  findNextBit,
  findNextZeroBit,
  pcpuBlockMd,
  pcpuChunk,
  testBit,
} from '../../percpu/chunk.ts';
import {
  ChunkSlots,
  nrSlotsFor,
  PCPU_SLOT_FAIL_THRESHOLD,
  sizeToSlotRaw,
} from '../../percpu/chunk-slots.ts';
import { PAGE_SIZE, PhysicalMemory } from '../../segments/memory.ts';
import { chunkViolations } from './chunk-fixtures.ts';

const PCPU_CHUNK_W = pcpuChunk.word;

const COUNTERS = { emptyPopPages: 0x1000, nrPopulated: 0x1004 };
const HEADER = 0x2000;
const BASE = 0x100000;

/** One chunk of `pages` pages over a bare memory, its counters at fixed addresses. */
function standalone(pages = 8, populated = pages) {
  const memory = new PhysicalMemory(4 << 20);
  const chunks = new Chunks(memory, COUNTERS, pages * PAGE_SIZE, 1);
  chunks.init(HEADER, BASE, pages);
  if (populated > 0) chunks.populated(HEADER, 0, populated);
  return { memory, chunks, c: HEADER, m: chunks.m };
}

const emptyPages = (memory: PhysicalMemory) => memory.view.getInt32(COUNTERS.emptyPopPages, true);

describe('bitmaps of u32 words', () => {
  const words = fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), {
    minLength: 1,
    maxLength: 6,
  });

  it('find_next_bit, find_next_zero_bit and find_last_bit agree with reading bit by bit', () => {
    fc.assert(
      fc.property(words, fc.nat(), fc.nat(), (ws, a, b) => {
        const m = Int32Array.from(ws);
        const bits = ws.length * 32;
        const size = a % (bits + 1);
        const start = b % (bits + 2);
        const bit = (i: number) => ((m[i >>> 5] >>> (i & 31)) & 1) === 1;
        let next = size;
        let zero = size;
        for (let i = start; i < size; i++) {
          if (next === size && bit(i)) next = i;
          if (zero === size && !bit(i)) zero = i;
        }
        let last = size;
        for (let i = size - 1; i >= 0 && last === size; i--) if (bit(i)) last = i;
        expect(findNextBit(m, 0, size, start)).toBe(next);
        expect(findNextZeroBit(m, 0, size, start)).toBe(zero);
        expect(findLastBit(m, 0, size)).toBe(last);
      }),
    );
  });

  it('bitmap_set and bitmap_clear change exactly [start, start + n)', () => {
    fc.assert(
      fc.property(words, fc.nat(), fc.nat(), fc.boolean(), (ws, a, b, set) => {
        const m = Int32Array.from(ws);
        const before = Int32Array.from(ws);
        const bits = ws.length * 32;
        const start = a % bits;
        const n = b % (bits - start + 1);
        (set ? bitmapSet : bitmapClear)(m, 0, start, n);
        for (let i = 0; i < bits; i++) {
          const inside = i >= start && i < start + n;
          const was = testBit(before, 0, i);
          expect(testBit(m, 0, i)).toBe(inside ? set : was);
        }
      }),
    );
  });
});

describe('struct pcpu_chunk and its metadata', () => {
  it('lays out pcpu_block_md as eight ints and the maps after the header', () => {
    expect(pcpuBlockMd.size).toBe(32);
    const l = chunkMetaLayout(10);
    expect(l.allocMap).toBeGreaterThanOrEqual(pcpuChunk.size);
    expect(l.boundMap - l.allocMap).toBe((10 * 1024) / 8);
    expect(l.mdBlocks - l.boundMap).toBe((10 * 1024) / 8 + 8); // one more bit, 8-aligned
    expect(l.populated - l.mdBlocks).toBe(10 * 32);
    expect(l.size - l.populated).toBe(4);
  });

  it('refuses a unit whose bitmap a packed run could not address', () => {
    const memory = new PhysicalMemory(1 << 20);
    expect(() => new Chunks(memory, COUNTERS, 2 ** 28, 1)).toThrow(/^EINVAL: unit size 268435456/);
    expect(() => new Chunks(memory, COUNTERS, 0, 1)).toThrow(/^EINVAL/);
  });

  it('starts a new chunk free, unpopulated, with whole-page blocks', () => {
    const { memory, chunks, c } = standalone(8, 0);
    expect(chunks.freeBytes(c)).toBe(8 * PAGE_SIZE);
    expect(chunks.contigHint(c)).toBe(8 * 1024);
    expect(chunks.mapBits(c)).toBe(8192);
    expect(chunks.isPagePopulated(c, 0)).toBe(false);
    expect(emptyPages(memory)).toBe(0);
    expect(chunkViolations(chunks, c)).toEqual([]);
  });

  it('counts populated pages as empty, in the chunk and globally', () => {
    const { memory, chunks, c, m } = standalone(8, 3);
    expect(m[(c >> 2) + PCPU_CHUNK_W.nr_empty_pop_pages]).toBe(3);
    expect(emptyPages(memory)).toBe(3);
    expect(memory.view.getUint32(COUNTERS.nrPopulated, true)).toBe(3);
    chunks.depopulated(c, 1, 3);
    expect(emptyPages(memory)).toBe(1);
    expect(chunks.nextPageRun(c, 0, false)).toBe(1);
    expect(chunks.pageRunEnd(c, 1, false)).toBe(8);
  });
});

describe('pcpu_alloc_area and pcpu_free_area', () => {
  const place = (chunks: Chunks, c: number, bits: number, align = 1, popOnly = false) => {
    const start = chunks.findBlockFit(c, bits, align, popOnly);
    return start < 0 ? -1 : chunks.allocArea(c, bits, align, start);
  };

  it('places first fit, at the alignment, and frees by the bound map', () => {
    const { chunks, c } = standalone();
    expect(place(chunks, c, 3)).toBe(0);
    expect(place(chunks, c, 2, 4)).toBe(16); // bits 4-5: 16 bytes in, the next 4-bit boundary
    expect(place(chunks, c, 1)).toBe(12); // the hole the alignment left
    expect(chunks.areaSize(c, 16)).toBe(8);
    expect(chunks.areaSize(c, 0)).toBe(12);
    expect(chunks.freeArea(c, 0)).toBe(12);
    expect(chunks.areaSize(c, 0)).toBe(0);
    expect(place(chunks, c, 3)).toBe(0);
    expect(chunkViolations(chunks, c)).toEqual([]);
  });

  it('knows only the start of a live allocation', () => {
    const { chunks, c } = standalone();
    const off = place(chunks, c, 8);
    expect(chunks.areaSize(c, off)).toBe(32);
    expect(chunks.areaSize(c, off + 4)).toBe(0);
    expect(chunks.areaSize(c, off + 2)).toBe(0);
    expect(chunks.areaSize(c, off + 32)).toBe(0);
    chunks.freeArea(c, off);
    expect(chunks.areaSize(c, off)).toBe(0);
  });

  it('marks pages used and empty as areas come and go, spanning blocks', () => {
    const { memory, chunks, c } = standalone(8);
    const off = place(chunks, c, 2 * 1024 + 10); // pages 0, 1 and part of 2
    expect(emptyPages(memory)).toBe(5);
    chunks.freeArea(c, off);
    expect(emptyPages(memory)).toBe(8);
    expect(chunks.contigHint(c)).toBe(8192);
    expect(chunkViolations(chunks, c)).toEqual([]);
  });

  it('with popOnly (atomic) fits only on populated pages', () => {
    const { chunks, c } = standalone(8, 0);
    expect(place(chunks, c, 4, 1, true)).toBe(-1);
    chunks.populated(c, 5, 6);
    expect(place(chunks, c, 4, 1, true)).toBe(5 * PAGE_SIZE);
    expect(place(chunks, c, 1024, 1, true)).toBe(-1); // page 5 has no room for a page left
    expect(place(chunks, c, 1024, 1, false)).toBe(0);
  });

  it('keeps its hints sound through random allocations and frees', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('alloc' as const),
        bits: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 3000 })),
        alignShift: fc.integer({ min: 0, max: 10 }),
        popOnly: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.integer({ min: 0, max: 8 }), (ops, pop) => {
        const { chunks, c } = standalone(8, pop);
        const live: number[] = [];
        for (const o of ops) {
          if (o.kind === 'free') {
            if (live.length === 0) continue;
            const [off] = live.splice(o.pick % live.length, 1);
            chunks.freeArea(c, off);
          } else {
            const align = 1 << o.alignShift;
            const off = place(chunks, c, o.bits, align, o.popOnly);
            if (off < 0) continue;
            expect((off / 4) % align).toBe(0);
            for (let p = off >> 12; p <= (off + o.bits * 4 - 1) >> 12; p++) {
              if (o.popOnly) expect(chunks.isPagePopulated(c, p)).toBe(true);
              else if (!chunks.isPagePopulated(c, p)) chunks.populated(c, p, p + 1); // as pcpu_alloc does
            }
            live.push(off);
          }
          expect(chunkViolations(chunks, c)).toEqual([]);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('the first chunk (pcpu_alloc_first_chunk)', () => {
  it('hides the bytes before and after its region as allocated', () => {
    const memory = new PhysicalMemory(4 << 20);
    const chunks = new Chunks(memory, COUNTERS, 16 * PAGE_SIZE, 1);
    const tmp = BASE + 1000; // the region starts 1000 bytes into a page
    chunks.initFirst(HEADER, tmp, 8192, false);
    expect(chunks.baseAddr(HEADER)).toBe(BASE);
    expect(chunks.nrPages(HEADER)).toBe(3); // 1000 + 8192 rounded up to pages
    expect(chunks.freeBytes(HEADER)).toBe(8192);
    expect(chunks.addrInChunk(HEADER, tmp - 4)).toBe(false);
    expect(chunks.addrInChunk(HEADER, tmp)).toBe(true);
    expect(chunks.addrInChunk(HEADER, tmp + 8192)).toBe(false);
    expect(chunks.areaSize(HEADER, 0)).toBe(0); // the hidden head is no allocation
    const start = chunks.findBlockFit(HEADER, 2048, 1, true);
    expect(chunks.allocArea(HEADER, 2048, 1, start)).toBe(1000);
    expect(chunks.findBlockFit(HEADER, 1, 1, true)).toBe(-1); // the tail is hidden too
    expect(chunkViolations(chunks, HEADER)).toEqual([]);
  });
});

describe('chunk slots', () => {
  it('puts areas in slots by the highest bit of their size (pcpu_size_to_slot)', () => {
    expect([1, 15, 16, 31, 32, 63, 64, 512, 4096].map(sizeToSlotRaw)).toEqual([
      1, 1, 2, 2, 3, 3, 4, 7, 10,
    ]);
    expect(PCPU_SLOT_FAIL_THRESHOLD).toBe(3);
    // size slots up to the unit's, then sidelined, free and to_depopulate
    expect(nrSlotsFor(45056)).toBe(sizeToSlotRaw(45056) + 4);
  });

  function withSlots() {
    const memory = new PhysicalMemory(4 << 20);
    const unit = 8 * PAGE_SIZE;
    const chunks = new Chunks(memory, COUNTERS, unit, 1);
    const slots = new ChunkSlots(chunks, 0x1800, unit);
    slots.init();
    const a = 0x2000;
    const b = 0x3000;
    chunks.init(a, BASE, 8);
    chunks.init(b, BASE + unit, 8);
    return { memory, chunks, slots, a, b };
  }

  const list = (slots: ChunkSlots, slot: number) => {
    const out: number[] = [];
    for (let c = slots.first(slot); c !== 0; c = slots.next(c, slot)) out.push(c);
    return out;
  };

  it('files a wholly free chunk on the free slot, and moves it as it fills and empties', () => {
    const { chunks, slots, a, b } = withSlots();
    slots.relocate(a, -1);
    slots.relocate(b, -1);
    expect(slots.chunkSlot(a)).toBe(slots.freeSlot);
    expect(list(slots, slots.freeSlot)).toEqual([b, a]);
    const oslot = slots.chunkSlot(a);
    const off = chunks.allocArea(a, 8192 - 100, 1, 0); // 400 bytes left
    slots.relocate(a, oslot);
    expect(list(slots, sizeToSlotRaw(400))).toEqual([a]);
    const before = slots.chunkSlot(a);
    chunks.freeArea(a, off);
    slots.relocate(a, before);
    expect(list(slots, slots.freeSlot)).toEqual([a, b]); // grown: to the front
  });

  it('isolates a chunk out of the empty page count and reintegrates it', () => {
    const { memory, chunks, slots, a } = withSlots();
    chunks.populated(a, 0, 8);
    slots.relocate(a, -1);
    expect(emptyPages(memory)).toBe(8);
    slots.isolate(a);
    expect(emptyPages(memory)).toBe(0);
    expect(list(slots, slots.toDepopulateSlot)).toEqual([a]);
    slots.relocate(a, 0); // an isolated chunk stays put
    expect(list(slots, slots.toDepopulateSlot)).toEqual([a]);
    slots.reintegrate(a);
    expect(emptyPages(memory)).toBe(8);
    expect(list(slots, slots.freeSlot)).toEqual([a]);
  });
});
