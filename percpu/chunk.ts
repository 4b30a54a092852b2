/**
 * struct pcpu_chunk in emulated memory, and the bitmap allocator that runs
 * inside one chunk (mm/percpu.c's area and hint functions).
 *
 * A chunk serves the same byte range of each of its units: an area of 512
 * bytes at 6 KiB in a chunk is 512 bytes at 6 KiB of every CPU's unit, and
 * CPU n's unit begins at `base_addr + n * unit_size`. Inside the chunk,
 * allocation state is a bitmap with one bit per PCPU_MIN_ALLOC_SIZE (4)
 * bytes:
 *
 *  - `alloc_map`: bit set = those 4 bytes are allocated.
 *  - `bound_map` (one bit longer): bit set at the first bit of every
 *    allocation and at the bit just past its end. Kept exact on allocation
 *    only, so the bits inside a live allocation are always clear and
 *    `alloc[b] && bound[b]` holds exactly when b starts a live allocation.
 *    free() finds the size by looking for the next bound bit.
 *  - `md_blocks`: one pcpu_block_md per PCPU_BITMAP_BLOCK_SIZE (one page, so
 *    1024 bits) of the bitmap, holding hints about that block: `contig_hint`
 *    (largest free run and where it starts), `scan_hint` (a known free run
 *    before the contig hint, where a first-fit scan may begin), `left_free`
 *    and `right_free` (free bits touching each edge, so runs spanning blocks
 *    are found without reading the bitmap), and `first_free`.
 *  - `chunk_md`: the same hints for the whole chunk. Its `contig_hint`
 *    names a run that really is free, so it never promises more than there
 *    is; it can fall short of the largest run (by up to a page after frees
 *    at block edges, as the kernel documents), which costs a missed fit,
 *    never a wrong one.
 *
 * Hints are guides, never trusted for correctness: the bitmap decides. What
 * holds (and test/percpu/chunk.test.ts checks): every hinted run is free,
 * contig hints never exceed the largest run, left_free is exact, right_free
 * and first_free are lower bounds (pcpu_block_refresh_hint zeroes right_free
 * and does not rescan a promoted scan hint that reaches the block's end).
 *
 * Finding room: pcpu_find_block_fit walks the block hints (never the bitmap)
 * to the first block, or run across blocks, that can hold the request at its
 * alignment; pcpu_alloc_area then scans at most one block's worth of the
 * bitmap from there. Updates after an allocation or free rescan one block at
 * most and refresh the chunk hint from the block hints. So the cost of an
 * allocation is bounded by the chunk's size, not by how much is allocated.
 *
 * Pages: `populated` has one bit per page (backed in every unit), and
 * `nr_empty_pop_pages` counts pages that are populated and wholly free. A
 * block's hints tell whether its page is empty (`contig_hint` == 1024), so
 * the hint updates count pages made empty or used and keep both the chunk's
 * count and the global `pcpu_nr_empty_pop_pages` (not for the reserved chunk
 * or an isolated one) in step. Sleepable allocations may land on
 * unpopulated pages: they are counted as used at once, and populating adds
 * them back, as in the kernel.
 *
 * The first chunk's static part is never managed. Its reserved part and its
 * dynamic part are each served by a chunk of their own over the same units
 * (pcpu_alloc_first_chunk): `base_addr` rounded down to a page,
 * `start_offset` and `end_offset` hide the bytes before and after the
 * region as allocated, so blocks stay whole pages.
 *
 * Layout in memory: the header (pcpuChunk) followed by the maps and blocks
 * (chunkMetaLayout). Bitmaps are arrays of u32 words, bit i being bit i%32
 * of word i/32: on a little-endian host the same bits as the kernel's
 * unsigned long bitmaps. The code reads them through an Int32Array over
 * the machine's SharedArrayBuffer, so it assumes a little-endian host and
 * checks it.
 *
 * Locking: every method here reads and writes shared state and must run
 * under pcpu_lock (the allocator's spinlock), except the pure layout helpers.
 *
 * Deliberate difference: after a free inside one block, pcpu_block_update_hint_free
 * passes the chunk hint update a block-relative `end` with a chunk-relative
 * start, so a free past the first block never raises the chunk's contig
 * hint. Here the end is chunk-relative too.
 *
 * @example
 * const chunks = new Chunks(memory, { emptyPopPages, nrPopulated }, unitSize, nrCpus);
 * chunks.init(header, base, unitSize / PAGE_SIZE);
 * const start = chunks.findBlockFit(header, 4, 1, false);
 * const off = chunks.allocArea(header, 4, 1, start); // 16 bytes at byte offset `off`
 * chunks.freeArea(header, off);                       // 16
 */

