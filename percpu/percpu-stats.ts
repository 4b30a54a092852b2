/**
 * Statistics of the per-CPU allocator, as the kernel keeps them with
 * CONFIG_PERCPU_STATS (mm/percpu-internal.h) and prints them in debugfs
 * `percpu_stats` (mm/percpu-stats.c), plus the `Percpu:` line of
 * /proc/meminfo.
 *
 * `struct percpu_stats` lives in the allocator's state in emulated memory
 * and is updated under pcpu_lock by the helpers below (the kernel's
 * pcpu_stats_area_alloc and friends). Per-chunk figures are computed when
 * asked, by walking each chunk's bitmaps as chunk_map_stats does: the
 * region from the chunk's start to its last allocation is cut into
 * allocations (positive sizes, ends found in the bound map) and free
 * fragments (negative), sorted; the free ones give sum_frag and max_frag,
 * the allocated ones the min, median and max of live allocations.
 *
 * One difference from chunk_map_stats: it looks for the last allocated bit
 * below `map_bits - end_offset bits - 1`, so the final 4 bytes of a chunk
 * are left out; here they count.
 *
 * @example
 * console.log(formatPercpuStats(percpuStats(allocator)));
 * meminfoPercpu(allocator); // 'Percpu:              640 kB'
 */

import { struct, u32, u64 } from '../segments/ctype.ts';
import { PAGE_SIZE } from '../segments/memory.ts';
import type { PercpuAllocator } from './allocator.ts';
import {
  findLastBit,
  findNextBit,
  PCPU_MIN_ALLOC_SHIFT,
  PCPU_MIN_ALLOC_SIZE,
  pcpuBlockMd,
  pcpuChunk,
  testBit,
} from './chunk.ts';

const PCPU_CHUNK_W = pcpuChunk.word;
const PCPU_BLOCK_MD_W = pcpuBlockMd.word;

/** struct percpu_stats (sizes in bytes). */
export const percpuStatsType = struct('percpu_stats', [
  ['nr_alloc', u64],
  ['nr_dealloc', u64],
  ['nr_cur_alloc', u64],
  ['nr_max_alloc', u64],
  ['nr_chunks', u32],
  ['nr_max_chunks', u32],
  ['min_alloc_size', u64],
  ['max_alloc_size', u64],
]);
const PERCPU_STATS_W = percpuStatsType.word;

const TWO_32 = 2 ** 32;
const get64 = (m: Int32Array, w: number): number => (m[w + 1] >>> 0) * TWO_32 + (m[w] >>> 0);
function set64(m: Int32Array, w: number, v: number): void {
  m[w] = v >>> 0;
  m[w + 1] = Math.floor(v / TWO_32);
}

// ---- updates (pcpu_lock held; `s` is the word index of the struct) -------------------

/** pcpu_stats_save_ai: min_alloc_size starts at the unit size. Boot only. */
export function statsInit(m: Int32Array, s: number, unitSize: number): void {
  set64(m, s + PERCPU_STATS_W.min_alloc_size, unitSize);
}

/** pcpu_stats_area_alloc: an allocation of `size` bytes in chunk `c`. */
export function statsAreaAlloc(m: Int32Array, s: number, c: number, size: number): void {
  set64(m, s + PERCPU_STATS_W.nr_alloc, get64(m, s + PERCPU_STATS_W.nr_alloc) + 1);
  const cur = get64(m, s + PERCPU_STATS_W.nr_cur_alloc) + 1;
  set64(m, s + PERCPU_STATS_W.nr_cur_alloc, cur);
  if (cur > get64(m, s + PERCPU_STATS_W.nr_max_alloc))
    set64(m, s + PERCPU_STATS_W.nr_max_alloc, cur);
  if (size < get64(m, s + PERCPU_STATS_W.min_alloc_size))
    set64(m, s + PERCPU_STATS_W.min_alloc_size, size);
  if (size > get64(m, s + PERCPU_STATS_W.max_alloc_size))
    set64(m, s + PERCPU_STATS_W.max_alloc_size, size);
  const cw = c >> 2;
  m[cw + PCPU_CHUNK_W.nr_alloc]++;
  if (size > m[cw + PCPU_CHUNK_W.max_alloc_size] >>> 0) m[cw + PCPU_CHUNK_W.max_alloc_size] = size;
}

