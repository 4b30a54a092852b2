/**
 * `struct page` of the kernel heap (segments/kmalloc.ts): one 32-byte
 * descriptor per page of the heap's page area, kept in an array in emulated
 * memory (the kernel's `mem_map`). Descriptors are threaded through their
 * `lru` list_head onto the buddy free lists and the slab partial lists
 * (segments/list.ts; the page allocator's `lists`).
 *
 *     struct page {                 // 32 bytes, all u32
 *       flags;          // PG_buddy, PG_slab, PG_large_kmalloc or PG_tail (one at a time), or 0
 *       compound_head;  // tail page: address of the head's struct page
 *       struct list_head lru;  // free list or partial list links
 *       freelist;       // slab: first free object, 0 when the slab is full
 *       inuse;          // slab: objects allocated
 *       slab_cache;     // slab: index of its kmalloc cache
 *       order;          // buddy block, slab or large allocation: log2 of its pages
 *     }
 *
 * Descriptors are guarded by whoever owns the pages (the zone lock for free
 * blocks, a cache's list_lock for its slabs).
 *
 * @example
 * const m = new Int32Array(memory.buffer);
 * m[(page >> 2) + PAGE_W.flags] === PG_slab;
 */

import { struct, u32 } from './ctype.ts';
import { listHeadType } from './list.ts';

/** The in-memory layout of a page descriptor. */
export const pageType = struct('page', [
  ['flags', u32],
  ['compound_head', u32],
  ['lru', listHeadType],
  ['freelist', u32],
  ['inuse', u32],
  ['slab_cache', u32],
  ['order', u32],
]);
const PAGE_W = pageType.word;

/** log2 of the descriptor size. */
export const PAGE_DESC_SHIFT = 5;

/** The head of a free buddy block. */
export const PG_buddy = 1;
/** The head of a slab. */
export const PG_slab = 2;
/** The head of a kmalloc allocation served by the page allocator. */
export const PG_large_kmalloc = 4;
/** Any other page of a slab or large allocation; compound_head names the head. */
export const PG_tail = 8;

/** Word offsets of the fields in a descriptor. */