import { alignUp, array, s32, struct, u32 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { listHeadType } from '../segments/list.ts';
import { PAGE_SIZE, type PhysicalMemory } from '../segments/memory.ts';

/** include/linux/percpu.h: the allocation granule. */
export const PCPU_MIN_ALLOC_SHIFT = 2;
export const PCPU_MIN_ALLOC_SIZE = 1 << PCPU_MIN_ALLOC_SHIFT;
/** One metadata block per page of bitmap. */
export const PCPU_BITMAP_BLOCK_SIZE = PAGE_SIZE;
export const PCPU_BITMAP_BLOCK_BITS = PCPU_BITMAP_BLOCK_SIZE >> PCPU_MIN_ALLOC_SHIFT;
const BLOCK_SHIFT = Math.log2(PCPU_BITMAP_BLOCK_BITS);
const BLOCK_MASK = PCPU_BITMAP_BLOCK_BITS - 1;
const BLOCK_WORDS = PCPU_BITMAP_BLOCK_BITS >> 5;
const PAGE_SHIFT = Math.log2(PAGE_SIZE);
// Hot-path constants, module-local (segments/ctype.ts, "Module-local constants").
const PAGE = PAGE_SIZE;

/** Hints about a run of bitmap, all in bits (mm/percpu-internal.h). */
export const pcpuBlockMd = struct('pcpu_block_md', [
  ['scan_hint', s32],
  ['scan_hint_start', s32],
  ['contig_hint', s32],
  ['contig_hint_start', s32],
  ['left_free', s32],
  ['right_free', s32],
  ['first_free', s32],
  ['nr_bits', s32],
]);
const PCPU_BLOCK_MD_W = pcpuBlockMd.word;

/**
 * The chunk header. The maps are addressed through pointers as in the
 * kernel. `reserved` marks pcpu_reserved_chunk, and `live` is 1 from
 * creation to destruction (the emulator's page->private lookup for chunks
 * in the chunk region).
 */
export const pcpuChunk = struct('pcpu_chunk', [
  ['nr_alloc', s32],
  ['max_alloc_size', u32],
  ['list', listHeadType],
  ['free_bytes', s32],
  ['chunk_md', pcpuBlockMd],
  ['base_addr', u32],
  ['alloc_map', u32],
  ['bound_map', u32],
  ['md_blocks', u32],
  ['populated', u32],
  ['immutable', u32],
  ['isolated', u32],
  ['reserved', u32],
  ['live', u32],
  ['start_offset', s32],
  ['end_offset', s32],
  ['nr_pages', s32],
  ['nr_populated', s32],
  ['nr_empty_pop_pages', s32],
]);
const PCPU_CHUNK_W = pcpuChunk.word;
const PCPU_CHUNK_OFF = pcpuChunk.off;

/** Words of a pcpu_block_md. */
const MD_WORDS = pcpuBlockMd.size >> 2;

/** Where a chunk's maps and blocks lie, as byte offsets from its header. */
export interface ChunkMetaLayout {
  readonly allocMap: number;
  readonly boundMap: number;
  readonly mdBlocks: number;
  readonly populated: number;
  /** Bytes of header, maps and blocks together. */
  readonly size: number;
}

/** pcpu_nr_pages_to_map_bits: bitmap bits for `nrPages` pages. */
export const pagesToMapBits = (nrPages: number): number => (nrPages * PAGE) >> PCPU_MIN_ALLOC_SHIFT;

/**
 * The metadata of a chunk of `nrPages` pages: header, alloc_map, bound_map
 * (one bit longer), one pcpu_block_md per page, the populated bitmap.
 *
 * @example
 * chunkMetaLayout(10).size; // 3004 bytes for a 40 KiB unit
 */
export function chunkMetaLayout(nrPages: number): ChunkMetaLayout {
  const bits = pagesToMapBits(nrPages);
  const allocMap = alignUp(pcpuChunk.size, 8);
  const boundMap = alignUp(allocMap + array(u32, Math.ceil(bits / 32)).size, 8);
  const mdBlocks = alignUp(boundMap + array(u32, Math.ceil((bits + 1) / 32)).size, 8);
  const populated = mdBlocks + array(pcpuBlockMd, nrPages).size;
  const size = populated + array(u32, Math.ceil(nrPages / 32)).size;
  return { allocMap, boundMap, mdBlocks, populated, size };
}

// ---- bitmaps of u32 words at word index w0 of `m` --------------------------------

const ctz = (x: number): number => 31 - Math.clz32(x & -x);

/** find_next_bit: the first set bit in [start, size), or size. */
export function findNextBit(m: Int32Array, w0: number, size: number, start: number): number {
  if (start >= size) return size;
  let i = start >>> 5;
  let w = m[w0 + i] & (-1 << (start & 31));
  const last = (size - 1) >>> 5;
  for (;;) {
    if (w !== 0) {
      const bit = (i << 5) + ctz(w);
      return Math.min(bit, size);
    }
    if (++i > last) return size;
    w = m[w0 + i];
  }
}

/** find_next_zero_bit: the first clear bit in [start, size), or size. */
export function findNextZeroBit(m: Int32Array, w0: number, size: number, start: number): number {
  if (start >= size) return size;
  let i = start >>> 5;
  let w = ~m[w0 + i] & (-1 << (start & 31));
  const last = (size - 1) >>> 5;
  for (;;) {
    if (w !== 0) {
      const bit = (i << 5) + ctz(w);
      return Math.min(bit, size);
    }
    if (++i > last) return size;
    w = ~m[w0 + i];
  }
}

/** find_last_bit: the last set bit below `size`, or size when there is none. */
export function findLastBit(m: Int32Array, w0: number, size: number): number {
  if (size <= 0) return size;
  let i = (size - 1) >>> 5;
  let w = m[w0 + i];
  if (size & 31) w &= -1 >>> (32 - (size & 31));
  for (;;) {
    if (w !== 0) return (i << 5) + 31 - Math.clz32(w);
    if (i === 0) return size;
    w = m[w0 + --i];
  }
}

export const testBit = (m: Int32Array, w0: number, bit: number): boolean =>
  ((m[w0 + (bit >>> 5)] >>> (bit & 31)) & 1) !== 0;

/** bitmap_set: sets bits [start, start + n). */
export function bitmapSet(m: Int32Array, w0: number, start: number, n: number): void {
  if (n <= 0) return;
  const end = start + n;
  let i = start >>> 5;
  const last = (end - 1) >>> 5;
  const head = -1 << (start & 31);
  const tail = -1 >>> (31 - ((end - 1) & 31));
  if (i === last) {
    m[w0 + i] |= head & tail;
    return;
  }
  m[w0 + i] |= head;
  for (i++; i < last; i++) m[w0 + i] = -1;
  m[w0 + last] |= tail;
}

/** bitmap_clear: clears bits [start, start + n). */
export function bitmapClear(m: Int32Array, w0: number, start: number, n: number): void {
  if (n <= 0) return;
  const end = start + n;
  let i = start >>> 5;
  const last = (end - 1) >>> 5;
  const head = -1 << (start & 31);
  const tail = -1 >>> (31 - ((end - 1) & 31));
  if (i === last) {
    m[w0 + i] &= ~(head & tail);
    return;
  }
  m[w0 + i] &= ~head;
  for (i++; i < last; i++) m[w0 + i] = 0;
  m[w0 + last] &= ~tail;
}

const alignBits = (x: number, align: number): number => (x + align - 1) & -align;

/**
 * A run of bitmap bits returned as one number, `start * RUN_SPAN + bits`,
 * so the region iterators return both as a value, with no object made and
 * no state kept between calls. Map bits stay below RUN_SPAN (the
 * constructor refuses larger units), so the value is exact. Measured
 * against results left in fields and against a reused result object
 * (bench/percpu.ts's workload, interleaved in one process): no difference
 * beyond the noise of a few percent.
 */
const RUN_SPAN = 2 ** 26;
const packRun = (start: number, bits: number): number => start * RUN_SPAN + bits;
const runStart = (run: number): number => (run / RUN_SPAN) | 0;
const runBits = (run: number): number => run - ((run / RUN_SPAN) | 0) * RUN_SPAN;

/** pcpu_region_overlap: do [a, b) and [x, y) overlap? */
const overlap = (a: number, b: number, x: number, y: number): boolean => a < y && x < b;

/** A 32-bit view of memory, refusing big-endian hosts (the bitmaps are little-endian words). */
function wordView(memory: PhysicalMemory): Int32Array {
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    throw new ErrnoError('ENOSYS', 'the per-CPU allocator needs a little-endian host');
  }
  return new Int32Array(memory.buffer);
}

