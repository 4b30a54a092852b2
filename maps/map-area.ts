/**
 * bpf_map_area_alloc / bpf_map_area_free (kernel/bpf/syscall.c): a map's
 * large blocks (an array's values, a hash table's buckets and preallocated
 * elements) come from kmalloc when they are small enough for it to be cheap
 * (up to PAGE_SIZE << PAGE_ALLOC_COSTLY_ORDER, 32 KiB), and from vmalloc
 * otherwise. Both zeroed; 0 when memory runs out.
 *
 * @example
 * const values = bpfMapAreaAlloc(m, 8 * maxEntries);
 * bpfMapAreaFree(m, values);
 */

import { PAGE_SIZE } from '../segments/memory.ts';
import type { MapMemory } from './map-memory.ts';

/** PAGE_ALLOC_COSTLY_ORDER: above 2^3 pages, kmalloc is not tried. */
const KMALLOC_AREA_MAX = PAGE_SIZE << 3;

/** A zeroed block of `size` bytes for a map, or 0. */
export function bpfMapAreaAlloc(m: MapMemory, size: number): number {
  if (!Number.isSafeInteger(size) || size <= 0) return 0;
  if (size <= KMALLOC_AREA_MAX) {
    const addr = m.kheap.kzalloc(size);
    if (addr !== 0) return addr;
  }
  return m.vmalloc.vzalloc(size);
}

/** Frees a block from bpfMapAreaAlloc (kvfree: whichever allocator it came from). */
export function bpfMapAreaFree(m: MapMemory, addr: number): void {
  if (m.vmalloc.contains(addr)) m.vmalloc.vfree(addr);
  else m.kheap.kfree(addr);
}
