/**
 * The whole per-CPU allocator's metadata checked against itself, by reading
 * memory: every chunk's hints, counts and bitmaps (chunk-fixtures.ts), the
 * slot each chunk is on, the global counters and statistics, and the chunk
 * region's bookkeeping (live chunks plus freed slots account for every slot
 * carved). Returns the violations, empty when the metadata is consistent.
 */

import { type PercpuAllocator, pcpuState } from '../../percpu/allocator.ts';
import { pcpuChunk, testBit } from '../../percpu/chunk.ts';
import { PCPU_SLOT_FAIL_THRESHOLD } from '../../percpu/chunk-slots.ts';
import { percpuStats } from '../../percpu/percpu-stats.ts';
import { PAGE_SIZE } from '../../segments/memory.ts';
import { chunkViolations } from './chunk-fixtures.ts';

const PCPU_CHUNK_W = pcpuChunk.word;
const PCPU_STATE_W = pcpuState.word;

export function allocatorViolations(pcpu: PercpuAllocator): string[] {
  const { chunks, slots } = pcpu;
  const m = chunks.m;
  const st = pcpu.stateAddr >> 2;
  const out: string[] = [];
  let emptyPop = 0;
  let regionPopulated = 0;
  let regionChunks = 0;
  let nrChunks = 0;
  let nrAlloc = 0;
  pcpu.withLock(() =>
    pcpu.forEachChunk((c, slot) => {
      const name = `chunk 0x${c.toString(16)}`;
      const cw = c >> 2;
      for (const v of chunkViolations(chunks, c)) out.push(`${name}: ${v}`);
      const isolated = chunks.isIsolated(c);
      const want = slots.chunkSlot(c);
      if (c === pcpu.reservedChunk) {
        if (slot !== -1) out.push(`${name}: the reserved chunk is on slot ${slot}`);
      } else if (isolated) {
        if (slot !== slots.sidelinedSlot && slot !== slots.toDepopulateSlot)
          out.push(`${name}: isolated but on slot ${slot}`);
      } else if (slot !== want && !(slot === 0 && want < PCPU_SLOT_FAIL_THRESHOLD)) {
        out.push(`${name}: on slot ${slot}, its largest free area belongs in slot ${want}`);
      }
      let populated = 0;
      const pop = chunks.populatedW(c);
      for (let p = 0; p < chunks.nrPages(c); p++) if (testBit(m, pop, p)) populated++;
      if (populated !== m[cw + PCPU_CHUNK_W.nr_populated])
        out.push(`${name}: nr_populated ${m[cw + PCPU_CHUNK_W.nr_populated]} != ${populated}`);
      // Every page holding allocated bytes is populated.
      const alloc = chunks.allocMapW(c);
      for (let bit = 0; bit < chunks.mapBits(c); bit++) {
        if (testBit(m, alloc, bit) && !testBit(m, pop, (bit * 4) / PAGE_SIZE)) {
          out.push(`${name}: allocated bit ${bit} on an unpopulated page`);
          break;
        }
      }
      if (c !== pcpu.reservedChunk) {
        nrChunks++;
        if (!isolated) emptyPop += m[cw + PCPU_CHUNK_W.nr_empty_pop_pages];
      }
      if (c !== pcpu.reservedChunk && c !== pcpu.firstChunk) {
        regionChunks++;
        regionPopulated += populated;
      }
      nrAlloc += m[cw + PCPU_CHUNK_W.nr_alloc];
    }),
  );
  const s = percpuStats(pcpu);
  if (s.global.emptyPopPages !== emptyPop)
    out.push(`pcpu_nr_empty_pop_pages ${s.global.emptyPopPages} != ${emptyPop}`);
  const bootPages = (pcpu.staticSize + pcpu.reservedSize + pcpu.dynSize) / PAGE_SIZE;
  if (pcpu.nrPopulated !== bootPages + regionPopulated)
    out.push(`pcpu_nr_populated ${pcpu.nrPopulated} != ${bootPages} + ${regionPopulated}`);
  if (s.global.nrChunks !== nrChunks) out.push(`nr_chunks ${s.global.nrChunks} != ${nrChunks}`);
  if (s.global.nrCurAlloc !== nrAlloc)
    out.push(`nr_cur_alloc ${s.global.nrCurAlloc} != ${nrAlloc} live in the chunks`);
  // The region: every slot carved is a live chunk or on the free list.
  const carved = ((m[st + PCPU_STATE_W.region_next] >>> 0) - pcpu.regionStart) / pcpu.chunkBytes;
  let freed = 0;
  for (let slot = m[st + PCPU_STATE_W.region_free] >>> 0; slot !== 0; freed++) {
    if (freed > carved) {
      out.push('the chunk region free list has a cycle');
      break;
    }
    slot = m[((slot + pcpu.nrUnits * pcpu.unitSize) >> 2) + PCPU_CHUNK_W.list] >>> 0;
  }
  if (pcpu.chunkBytes > 0 && regionChunks + freed !== carved)
    out.push(`chunk region: ${regionChunks} live + ${freed} freed != ${carved} carved`);
  return out;
}