/** Addresses of the global counters the chunk operations keep in step. */
export interface ChunkCounters {
  /** s32 pcpu_nr_empty_pop_pages. */
  readonly emptyPopPages: number;
  /** u32 pcpu_nr_populated. */
  readonly nrPopulated: number;
}

/**
 * The operations on the chunks of one allocator. Chunks are named by the
 * address of their header; the instance holds views only, so it can be
 * rebuilt from memory at any time.
 */
export class Chunks {
  /** The whole of memory as 32-bit words. */
  readonly m: Int32Array;
  private readonly emptyPopW: number;
  private readonly nrPopulatedW: number;

  constructor(
    readonly memory: PhysicalMemory,
    counters: ChunkCounters,
    /** pcpu_unit_size: the stride between the units of a chunk. */
    readonly unitSize: number,
    /** Units (possible CPUs) per chunk. */
    readonly nrUnits: number,
  ) {
    if (
      !Number.isInteger(unitSize) ||
      unitSize <= 0 ||
      unitSize >> PCPU_MIN_ALLOC_SHIFT >= RUN_SPAN
    ) {
      throw new ErrnoError(
        'EINVAL',
        `unit size ${unitSize} is not a positive size below ${RUN_SPAN << PCPU_MIN_ALLOC_SHIFT} bytes`,
      );
    }
    this.m = wordView(memory);
    this.emptyPopW = counters.emptyPopPages >> 2;
    this.nrPopulatedW = counters.nrPopulated >> 2;
  }

  // ---- plain accessors (pcpu_lock) ----------------------------------------------

  baseAddr(c: number): number {
    return this.m[(c >> 2) + PCPU_CHUNK_W.base_addr] >>> 0;
  }
  nrPages(c: number): number {
    return this.m[(c >> 2) + PCPU_CHUNK_W.nr_pages];
  }
  /** pcpu_chunk_map_bits. */
  mapBits(c: number): number {
    return pagesToMapBits(this.m[(c >> 2) + PCPU_CHUNK_W.nr_pages]);
  }
  freeBytes(c: number): number {
    return this.m[(c >> 2) + PCPU_CHUNK_W.free_bytes];
  }
  contigHint(c: number): number {
    return this.m[(c >> 2) + PCPU_CHUNK_W.chunk_md + PCPU_BLOCK_MD_W.contig_hint];
  }
  isIsolated(c: number): boolean {
    return this.m[(c >> 2) + PCPU_CHUNK_W.isolated] !== 0;
  }
  isReserved(c: number): boolean {
    return this.m[(c >> 2) + PCPU_CHUNK_W.reserved] !== 0;
  }
  /** Word index of the alloc_map. */
  allocMapW(c: number): number {
    return this.m[(c >> 2) + PCPU_CHUNK_W.alloc_map] >> 2;
  }
  boundMapW(c: number): number {
    return this.m[(c >> 2) + PCPU_CHUNK_W.bound_map] >> 2;
  }
  populatedW(c: number): number {
    return this.m[(c >> 2) + PCPU_CHUNK_W.populated] >> 2;
  }
  /** Byte address of block `i`'s pcpu_block_md. */
  block(c: number, i: number): number {
    return (this.m[(c >> 2) + PCPU_CHUNK_W.md_blocks] >>> 0) + i * pcpuBlockMd.size;
  }

  /** pcpu_chunk_addr: where `off` of the chunk lies in CPU `cpu`'s unit. */
  unitAddr(c: number, cpu: number, off: number): number {
    return this.baseAddr(c) + cpu * this.unitSize + off;
  }

  /** pcpu_addr_in_chunk: is `addr` (a CPU 0 address) inside the region the chunk serves? */
  addrInChunk(c: number, addr: number): boolean {
    const cw = c >> 2;
    const base = this.m[cw + PCPU_CHUNK_W.base_addr] >>> 0;
    const start = base + this.m[cw + PCPU_CHUNK_W.start_offset];
    const end =
      base + this.m[cw + PCPU_CHUNK_W.nr_pages] * PAGE - this.m[cw + PCPU_CHUNK_W.end_offset];
    return addr >= start && addr < end;
  }

  // ---- creation ---------------------------------------------------------------------

  /**
   * pcpu_alloc_chunk + pcpu_init_md_blocks: a chunk of `nrPages` pages at
   * `base`, all free and nothing populated, with its metadata at `c`.
   */
  init(c: number, base: number, nrPages: number): void {
    const layout = chunkMetaLayout(nrPages);
    this.memory.fill(c, layout.size, 0);
    const cw = c >> 2;
    const m = this.m;
    m[cw + PCPU_CHUNK_W.base_addr] = base;
    m[cw + PCPU_CHUNK_W.alloc_map] = c + layout.allocMap;
    m[cw + PCPU_CHUNK_W.bound_map] = c + layout.boundMap;
    m[cw + PCPU_CHUNK_W.md_blocks] = c + layout.mdBlocks;
    m[cw + PCPU_CHUNK_W.populated] = c + layout.populated;
    m[cw + PCPU_CHUNK_W.nr_pages] = nrPages;
    m[cw + PCPU_CHUNK_W.live] = 1;
    const list = c + PCPU_CHUNK_OFF.list;
    m[cw + PCPU_CHUNK_W.list] = list;
    m[cw + PCPU_CHUNK_W.list + 1] = list;
    this.initMdBlock(cw + PCPU_CHUNK_W.chunk_md, pagesToMapBits(nrPages));
    const blocks = m[cw + PCPU_CHUNK_W.md_blocks] >> 2;
    for (let i = 0; i < nrPages; i++) {
      this.initMdBlock(blocks + i * MD_WORDS, PCPU_BITMAP_BLOCK_BITS);
    }
    m[cw + PCPU_CHUNK_W.free_bytes] = nrPages * PAGE_SIZE;
  }

  /** pcpu_init_md_block on the block at word `b`. */
  private initMdBlock(b: number, nrBits: number): void {
    const m = this.m;
    m[b + PCPU_BLOCK_MD_W.scan_hint] = 0;
    m[b + PCPU_BLOCK_MD_W.contig_hint] = nrBits;
    m[b + PCPU_BLOCK_MD_W.left_free] = nrBits;
    m[b + PCPU_BLOCK_MD_W.right_free] = nrBits;
    m[b + PCPU_BLOCK_MD_W.first_free] = 0;
    m[b + PCPU_BLOCK_MD_W.nr_bits] = nrBits;
  }

  /**
   * The size of the metadata at `c` for a first-chunk region: pcpu_alloc_first_chunk
   * rounds `tmpAddr` down to a page and `tmpAddr + mapSize` up to one.
   */
  static firstChunkPages(tmpAddr: number, mapSize: number): number {
    const startOffset = tmpAddr % PAGE_SIZE;
    return alignUp(startOffset + mapSize, PAGE_SIZE) / PAGE_SIZE;
  }