/** pcpu_stats_area_dealloc: a free in chunk `c`. */
export function statsAreaDealloc(m: Int32Array, s: number, c: number): void {
  set64(m, s + PERCPU_STATS_W.nr_dealloc, get64(m, s + PERCPU_STATS_W.nr_dealloc) + 1);
  set64(m, s + PERCPU_STATS_W.nr_cur_alloc, get64(m, s + PERCPU_STATS_W.nr_cur_alloc) - 1);
  m[(c >> 2) + PCPU_CHUNK_W.nr_alloc]--;
}

/** pcpu_stats_chunk_alloc. */
export function statsChunkAlloc(m: Int32Array, s: number): void {
  const n = ++m[s + PERCPU_STATS_W.nr_chunks];
  if (n > m[s + PERCPU_STATS_W.nr_max_chunks]) m[s + PERCPU_STATS_W.nr_max_chunks] = n;
}

/** pcpu_stats_chunk_dealloc. */
export function statsChunkDealloc(m: Int32Array, s: number): void {
  m[s + PERCPU_STATS_W.nr_chunks]--;
}

// ---- reading --------------------------------------------------------------------------

/** pcpu_stats_ai: the first chunk's shape. */
export interface PercpuAllocInfo {
  unitSize: number;
  staticSize: number;
  reservedSize: number;
  dynSize: number;
  atomSize: number;
  allocSize: number;
}

export interface PercpuGlobalStats {
  nrAlloc: number;
  nrDealloc: number;
  nrCurAlloc: number;
  nrMaxAlloc: number;
  nrChunks: number;
  nrMaxChunks: number;
  minAllocSize: number;
  maxAllocSize: number;
  /** pcpu_nr_empty_pop_pages. */
  emptyPopPages: number;
}

/** Which list a chunk is on, as the debugfs header line says. */
export type PercpuChunkKind = 'reserved' | 'first' | 'chunk' | 'sidelined' | 'to_depopulate';

export interface PercpuChunkStats {
  kind: PercpuChunkKind;
  /** The chunk's base address (CPU 0's unit). Not in the debugfs text, nor the next three. */
  base: number;
  /** Pages the chunk's bitmap covers, and how many of them are populated. */
  nrPages: number;
  nrPopulated: number;
  /** Bytes hidden at the start and the end of the pages (the first chunk's neighbours). */
  startOffset: number;
  endOffset: number;
  nrAlloc: number;
  maxAllocSize: number;
  emptyPopPages: number;
  /** chunk_md.first_free, in bits. */
  firstBit: number;
  freeBytes: number;
  /** chunk_md.contig_hint in bytes. */
  contigBytes: number;
  sumFrag: number;
  maxFrag: number;
  curMinAlloc: number;
  curMedAlloc: number;
  curMaxAlloc: number;
}

export interface PercpuStats {
  allocInfo: PercpuAllocInfo;
  global: PercpuGlobalStats;
  chunks: PercpuChunkStats[];
}

/**
 * A consistent snapshot (taken under pcpu_lock) of what debugfs percpu_stats shows.
 *
 * @example
 * percpuStats(allocator).global.nrCurAlloc; // live allocations
 */
