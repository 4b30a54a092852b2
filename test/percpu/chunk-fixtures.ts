/**
 * What a chunk's metadata promises, checked against its bitmaps by reading
 * them bit by bit (shared by the chunk and allocator tests).
 */

import {
  type Chunks,
  PCPU_BITMAP_BLOCK_BITS,
  pcpuBlockMd,
  pcpuChunk,
  testBit,
} from '../../percpu/chunk.ts';

const PCPU_CHUNK_W = pcpuChunk.word;
const PCPU_BLOCK_MD_W = pcpuBlockMd.word;

/** Free runs of the alloc map in [from, to), by reading bit by bit. */
export function truth(chunks: Chunks, c: number, from: number, to: number) {
  const m = chunks.m;
  const map = chunks.allocMapW(c);
  let largest = 0;
  let run = 0;
  let first = to;
  let left = 0;
  for (let b = from; b < to; b++) {
    if (testBit(m, map, b)) {
      run = 0;
      continue;
    }
    if (first === to) first = b;
    if (b - from === left) left++;
    largest = Math.max(largest, ++run);
  }
  return { largest, first, left, right: run };
}

/**
 * What the hints promise, checked against the bitmap: every hinted run is
 * free; contig hints never exceed the largest free run; left_free is exact
 * and right_free and first_free are bounds; free_bytes and the empty
 * populated page count are exact. Returns the violations.
 */
export function chunkViolations(chunks: Chunks, c: number): string[] {
  const m = chunks.m;
  const map = chunks.allocMapW(c);
  const out: string[] = [];
  const freeRun = (at: number, n: number) => {
    for (let k = 0; k < n; k++) if (testBit(m, map, at + k)) return false;
    return true;
  };
  let empty = 0;
  for (let i = 0; i < chunks.nrPages(c); i++) {
    const t = truth(chunks, c, i * PCPU_BITMAP_BLOCK_BITS, (i + 1) * PCPU_BITMAP_BLOCK_BITS);
    const b = chunks.block(c, i) >> 2;
    const at = i * PCPU_BITMAP_BLOCK_BITS;
    if (m[b + PCPU_BLOCK_MD_W.contig_hint] > t.largest)
      out.push(`block ${i}: contig hint above the largest run`);
    if (
      !freeRun(at + m[b + PCPU_BLOCK_MD_W.contig_hint_start], m[b + PCPU_BLOCK_MD_W.contig_hint])
    ) {
      out.push(`block ${i}: contig hint run is not free`);
    }
    if (!freeRun(at + m[b + PCPU_BLOCK_MD_W.scan_hint_start], m[b + PCPU_BLOCK_MD_W.scan_hint])) {
      out.push(`block ${i}: scan hint run is not free`);
    }
    if (m[b + PCPU_BLOCK_MD_W.left_free] !== t.left)
      out.push(`block ${i}: left_free ${m[b + PCPU_BLOCK_MD_W.left_free]}`);
    if (m[b + PCPU_BLOCK_MD_W.right_free] > t.right)
      out.push(`block ${i}: right_free above the free tail`);
    if (m[b + PCPU_BLOCK_MD_W.first_free] > t.first - at)
      out.push(`block ${i}: first_free past a free bit`);
    if (t.largest === PCPU_BITMAP_BLOCK_BITS && chunks.isPagePopulated(c, i)) empty++;
  }
  const all = truth(chunks, c, 0, chunks.mapBits(c));
  const md = (c >> 2) + PCPU_CHUNK_W.chunk_md;
  if (m[md + PCPU_BLOCK_MD_W.contig_hint] > all.largest)
    out.push('chunk: contig hint above the largest run');
  if (!freeRun(m[md + PCPU_BLOCK_MD_W.contig_hint_start], m[md + PCPU_BLOCK_MD_W.contig_hint])) {
    out.push('chunk: contig hint run is not free');
  }
  if (m[md + PCPU_BLOCK_MD_W.first_free] > all.first) out.push('chunk: first_free past a free bit');
  let zeros = 0;
  for (let b = 0; b < chunks.mapBits(c); b++) if (!testBit(m, map, b)) zeros++;
  if (zeros * 4 !== chunks.freeBytes(c))
    out.push(`free_bytes ${chunks.freeBytes(c)} != ${zeros * 4}`);
  if (m[(c >> 2) + PCPU_CHUNK_W.nr_empty_pop_pages] !== empty)
    out.push(`nr_empty_pop_pages != ${empty}`);
  return out;
}