  /**
   * pcpu_alloc_first_chunk: a chunk serving [tmpAddr, tmpAddr + mapSize) of
   * the first chunk, fully populated and immutable, the bytes before and
   * after hidden as allocated. `reserved` marks pcpu_reserved_chunk, which
   * is kept out of the global empty-page count.
   */
  initFirst(c: number, tmpAddr: number, mapSize: number, reserved: boolean): void {
    const startOffset = tmpAddr % PAGE_SIZE;
    const nrPages = Chunks.firstChunkPages(tmpAddr, mapSize);
    const regionBits = pagesToMapBits(nrPages);
    this.init(c, tmpAddr - startOffset, nrPages);
    const cw = c >> 2;
    const m = this.m;
    m[cw + PCPU_CHUNK_W.reserved] = reserved ? 1 : 0;
    m[cw + PCPU_CHUNK_W.start_offset] = startOffset;
    const endOffset = nrPages * PAGE_SIZE - startOffset - mapSize;
    m[cw + PCPU_CHUNK_W.end_offset] = endOffset;
    m[cw + PCPU_CHUNK_W.immutable] = 1;
    bitmapSet(m, this.populatedW(c), 0, nrPages);
    m[cw + PCPU_CHUNK_W.nr_populated] = nrPages;
    m[cw + PCPU_CHUNK_W.nr_empty_pop_pages] = nrPages;
    m[cw + PCPU_CHUNK_W.free_bytes] = mapSize;
    const alloc = this.allocMapW(c);
    const bound = this.boundMapW(c);
    if (startOffset) {
      const bits = startOffset >> PCPU_MIN_ALLOC_SHIFT;
      bitmapSet(m, alloc, 0, bits);
      bitmapSet(m, bound, 0, 1);
      bitmapSet(m, bound, bits, 1);
      m[cw + PCPU_CHUNK_W.chunk_md + PCPU_BLOCK_MD_W.first_free] = bits;
      this.blockUpdateHintAlloc(c, 0, bits);
    }
    if (endOffset) {
      const bits = endOffset >> PCPU_MIN_ALLOC_SHIFT;
      bitmapSet(m, alloc, regionBits - bits, bits);
      bitmapSet(m, bound, (startOffset + mapSize) >> PCPU_MIN_ALLOC_SHIFT, 1);
      bitmapSet(m, bound, regionBits, 1);
      this.blockUpdateHintAlloc(c, regionBits - bits, bits);
    }
  }

  // ---- page bookkeeping ----------------------------------------------------------------

  /** pcpu_nr_empty_pop_pages, the global count of empty populated pages. */
  get globalEmptyPages(): number {
    return this.m[this.emptyPopW];
  }

  /** Adds `nr` to pcpu_nr_empty_pop_pages (isolation and reintegration). */
  updateGlobalEmptyPages(nr: number): void {
    this.m[this.emptyPopW] += nr;
  }

  /** pcpu_update_empty_pages: `nr` more (or fewer) empty populated pages in `c`. */
  updateEmptyPages(c: number, nr: number): void {
    const cw = c >> 2;
    this.m[cw + PCPU_CHUNK_W.nr_empty_pop_pages] += nr;
    if (this.m[cw + PCPU_CHUNK_W.reserved] === 0 && this.m[cw + PCPU_CHUNK_W.isolated] === 0) {
      this.m[this.emptyPopW] += nr;
    }
  }

  /** pcpu_chunk_populated: pages [start, end), all free, are now backed in every unit. */
  populated(c: number, start: number, end: number): void {
    const nr = end - start;
    bitmapSet(this.m, this.populatedW(c), start, nr);
    this.m[(c >> 2) + PCPU_CHUNK_W.nr_populated] += nr;
    this.m[this.nrPopulatedW] += nr;
    this.updateEmptyPages(c, nr);
  }

  /** pcpu_chunk_depopulated: pages [start, end), all free, are no longer backed. */
  depopulated(c: number, start: number, end: number): void {
    const nr = end - start;
    bitmapClear(this.m, this.populatedW(c), start, nr);
    this.m[(c >> 2) + PCPU_CHUNK_W.nr_populated] -= nr;
    this.m[this.nrPopulatedW] -= nr;
    this.updateEmptyPages(c, -nr);
  }

  /**
   * The populating half of pcpu_alloc: backs the unpopulated pages under
   * bytes [start, end) of the chunk (pcpu_populate_chunk, nothing to do in
   * this memory) and records them (pcpu_chunk_populated).
   */
  populateRange(c: number, start: number, end: number): void {
    const m = this.m;
    const pop = this.populatedW(c);
    const pageEnd = (end + PAGE - 1) >> PAGE_SHIFT;
    let rs = findNextZeroBit(m, pop, pageEnd, start >> PAGE_SHIFT);
    while (rs < pageEnd) {
      const re = findNextBit(m, pop, pageEnd, rs + 1);
      this.populated(c, rs, re);
      rs = findNextZeroBit(m, pop, pageEnd, re + 1);
    }
  }

  /** Is page `page` of the chunk populated? */
  isPagePopulated(c: number, page: number): boolean {
    return testBit(this.m, this.populatedW(c), page);
  }

  /** Is page `page` wholly free (its block's contig hint covers it)? */
  isPageEmpty(c: number, page: number): boolean {
    return (
      this.m[(this.block(c, page) >> 2) + PCPU_BLOCK_MD_W.contig_hint] === PCPU_BITMAP_BLOCK_BITS
    );
  }

  /**
   * The first run of pages in [from, nrPages) whose populated bit equals
   * `set`: returns its start, nrPages when there is none (pageRunEnd gives
   * its end).
   */
  nextPageRun(c: number, from: number, set: boolean): number {
    const pop = this.populatedW(c);
    const n = this.nrPages(c);
    return set ? findNextBit(this.m, pop, n, from) : findNextZeroBit(this.m, pop, n, from);
  }

  /** The end of the run of pages from `start` whose populated bit equals `set` (nrPages at most). */
  pageRunEnd(c: number, start: number, set: boolean): number {
    const pop = this.populatedW(c);
    const n = this.nrPages(c);
    if (start >= n) return n;
    return set
      ? findNextZeroBit(this.m, pop, n, start + 1)
      : findNextBit(this.m, pop, n, start + 1);
  }

  // ---- hints -------------------------------------------------------------------------

