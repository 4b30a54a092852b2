/**
 * `struct page` of the kernel heap (segments/kmalloc.ts): one 32-byte
 * descriptor per page of the heap's page area, kept in an array in emulated
 * memory (the kernel's `mem_map`), and the doubly linked lists that thread
 * descriptors through their `lru` words (buddy free lists, slab partial
 * lists).
 *
 *     struct page {                 // 32 bytes, all u32
 *       flags;          // PG_buddy, PG_slab, PG_large_kmalloc or PG_tail (one at a time), or 0
 *       compound_head;  // tail page: address of the head's struct page
 *       lru_next, lru_prev;  // list links (struct page addresses, 0 ends the list)
 *       freelist;       // slab: first free object, 0 when the slab is full
 *       inuse;          // slab: objects allocated
 *       slab_cache;     // slab: index of its kmalloc cache
 *       order;          // buddy block, slab or large allocation: log2 of its pages
 *     }
 *
 * A list head is two words, the first and last descriptor (0 when empty).
 * Lists and descriptors are guarded by whoever owns the pages (the zone lock
 * for free blocks, a cache's list_lock for its slabs); these functions take
 * no lock.
 *
 * The functions work on an Int32Array over the whole memory buffer and take
 * word indices (`addr >> 2`) for heads and byte addresses for descriptors.
 *
 * @example
 * const m = new Int32Array(memory.buffer);
 * listAddTail(m, headAddr >> 2, pageAddr);
 * m[headAddr >> 2]; // pageAddr
 */

import { struct, u32 } from './ctype.ts';

/** The in-memory layout of a page descriptor. */
export const pageType = struct('page', [
  ['flags', u32],
  ['compound_head', u32],
  ['lru_next', u32],
  ['lru_prev', u32],
  ['freelist', u32],
  ['inuse', u32],
  ['slab_cache', u32],
  ['order', u32],
]);

/** A list of page descriptors: first and last (0 when empty). */
export const pageListType = struct('page_list', [
  ['first', u32],
  ['last', u32],
]);

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

const word = (name: string) => pageType.field(name).offset >> 2;
/** Word offsets of the fields in a descriptor. */
export const P_FLAGS = word('flags');
export const P_HEAD = word('compound_head');
export const P_NEXT = word('lru_next');
export const P_PREV = word('lru_prev');
export const P_FREELIST = word('freelist');
export const P_INUSE = word('inuse');
export const P_CACHE = word('slab_cache');
export const P_ORDER = word('order');

const NEXT = P_NEXT;
const PREV = P_PREV;

/**
 * list_add: puts descriptor `page` first on the list whose head is at word `head`.
 *
 * @example
 * listAddHead(m, head, page);
 */
export function listAddHead(m: Int32Array, head: number, page: number): void {
  const first = m[head];
  const w = page >> 2;
  m[w + NEXT] = first;
  m[w + PREV] = 0;
  if (first === 0) m[head + 1] = page;
  else m[(first >> 2) + PREV] = page;
  m[head] = page;
}

/**
 * list_add_tail: puts descriptor `page` last on the list whose head is at word `head`.
 *
 * @example
 * listAddTail(m, head, page);
 */
export function listAddTail(m: Int32Array, head: number, page: number): void {
  const last = m[head + 1];
  const w = page >> 2;
  m[w + PREV] = last;
  m[w + NEXT] = 0;
  if (last === 0) m[head] = page;
  else m[(last >> 2) + NEXT] = page;
  m[head + 1] = page;
}

/**
 * list_del: takes descriptor `page` off the list whose head is at word `head`.
 *
 * @example
 * listDel(m, head, page);
 */
export function listDel(m: Int32Array, head: number, page: number): void {
  const w = page >> 2;
  const next = m[w + NEXT];
  const prev = m[w + PREV];
  if (prev === 0) m[head] = next;
  else m[(prev >> 2) + NEXT] = next;
  if (next === 0) m[head + 1] = prev;
  else m[(next >> 2) + PREV] = prev;
  m[w + NEXT] = 0;
  m[w + PREV] = 0;
}