export function percpuStats(a: PercpuAllocator): PercpuStats {
  return a.withLock(() => {
    const m = a.chunks.m;
    const s = a.statsAddr >> 2;
    const chunks: PercpuChunkStats[] = [];
    a.forEachChunk((c, slot) => {
      let kind: PercpuChunkKind = 'chunk';
      if (c === a.reservedChunk) kind = 'reserved';
      else if (c === a.firstChunk) kind = 'first';
      else if (slot === a.slots.toDepopulateSlot) kind = 'to_depopulate';
      else if (slot === a.slots.sidelinedSlot) kind = 'sidelined';
      chunks.push(chunkMapStats(a, c, kind));
    });
    return {
      allocInfo: {
        unitSize: a.unitSize,
        staticSize: a.staticSize,
        reservedSize: a.reservedSize,
        dynSize: a.dynSize,
        atomSize: PAGE_SIZE,
        allocSize: a.unitSize,
      },
      global: {
        nrAlloc: get64(m, s + PERCPU_STATS_W.nr_alloc),
        nrDealloc: get64(m, s + PERCPU_STATS_W.nr_dealloc),
        nrCurAlloc: get64(m, s + PERCPU_STATS_W.nr_cur_alloc),
        nrMaxAlloc: get64(m, s + PERCPU_STATS_W.nr_max_alloc),
        nrChunks: m[s + PERCPU_STATS_W.nr_chunks],
        nrMaxChunks: m[s + PERCPU_STATS_W.nr_max_chunks],
        minAllocSize: get64(m, s + PERCPU_STATS_W.min_alloc_size),
        maxAllocSize: get64(m, s + PERCPU_STATS_W.max_alloc_size),
        emptyPopPages: a.chunks.globalEmptyPages,
      },
      chunks,
    };
  });
}

/** chunk_map_stats: one chunk's figures (pcpu_lock held). */
function chunkMapStats(a: PercpuAllocator, c: number, kind: PercpuChunkKind): PercpuChunkStats {
  const ch = a.chunks;
  const m = ch.m;
  const cw = c >> 2;
  const alloc = ch.allocMapW(c);
  const bound = ch.boundMapW(c);
  const limit = ch.mapBits(c) - (m[cw + PCPU_CHUNK_W.end_offset] >> PCPU_MIN_ALLOC_SHIFT);
  const last = findLastBit(m, alloc, limit);
  const lastAlloc = last === limit ? 0 : last + 1;
  const sizes: number[] = [];
  for (let start = m[cw + PCPU_CHUNK_W.start_offset] >> PCPU_MIN_ALLOC_SHIFT; start < lastAlloc; ) {
    const used = testBit(m, alloc, start);
    const end = findNextBit(m, used ? bound : alloc, lastAlloc, start + 1);
    sizes.push((used ? 1 : -1) * (end - start) * PCPU_MIN_ALLOC_SIZE);
    start = end;
  }
  let sumFrag = 0;
  let maxFrag = 0;
  let curMinAlloc = 0;
  let curMedAlloc = 0;
  let curMaxAlloc = 0;
  if (sizes.length > 0) {
    sizes.sort((x, y) => x - y);
    let i = 0;
    for (; i < sizes.length && sizes[i] < 0; i++) {
      sumFrag -= sizes[i];
      maxFrag = Math.max(maxFrag, -sizes[i]);
    }
    curMinAlloc = sizes[i];
    curMedAlloc = sizes[Math.floor((i + sizes.length - 1) / 2)];
    curMaxAlloc = sizes[sizes.length - 1];
  }
  return {
    kind,
    base: ch.baseAddr(c),
    nrPages: ch.nrPages(c),
    nrPopulated: m[cw + PCPU_CHUNK_W.nr_populated],
    startOffset: m[cw + PCPU_CHUNK_W.start_offset],
    endOffset: m[cw + PCPU_CHUNK_W.end_offset],
    nrAlloc: m[cw + PCPU_CHUNK_W.nr_alloc],
    maxAllocSize: m[cw + PCPU_CHUNK_W.max_alloc_size] >>> 0,
    emptyPopPages: m[cw + PCPU_CHUNK_W.nr_empty_pop_pages],
    firstBit: m[cw + PCPU_CHUNK_W.chunk_md + PCPU_BLOCK_MD_W.first_free],
    freeBytes: ch.freeBytes(c),
    contigBytes: m[cw + PCPU_CHUNK_W.chunk_md + PCPU_BLOCK_MD_W.contig_hint] * PCPU_MIN_ALLOC_SIZE,
    sumFrag,
    maxFrag,
    curMinAlloc,
    curMedAlloc,
    curMaxAlloc,
  };
}