  /**
   * pcpu_block_update: the block (or chunk_md) at word `b` has the whole
   * free run [start, end) (in its own bits). Updates first_free, the edge
   * runs, and the contig and scan hints, preferring the better-aligned start
   * between equal runs.
   */
  blockUpdate(b: number, start: number, end: number): void {
    const m = this.m;
    const contig = end - start;
    if (start < m[b + PCPU_BLOCK_MD_W.first_free]) m[b + PCPU_BLOCK_MD_W.first_free] = start;
    if (start === 0) m[b + PCPU_BLOCK_MD_W.left_free] = contig;
    if (end === m[b + PCPU_BLOCK_MD_W.nr_bits]) m[b + PCPU_BLOCK_MD_W.right_free] = contig;
    const hint = m[b + PCPU_BLOCK_MD_W.contig_hint];
    const hintStart = m[b + PCPU_BLOCK_MD_W.contig_hint_start];
    if (contig > hint) {
      // The old contig hint becomes the scan hint when it lies before the new one.
      if (start > hintStart) {
        if (hint > m[b + PCPU_BLOCK_MD_W.scan_hint]) {
          m[b + PCPU_BLOCK_MD_W.scan_hint_start] = hintStart;
          m[b + PCPU_BLOCK_MD_W.scan_hint] = hint;
        } else if (start < m[b + PCPU_BLOCK_MD_W.scan_hint_start]) {
          m[b + PCPU_BLOCK_MD_W.scan_hint] = 0;
        }
      } else {
        m[b + PCPU_BLOCK_MD_W.scan_hint] = 0;
      }
      m[b + PCPU_BLOCK_MD_W.contig_hint_start] = start;
      m[b + PCPU_BLOCK_MD_W.contig_hint] = contig;
    } else if (contig === hint) {
      if (hintStart !== 0 && (start === 0 || ctz(start) > ctz(hintStart))) {
        m[b + PCPU_BLOCK_MD_W.contig_hint_start] = start;
        if (
          start < m[b + PCPU_BLOCK_MD_W.scan_hint_start] &&
          hint > m[b + PCPU_BLOCK_MD_W.scan_hint]
        ) {
          m[b + PCPU_BLOCK_MD_W.scan_hint] = 0;
        }
      } else if (
        start > m[b + PCPU_BLOCK_MD_W.scan_hint_start] ||
        hint > m[b + PCPU_BLOCK_MD_W.scan_hint]
      ) {
        m[b + PCPU_BLOCK_MD_W.scan_hint_start] = start;
        m[b + PCPU_BLOCK_MD_W.scan_hint] = contig;
      }
    } else if (
      start < hintStart &&
      (contig > m[b + PCPU_BLOCK_MD_W.scan_hint] ||
        (contig === m[b + PCPU_BLOCK_MD_W.scan_hint] &&
          start > m[b + PCPU_BLOCK_MD_W.scan_hint_start]))
    ) {
      m[b + PCPU_BLOCK_MD_W.scan_hint_start] = start;
      m[b + PCPU_BLOCK_MD_W.scan_hint] = contig;
    }
  }

  /**
   * pcpu_block_update_scan: a free run an aligned scan skipped over; extends
   * it backwards to the previous allocated bit and records it in its block.
   */
  private blockUpdateScan(c: number, bitOff: number, bits: number): void {
    let sOff = bitOff & BLOCK_MASK;
    const eOff = sOff + bits;
    if (eOff > PCPU_BITMAP_BLOCK_BITS) return;
    const sIndex = bitOff >> BLOCK_SHIFT;
    const lBit = findLastBit(this.m, this.allocMapW(c) + sIndex * BLOCK_WORDS, sOff);
    sOff = sOff === lBit ? 0 : lBit + 1;
    this.blockUpdate(this.block(c, sIndex) >> 2, sOff, eOff);
  }

  /**
   * pcpu_next_md_free_region: the next free run at or after `bitOff`, found
   * from block hints alone (runs across blocks joined through right_free and
   * left_free). Returns the run packed (packRun); its start is >= map bits
   * when there is none.
   */
  private nextMdFreeRegion(c: number, bitOff: number): number {
    const m = this.m;
    const nrBlocks = this.nrPages(c);
    let i = bitOff >> BLOCK_SHIFT;
    let blockOff = bitOff & BLOCK_MASK;
    let bits = 0;
    let b = (this.block(c, i) >> 2) | 0;
    for (; i < nrBlocks; i++, b += MD_WORDS) {
      if (bits) {
        bits += m[b + PCPU_BLOCK_MD_W.left_free];
        if (m[b + PCPU_BLOCK_MD_W.left_free] === PCPU_BITMAP_BLOCK_BITS) continue;
        return packRun(bitOff, bits);
      }
      bits = m[b + PCPU_BLOCK_MD_W.contig_hint];
      const hs = m[b + PCPU_BLOCK_MD_W.contig_hint_start];
      if (bits && hs >= blockOff && bits + hs < PCPU_BITMAP_BLOCK_BITS) {
        return packRun((i << BLOCK_SHIFT) + hs, bits);
      }
      blockOff = 0;
      bits = m[b + PCPU_BLOCK_MD_W.right_free];
      bitOff = ((i + 1) << BLOCK_SHIFT) - bits;
    }
    return packRun(bitOff, bits);
  }

  /**
   * pcpu_next_fit_region: the next place at or after `bitOff` where
   * `allocBits` at `align` (in bits) fit, by block hints. Inside a block
   * whose contig hint fits, it starts at first_free (or past the scan hint)
   * so pcpu_alloc_area can fill earlier holes first. Returns the run packed
   * (packRun); its start is the map bits when nothing fits.
   */
  private nextFitRegion(c: number, allocBits: number, align: number, bitOff: number): number {
    const m = this.m;
    const nrBlocks = this.nrPages(c);
    let i = bitOff >> BLOCK_SHIFT;
    let blockOff = bitOff & BLOCK_MASK;
    let bits = 0;
    let b = (this.block(c, i) >> 2) | 0;
    for (; i < nrBlocks; i++, b += MD_WORDS) {
      if (bits) {
        bits += m[b + PCPU_BLOCK_MD_W.left_free];
        if (bits >= allocBits) return packRun(bitOff, bits);
        if (m[b + PCPU_BLOCK_MD_W.left_free] === PCPU_BITMAP_BLOCK_BITS) continue;
      }
      const hint = m[b + PCPU_BLOCK_MD_W.contig_hint];
      const hs = m[b + PCPU_BLOCK_MD_W.contig_hint_start];
      bits = alignBits(hs, align) - hs;
      if (hint && hs >= blockOff && hint >= bits + allocBits) {
        const start = this.nextHint(b, allocBits);
        return packRun((i << BLOCK_SHIFT) + start, bits + allocBits + hs - start);
      }
      blockOff = 0;
      const tail = alignBits(PCPU_BITMAP_BLOCK_BITS - m[b + PCPU_BLOCK_MD_W.right_free], align);
      bits = PCPU_BITMAP_BLOCK_BITS - tail;
      bitOff = (i << BLOCK_SHIFT) + tail;
      if (bits >= allocBits) return packRun(bitOff, bits);
    }
    return packRun(this.mapBits(c), 0);
  }

  /**
   * pcpu_next_hint: where a first-fit scan of the block at word `b` should
   * start: past the scan hint when that run is before the contig hint and
   * too small for the request, else at first_free.
   */
  private nextHint(b: number, allocBits: number): number {
    const m = this.m;
    const scan = m[b + PCPU_BLOCK_MD_W.scan_hint];
    if (
      scan &&
      m[b + PCPU_BLOCK_MD_W.contig_hint_start] > m[b + PCPU_BLOCK_MD_W.scan_hint_start] &&
      allocBits > scan
    ) {
      return m[b + PCPU_BLOCK_MD_W.scan_hint_start] + scan;
    }
    return m[b + PCPU_BLOCK_MD_W.first_free];
  }

  /**
   * pcpu_chunk_refresh_hint: rebuilds chunk_md's contig hint from the block
   * hints, from the scan hint (promoted to contig hint) unless `fullScan`,
   * else from first_free.
   */
  private chunkRefreshHint(c: number, fullScan: boolean): void {
    const m = this.m;
    const md = (c >> 2) + PCPU_CHUNK_W.chunk_md;
    let bitOff: number;
    if (!fullScan && m[md + PCPU_BLOCK_MD_W.scan_hint]) {
      bitOff = m[md + PCPU_BLOCK_MD_W.scan_hint_start] + m[md + PCPU_BLOCK_MD_W.scan_hint];
      m[md + PCPU_BLOCK_MD_W.contig_hint_start] = m[md + PCPU_BLOCK_MD_W.scan_hint_start];
      m[md + PCPU_BLOCK_MD_W.contig_hint] = m[md + PCPU_BLOCK_MD_W.scan_hint];
      m[md + PCPU_BLOCK_MD_W.scan_hint] = 0;
    } else {
      bitOff = m[md + PCPU_BLOCK_MD_W.first_free];
      m[md + PCPU_BLOCK_MD_W.contig_hint] = 0;
    }
    const mapBits = this.mapBits(c);
    for (let run = this.nextMdFreeRegion(c, bitOff); runStart(run) < mapBits; ) {
      const off = runStart(run);
      const end = off + runBits(run);
      this.blockUpdate(md, off, end);
      run = this.nextMdFreeRegion(c, end + 1);
    }
  }

  /**
   * pcpu_block_refresh_hint: rescans block `index` of the bitmap from its
   * scan hint (promoted) or first_free and rebuilds its hints.
   */
  private blockRefreshHint(c: number, index: number): void {
    const m = this.m;
    const b = this.block(c, index) >> 2;
    const map = this.allocMapW(c) + index * BLOCK_WORDS;
    let start: number;
    if (m[b + PCPU_BLOCK_MD_W.scan_hint]) {
      start = m[b + PCPU_BLOCK_MD_W.scan_hint_start] + m[b + PCPU_BLOCK_MD_W.scan_hint];
      m[b + PCPU_BLOCK_MD_W.contig_hint_start] = m[b + PCPU_BLOCK_MD_W.scan_hint_start];
      m[b + PCPU_BLOCK_MD_W.contig_hint] = m[b + PCPU_BLOCK_MD_W.scan_hint];
      m[b + PCPU_BLOCK_MD_W.scan_hint] = 0;
    } else {
      start = m[b + PCPU_BLOCK_MD_W.first_free];
      m[b + PCPU_BLOCK_MD_W.contig_hint] = 0;
    }
    m[b + PCPU_BLOCK_MD_W.right_free] = 0;
    for (;;) {
      start = findNextZeroBit(m, map, PCPU_BITMAP_BLOCK_BITS, start);
      if (start >= PCPU_BITMAP_BLOCK_BITS) return;
      const end = findNextBit(m, map, PCPU_BITMAP_BLOCK_BITS, start + 1);
      this.blockUpdate(b, start, end);
      start = end + 1;
    }
  }