const line = (name: string, value: number) =>
  `  ${name.padEnd(20)}: ${String(value).padStart(12)}\n`;

const HEADERS: Record<PercpuChunkKind, string> = {
  reserved: 'Chunk: <- Reserved Chunk',
  first: 'Chunk: <- First Chunk',
  chunk: 'Chunk:',
  sidelined: 'Chunk (sidelined):',
  to_depopulate: 'Chunk (to_depopulate)',
};

/**
 * The text of /sys/kernel/debug/percpu_stats for a snapshot.
 *
 * @example
 * formatPercpuStats(percpuStats(allocator)).split('\n')[0]; // 'Percpu Memory Statistics'
 */
export function formatPercpuStats(s: PercpuStats): string {
  const rule = '----------------------------------------\n';
  let out = `Percpu Memory Statistics\nAllocation Info:\n${rule}`;
  const ai = s.allocInfo;
  out += line('unit_size', ai.unitSize);
  out += line('static_size', ai.staticSize);
  out += line('reserved_size', ai.reservedSize);
  out += line('dyn_size', ai.dynSize);
  out += line('atom_size', ai.atomSize);
  out += line('alloc_size', ai.allocSize);
  out += `\nGlobal Stats:\n${rule}`;
  const g = s.global;
  out += line('nr_alloc', g.nrAlloc);
  out += line('nr_dealloc', g.nrDealloc);
  out += line('nr_cur_alloc', g.nrCurAlloc);
  out += line('nr_max_alloc', g.nrMaxAlloc);
  out += line('nr_chunks', g.nrChunks);
  out += line('nr_max_chunks', g.nrMaxChunks);
  out += line('min_alloc_size', g.minAllocSize);
  out += line('max_alloc_size', g.maxAllocSize);
  out += line('empty_pop_pages', g.emptyPopPages);
  out += `\nPer Chunk Stats:\n${rule}`;
  for (const c of s.chunks) {
    out += `${HEADERS[c.kind]}\n`;
    out += line('nr_alloc', c.nrAlloc);
    out += line('max_alloc_size', c.maxAllocSize);
    out += line('empty_pop_pages', c.emptyPopPages);
    out += line('first_bit', c.firstBit);
    out += line('free_bytes', c.freeBytes);
    out += line('contig_bytes', c.contigBytes);
    out += line('sum_frag', c.sumFrag);
    out += line('max_frag', c.maxFrag);
    out += line('cur_min_alloc', c.curMinAlloc);
    out += line('cur_med_alloc', c.curMedAlloc);
    out += line('cur_max_alloc', c.curMaxAlloc);
    out += '\n';
  }
  return out;
}

/**
 * pcpu_nr_pages: pages backing per-CPU memory, pcpu_nr_populated in every unit.
 *
 * @example
 * pcpuNrPages(allocator) * 4; // kB, as /proc/meminfo shows
 */
export function pcpuNrPages(a: PercpuAllocator): number {
  return a.withLock(() => a.nrPopulated * a.nrUnits);
}

/**
 * The `Percpu:` line of /proc/meminfo (show_val_kb: the value in kB, 8 wide).
 *
 * @example
 * meminfoPercpu(allocator); // 'Percpu:              160 kB'
 */
export function meminfoPercpu(a: PercpuAllocator): string {
  const kb = (pcpuNrPages(a) * PAGE_SIZE) / 1024;
  return `Percpu:         ${String(kb).padStart(8)} kB`;
}