  /**
   * pcpu_block_update_hint_alloc: bits [bitOff, bitOff + bits) were just
   * allocated. Fixes the first and last block's hints (rescanning a block
   * only if its contig hint was hit), zeroes the blocks in between, counts
   * the pages that stopped being empty, and refreshes the chunk hint if the
   * allocation hit it.
   */
  blockUpdateHintAlloc(c: number, bitOff: number, bits: number): void {
    const m = this.m;
    const md = (c >> 2) + PCPU_CHUNK_W.chunk_md;
    const alloc = this.allocMapW(c);
    const sIndex = bitOff >> BLOCK_SHIFT;
    const eIndex = (bitOff + bits - 1) >> BLOCK_SHIFT;
    const sOff = bitOff & BLOCK_MASK;
    const eOff = ((bitOff + bits - 1) & BLOCK_MASK) + 1;
    const blocks = this.block(c, 0) >> 2;
    const s = blocks + sIndex * MD_WORDS;
    let e = blocks + eIndex * MD_WORDS;
    let nrEmptyPages = 0;

    if (m[s + PCPU_BLOCK_MD_W.contig_hint] === PCPU_BITMAP_BLOCK_BITS) nrEmptyPages++;
    if (sOff === m[s + PCPU_BLOCK_MD_W.first_free]) {
      m[s + PCPU_BLOCK_MD_W.first_free] = findNextZeroBit(
        m,
        alloc + sIndex * BLOCK_WORDS,
        PCPU_BITMAP_BLOCK_BITS,
        sOff + bits,
      );
    }
    if (
      overlap(
        m[s + PCPU_BLOCK_MD_W.scan_hint_start],
        m[s + PCPU_BLOCK_MD_W.scan_hint_start] + m[s + PCPU_BLOCK_MD_W.scan_hint],
        sOff,
        sOff + bits,
      )
    ) {
      m[s + PCPU_BLOCK_MD_W.scan_hint] = 0;
    }
    if (
      overlap(
        m[s + PCPU_BLOCK_MD_W.contig_hint_start],
        m[s + PCPU_BLOCK_MD_W.contig_hint_start] + m[s + PCPU_BLOCK_MD_W.contig_hint],
        sOff,
        sOff + bits,
      )
    ) {
      if (sOff === 0) m[s + PCPU_BLOCK_MD_W.left_free] = 0;
      this.blockRefreshHint(c, sIndex);
    } else {
      m[s + PCPU_BLOCK_MD_W.left_free] = Math.min(m[s + PCPU_BLOCK_MD_W.left_free], sOff);
      m[s + PCPU_BLOCK_MD_W.right_free] =
        sIndex === eIndex
          ? Math.min(m[s + PCPU_BLOCK_MD_W.right_free], PCPU_BITMAP_BLOCK_BITS - eOff)
          : 0;
    }

    if (sIndex !== eIndex) {
      if (m[e + PCPU_BLOCK_MD_W.contig_hint] === PCPU_BITMAP_BLOCK_BITS) nrEmptyPages++;
      m[e + PCPU_BLOCK_MD_W.first_free] = findNextZeroBit(
        m,
        alloc + eIndex * BLOCK_WORDS,
        PCPU_BITMAP_BLOCK_BITS,
        eOff,
      );
      if (eOff === PCPU_BITMAP_BLOCK_BITS) {
        // The last block is wholly taken: reset it with the ones in between.
        e += MD_WORDS;
      } else {
        if (eOff > m[e + PCPU_BLOCK_MD_W.scan_hint_start]) m[e + PCPU_BLOCK_MD_W.scan_hint] = 0;
        m[e + PCPU_BLOCK_MD_W.left_free] = 0;
        if (eOff > m[e + PCPU_BLOCK_MD_W.contig_hint_start]) {
          this.blockRefreshHint(c, eIndex);
        } else {
          m[e + PCPU_BLOCK_MD_W.right_free] = Math.min(
            m[e + PCPU_BLOCK_MD_W.right_free],
            PCPU_BITMAP_BLOCK_BITS - eOff,
          );
        }
      }
      nrEmptyPages += eIndex - sIndex - 1;
      for (let b = s + MD_WORDS; b < e; b += MD_WORDS) {
        m[b + PCPU_BLOCK_MD_W.scan_hint] = 0;
        m[b + PCPU_BLOCK_MD_W.contig_hint] = 0;
        m[b + PCPU_BLOCK_MD_W.left_free] = 0;
        m[b + PCPU_BLOCK_MD_W.right_free] = 0;
      }
    }

    if (nrEmptyPages) this.updateEmptyPages(c, -nrEmptyPages);
    if (
      overlap(
        m[md + PCPU_BLOCK_MD_W.scan_hint_start],
        m[md + PCPU_BLOCK_MD_W.scan_hint_start] + m[md + PCPU_BLOCK_MD_W.scan_hint],
        bitOff,
        bitOff + bits,
      )
    ) {
      m[md + PCPU_BLOCK_MD_W.scan_hint] = 0;
    }
    if (
      overlap(
        m[md + PCPU_BLOCK_MD_W.contig_hint_start],
        m[md + PCPU_BLOCK_MD_W.contig_hint_start] + m[md + PCPU_BLOCK_MD_W.contig_hint],
        bitOff,
        bitOff + bits,
      )
    ) {
      this.chunkRefreshHint(c, false);
    }
  }

  /**
   * pcpu_block_update_hint_free: bits [bitOff, bitOff + bits) were just
   * freed. Finds the whole free run around them (from the contig hints when
   * they touch, else by scanning within the edge blocks), updates the edge
   * blocks, resets the blocks in between to empty, counts pages made empty,
   * and updates the chunk hint (a full refresh when the run spans blocks).
   */
  blockUpdateHintFree(c: number, bitOff: number, bits: number): void {
    const m = this.m;
    const alloc = this.allocMapW(c);
    const sIndex = bitOff >> BLOCK_SHIFT;
    const eIndex = (bitOff + bits - 1) >> BLOCK_SHIFT;
    const sOff = bitOff & BLOCK_MASK;
    const eOff = ((bitOff + bits - 1) & BLOCK_MASK) + 1;
    const blocks = this.block(c, 0) >> 2;
    const s = blocks + sIndex * MD_WORDS;
    const e = blocks + eIndex * MD_WORDS;
    let nrEmptyPages = 0;

    let start = sOff;
    if (sOff === m[s + PCPU_BLOCK_MD_W.contig_hint] + m[s + PCPU_BLOCK_MD_W.contig_hint_start]) {
      start = m[s + PCPU_BLOCK_MD_W.contig_hint_start];
    } else {
      const l = findLastBit(m, alloc + sIndex * BLOCK_WORDS, start);
      start = l === start ? 0 : l + 1;
    }
    let end: number;
    if (eOff === m[e + PCPU_BLOCK_MD_W.contig_hint_start]) {
      end = m[e + PCPU_BLOCK_MD_W.contig_hint_start] + m[e + PCPU_BLOCK_MD_W.contig_hint];
    } else {
      end = findNextBit(m, alloc + eIndex * BLOCK_WORDS, PCPU_BITMAP_BLOCK_BITS, eOff);
    }

    const sEnd = sIndex === eIndex ? end : PCPU_BITMAP_BLOCK_BITS;
    if (start === 0 && sEnd === PCPU_BITMAP_BLOCK_BITS) nrEmptyPages++;
    this.blockUpdate(s, start, sEnd);

    if (sIndex !== eIndex) {
      if (end === PCPU_BITMAP_BLOCK_BITS) nrEmptyPages++;
      this.blockUpdate(e, 0, end);
      nrEmptyPages += eIndex - sIndex - 1;
      for (let b = s + MD_WORDS; b < e; b += MD_WORDS) {
        m[b + PCPU_BLOCK_MD_W.first_free] = 0;
        m[b + PCPU_BLOCK_MD_W.scan_hint] = 0;
        m[b + PCPU_BLOCK_MD_W.contig_hint_start] = 0;
        m[b + PCPU_BLOCK_MD_W.contig_hint] = PCPU_BITMAP_BLOCK_BITS;
        m[b + PCPU_BLOCK_MD_W.left_free] = PCPU_BITMAP_BLOCK_BITS;
        m[b + PCPU_BLOCK_MD_W.right_free] = PCPU_BITMAP_BLOCK_BITS;
      }
    }

    if (nrEmptyPages) this.updateEmptyPages(c, nrEmptyPages);
    if (end - start >= PCPU_BITMAP_BLOCK_BITS || sIndex !== eIndex) {
      this.chunkRefreshHint(c, true);
    } else {
      const base = sIndex << BLOCK_SHIFT;
      this.blockUpdate((c >> 2) + PCPU_CHUNK_W.chunk_md, base + start, base + end);
    }
  }

  // ---- finding and taking areas -------------------------------------------------------

  /**
   * pcpu_is_populated: -1 when the pages under bits [bitOff, bitOff + bits)
   * are all populated, else the bit just past the first unpopulated run
   * (where the search goes on).
   */
  private unpopulatedEnd(c: number, bitOff: number, bits: number): number {
    const m = this.m;
    const pop = this.populatedW(c);
    let start = (bitOff << PCPU_MIN_ALLOC_SHIFT) >> PAGE_SHIFT;
    let end = ((bitOff + bits) * PCPU_MIN_ALLOC_SIZE + PAGE - 1) >> PAGE_SHIFT;
    start = findNextZeroBit(m, pop, end, start);
    if (start >= end) return -1;
    end = findNextBit(m, pop, end, start + 1);
    return (end * PAGE) >> PCPU_MIN_ALLOC_SHIFT;
  }

  /**
   * pcpu_find_block_fit: the bit at which to start scanning for `allocBits`
   * at `align` (bits), or -1. Refuses at once when the chunk's contig hint
   * cannot hold the request; with `popOnly` (atomic allocations) skips
   * regions on unpopulated pages.
   */
  findBlockFit(c: number, allocBits: number, align: number, popOnly: boolean): number {
    const m = this.m;
    const md = (c >> 2) + PCPU_CHUNK_W.chunk_md;
    const hs = m[md + PCPU_BLOCK_MD_W.contig_hint_start];
    if (alignBits(hs, align) - hs + allocBits > m[md + PCPU_BLOCK_MD_W.contig_hint]) return -1;
    const mapBits = this.mapBits(c);
    for (let run = this.nextFitRegion(c, allocBits, align, this.nextHint(md, allocBits)); ; ) {
      const start = runStart(run);
      if (start >= mapBits) return -1;
      if (!popOnly) return start;
      const next = this.unpopulatedEnd(c, start, runBits(run));
      if (next < 0) return start;
      run = this.nextFitRegion(c, allocBits, align, next);
    }
  }

  /**
   * pcpu_find_zero_area: the first aligned run of `nr` clear bits in
   * [start, size) of chunk `c`'s alloc map, or a value > size - nr. When it
   * finds one, the largest run it skipped (best aligned among equals) is
   * recorded as its block's scan hint, as pcpu_alloc_area does with
   * pcpu_block_update_scan.
   */
  private findZeroArea(
    c: number,
    size: number,
    start: number,
    nr: number,
    alignMask: number,
  ): number {
    const m = this.m;
    const w0 = this.allocMapW(c);
    let largestOff = 0;
    let largestBits = 0;
    for (;;) {
      let index = findNextZeroBit(m, w0, size, start);
      index = (index + alignMask) & ~alignMask;
      const end = index + nr;
      if (end > size) return end;
      const i = findNextBit(m, w0, end, index);
      if (i >= end) {
        if (largestBits) this.blockUpdateScan(c, largestOff, largestBits);
        return index;
      }
      const areaBits = i - index;
      if (
        areaBits > largestBits ||
        (areaBits === largestBits &&
          largestOff !== 0 &&
          (index === 0 || ctz(index) > ctz(largestOff)))
      ) {
        largestOff = index;
        largestBits = areaBits;
      }
      start = i + 1;
    }
  }

  /**
   * pcpu_alloc_area: allocates `allocBits` at `align` (bits), scanning at
   * most a block past `start`. Updates both maps, free_bytes and the hints.
   * Returns the byte offset in the chunk, or -1. The caller relocates the
   * chunk among the slots.
   */
  allocArea(c: number, allocBits: number, align: number, start: number): number {
    const m = this.m;
    const cw = c >> 2;
    const mapBits = this.mapBits(c);
    const alloc = this.allocMapW(c);
    const end = Math.min(start + allocBits + PCPU_BITMAP_BLOCK_BITS, mapBits);
    const bitOff = this.findZeroArea(c, end, start, allocBits, align - 1);
    if (bitOff >= end) return -1;

    bitmapSet(m, alloc, bitOff, allocBits);
    const bound = this.boundMapW(c);
    bitmapSet(m, bound, bitOff, 1);
    bitmapClear(m, bound, bitOff + 1, allocBits - 1);
    bitmapSet(m, bound, bitOff + allocBits, 1);
    m[cw + PCPU_CHUNK_W.free_bytes] -= allocBits << PCPU_MIN_ALLOC_SHIFT;
    if (bitOff === m[cw + PCPU_CHUNK_W.chunk_md + PCPU_BLOCK_MD_W.first_free]) {
      m[cw + PCPU_CHUNK_W.chunk_md + PCPU_BLOCK_MD_W.first_free] = findNextZeroBit(
        m,
        alloc,
        mapBits,
        bitOff + allocBits,
      );
    }
    this.blockUpdateHintAlloc(c, bitOff, allocBits);
    return bitOff << PCPU_MIN_ALLOC_SHIFT;
  }

  /**
   * The size in bytes of the live allocation starting at byte offset `off`,
   * or 0 when no live allocation starts there.
   */
  areaSize(c: number, off: number): number {
    const cw = c >> 2;
    const m = this.m;
    if (off % PCPU_MIN_ALLOC_SIZE !== 0) return 0;
    if (off < m[cw + PCPU_CHUNK_W.start_offset]) return 0;
    if (off >= m[cw + PCPU_CHUNK_W.nr_pages] * PAGE - m[cw + PCPU_CHUNK_W.end_offset]) return 0;
    const bit = off >> PCPU_MIN_ALLOC_SHIFT;
    const bound = this.boundMapW(c);
    if (!testBit(m, this.allocMapW(c), bit) || !testBit(m, bound, bit)) return 0;
    return (findNextBit(m, bound, this.mapBits(c), bit + 1) - bit) << PCPU_MIN_ALLOC_SHIFT;
  }

  /**
   * pcpu_free_area: frees the allocation at byte offset `off` (which must
   * start a live allocation: see areaSize) and returns its size in bytes.
   * The caller relocates the chunk among the slots.
   */
  freeArea(c: number, off: number): number {
    const m = this.m;
    const cw = c >> 2;
    const bitOff = off >> PCPU_MIN_ALLOC_SHIFT;
    const end = findNextBit(m, this.boundMapW(c), this.mapBits(c), bitOff + 1);
    const bits = end - bitOff;
    bitmapClear(m, this.allocMapW(c), bitOff, bits);
    const freed = bits << PCPU_MIN_ALLOC_SHIFT;
    m[cw + PCPU_CHUNK_W.free_bytes] += freed;
    if (bitOff < m[cw + PCPU_CHUNK_W.chunk_md + PCPU_BLOCK_MD_W.first_free])
      m[cw + PCPU_CHUNK_W.chunk_md + PCPU_BLOCK_MD_W.first_free] = bitOff;
    this.blockUpdateHintFree(c, bitOff, bits);
    return freed;
  }
}
