/**
 * The page allocator of the kernel heap: a binary buddy allocator after
 * mm/page_alloc.c over the heap's page area, one zone, orders 0 to
 * MAX_PAGE_ORDER (a block of order n is 2^n pages).
 *
 * Blocks are aligned by absolute page frame number (pfn = address >> 12),
 * as in the kernel, so a block of order n starts at a multiple of
 * 4096 << n and its buddy is at pfn ^ (1 << n). The page area need not be
 * aligned or a power of two long: at init it is cut into the largest
 * aligned blocks that fit, and a buddy outside the area never merges.
 *
 * Allocation (__rmqueue_smallest) takes the first block of the smallest
 * order that has one and splits it, the upper halves going back on the
 * lower free lists (expand). Freeing (__free_one_page) merges a block with
 * its buddy while the buddy is a free block of the same order, and puts the
 * result first on its list.
 *
 * Descriptors (segments/page.ts): the head of a free block is PG_buddy with
 * its order; the head of an allocated block gets the caller's kind
 * (PG_slab, PG_large_kmalloc) and order, and every other page of it
 * PG_tail with compound_head pointing at the head (prep_compound_page).
 * Freeing clears the tails, so every page is exactly one of: head of a live
 * block, tail of a live block, head of a free block, or 0.
 *
 * State and locking. The zone (lock, counters, free_area[]) and the
 * descriptors live in emulated memory; this object holds constants only.
 * allocPages and freePages take zone->lock themselves; they may be called
 * with a slab cache's list_lock held (lock order: list_lock, then zone
 * lock), never with the zone lock held.
 *
 * @example
 * PageAllocator.init(memory, zoneAddr, memMap, startPfn, nrPages);
 * const pages = new PageAllocator(memory, zoneAddr);
 * const page = pages.allocPages(2, PG_large_kmalloc, 0); // a descriptor, or 0
 * pages.pageToAddr(page); // 16 KiB, 16 KiB-aligned
 * pages.freePages(page, PG_large_kmalloc, 0);
 */

import { array, struct, u32 } from './ctype.ts';
import { ErrnoError } from './errno.ts';
import { ListRegion, listHeadType } from './list.ts';
import { PAGE_SIZE, type PhysicalMemory } from './memory.ts';
import { PAGE_DESC_SHIFT, PG_buddy, PG_slab, PG_tail, pageType } from './page.ts';
import { RawSpinlock, type RawSpinlockOptions, rawSpinlockType } from './raw-spinlock.ts';

const PAGE_W = pageType.word;
const PAGE_OFF = pageType.off;

/** The largest block order (the kernel's MAX_PAGE_ORDER): 1024 pages, 4 MiB. */
export const MAX_PAGE_ORDER = 10;
export const PAGE_SHIFT = 12;

/** One order's free list and its length. */
export const freeAreaType = struct('free_area', [
  ['free_list', listHeadType],
  ['nr_free', u32],
]);
const FREE_AREA_W = freeAreaType.word;

/** The zone: its lock, extent, counters and free lists. */
export const zoneType = struct('zone', [
  ['lock', rawSpinlockType],
  ['start_pfn', u32],
  ['nr_pages', u32],
  ['mem_map', u32],
  ['nr_free_pages', u32],
  ['nr_slab_pages', u32],
  ['nr_large_pages', u32],
  ['nr_large_allocs', u32],
  ['free_area', array(freeAreaType, MAX_PAGE_ORDER + 1)],
]);
const ZONE_W = zoneType.word;
const ZONE_OFF = zoneType.off;

const FA_WORDS = freeAreaType.size >> 2;

// Hot-path constants, module-local (segments/ctype.ts, "Module-local constants").
const MAX_ORDER = MAX_PAGE_ORDER;
const DESC_SHIFT = PAGE_DESC_SHIFT;
const BUDDY = PG_buddy;
const SLAB = PG_slab;
const TAIL = PG_tail;

/** Page counts read from the zone. */
export interface ZoneCounters {
  freePages: number;
  slabPages: number;
  largePages: number;
  largeAllocs: number;
  /** Free blocks of each order, 0 to MAX_PAGE_ORDER (/proc/buddyinfo). */
  buddyinfo: number[];
}

export class PageAllocator {
  /** First page frame number of the page area. */
  readonly startPfn: number;
  readonly nrPages: number;
  /** Address of the descriptor of the first page. */
  readonly memMap: number;
  /** Address of the first page. */
  readonly start: number;
  /** The lists threaded through the descriptors' `lru` (free lists here, slab partial lists). */
  readonly lists: ListRegion;
  private readonly m: Int32Array;
  private readonly z: number;
  private readonly lock: RawSpinlock;

  /** A handle on a zone already initialised at `zoneAddr`. */
  constructor(
    memory: PhysicalMemory,
    readonly zoneAddr: number,
    opts: RawSpinlockOptions = {},
  ) {
    this.m = new Int32Array(memory.buffer);
    this.z = zoneAddr >> 2;
    this.startPfn = this.m[this.z + ZONE_W.start_pfn];
    this.nrPages = this.m[this.z + ZONE_W.nr_pages];
    this.memMap = this.m[this.z + ZONE_W.mem_map];
    this.start = this.startPfn << PAGE_SHIFT;
    this.lists = PageAllocator.descriptorLists(memory, this.memMap, this.nrPages);
    this.lock = new RawSpinlock(memory, zoneAddr + ZONE_OFF.lock, opts);
  }

  /**
   * Writes a zone over pages [startPfn, startPfn + nrPages) with descriptors
   * at `memMap` (zeroed here), all pages free in the largest aligned blocks.
   *
   * @example
   * PageAllocator.init(memory, zoneAddr, memMap, 0x400, 256);
   */
  static init(
    memory: PhysicalMemory,
    zoneAddr: number,
    memMap: number,
    startPfn: number,
    nrPages: number,
  ): void {
    if (zoneAddr % 4 !== 0 || memMap % 4 !== 0) {
      throw new ErrnoError(
        'EINVAL',
        `zone 0x${zoneAddr.toString(16)} and mem_map 0x${memMap.toString(16)} must be 4-aligned`,
      );
    }
    if (!Number.isInteger(nrPages) || nrPages < 1) {
      throw new ErrnoError('EINVAL', `zone of ${nrPages} pages is empty`);
    }
    memory.fill(zoneAddr, zoneType.size, 0);
    memory.fill(memMap, nrPages << DESC_SHIFT, 0);
    memory.check(startPfn << PAGE_SHIFT, nrPages * PAGE_SIZE, 'write');
    RawSpinlock.init(memory, zoneAddr + ZONE_OFF.lock);
    const m = new Int32Array(memory.buffer);
    const z = zoneAddr >> 2;
    m[z + ZONE_W.start_pfn] = startPfn;
    m[z + ZONE_W.nr_pages] = nrPages;
    m[z + ZONE_W.mem_map] = memMap;
    m[z + ZONE_W.nr_free_pages] = nrPages;
    const lists = PageAllocator.descriptorLists(memory, memMap, nrPages);
    for (let o = 0; o <= MAX_ORDER; o++) lists.init((z + ZONE_W.free_area + o * FA_WORDS) << 2);
    const end = startPfn + nrPages;
    for (let pfn = startPfn; pfn < end; ) {
      let order = MAX_ORDER;
      while (pfn % (1 << order) !== 0 || pfn + (1 << order) > end) order--;
      const page = memMap + ((pfn - startPfn) << DESC_SHIFT);
      m[(page >> 2) + PAGE_W.flags] = BUDDY;
      m[(page >> 2) + PAGE_W.order] = order;
      const area = z + ZONE_W.free_area + order * FA_WORDS;
      lists.addTail(page, area << 2);
      m[area + FREE_AREA_W.nr_free]++;
      pfn += 1 << order;
    }
  }

  /** The lists of the descriptors at `memMap`. */
  private static descriptorLists(memory: PhysicalMemory, memMap: number, nrPages: number) {
    return new ListRegion(memory, {
      name: 'struct page lru',
      start: memMap,
      end: memMap + (nrPages << DESC_SHIFT),
      entrySize: pageType.size,
      member: PAGE_OFF.lru,
    });
  }

  /** Address of the page a descriptor describes. */
  pageToAddr(page: number): number {
    return this.start + ((page - this.memMap) << (PAGE_SHIFT - DESC_SHIFT));
  }

  /** Descriptor of the page holding `addr` (which must lie in the page area). */
  addrToPage(addr: number): number {
    return this.memMap + (((addr - this.start) >>> PAGE_SHIFT) << DESC_SHIFT);
  }

  /**
   * alloc_pages: a block of 2^order pages, its head marked `kind` (PG_slab or
   * PG_large_kmalloc) and the rest PG_tail. Returns the head's descriptor, or
   * 0 when no block of that order or above is free. The pages are not zeroed.
   *
   * Context: any; takes zone->lock (CPU `cpu` is recorded as its holder).
   *
   * @example
   * const page = pages.allocPages(0, PG_slab, cpu);
   */
  allocPages(order: number, kind: number, cpu: number): number {
    const m = this.m;
    const z = this.z;
    this.lock.lock(cpu);
    let page = 0;
    let o = order;
    for (; o <= MAX_ORDER; o++) {
      page = this.lists.first((z + ZONE_W.free_area + o * FA_WORDS) << 2);
      if (page !== 0) break;
    }
    if (page === 0) {
      this.lock.unlock(cpu);
      return 0;
    }
    const area = z + ZONE_W.free_area + o * FA_WORDS;
    this.lists.del(page);
    m[area + FREE_AREA_W.nr_free]--;
    // expand: hand the upper halves back, one per order below o.
    while (o > order) {
      o--;
      const half = page + ((1 << o) << DESC_SHIFT);
      m[(half >> 2) + PAGE_W.flags] = BUDDY;
      m[(half >> 2) + PAGE_W.order] = o;
      const lower = z + ZONE_W.free_area + o * FA_WORDS;
      this.lists.add(half, lower << 2);
      m[lower + FREE_AREA_W.nr_free]++;
    }
    const w = page >> 2;
    m[w + PAGE_W.flags] = kind;
    m[w + PAGE_W.order] = order;
    m[w + PAGE_W.compound_head] = 0;
    const n = 1 << order;
    for (let t = 1; t < n; t++) {
      const tw = (page + (t << DESC_SHIFT)) >> 2;
      m[tw + PAGE_W.flags] = TAIL;
      m[tw + PAGE_W.compound_head] = page;
    }
    m[z + ZONE_W.nr_free_pages] -= n;
    if (kind === SLAB) m[z + ZONE_W.nr_slab_pages] += n;
    else {
      m[z + ZONE_W.nr_large_pages] += n;
      m[z + ZONE_W.nr_large_allocs]++;
    }
    this.lock.unlock(cpu);
    return page;
  }

  /**
   * __free_pages: gives back the block headed by descriptor `page`, merging
   * it with free buddies. Returns false, changing nothing, when `page` is not
   * the head of a live block of `kind` (a double free, or a race lost to one).
   *
   * Context: any; takes zone->lock.
   *
   * @example
   * if (!pages.freePages(page, PG_large_kmalloc, cpu)) throw new Error('double free');
   */
  freePages(page: number, kind: number, cpu: number): boolean {
    const m = this.m;
    const z = this.z;
    this.lock.lock(cpu);
    const w = page >> 2;
    if (m[w + PAGE_W.flags] !== kind) {
      this.lock.unlock(cpu);
      return false;
    }
    let order = m[w + PAGE_W.order];
    const n = 1 << order;
    for (let t = 1; t < n; t++) {
      const tw = (page + (t << DESC_SHIFT)) >> 2;
      m[tw + PAGE_W.flags] = 0;
      m[tw + PAGE_W.compound_head] = 0;
    }
    m[w + PAGE_W.flags] = 0;
    m[z + ZONE_W.nr_free_pages] += n;
    if (kind === SLAB) m[z + ZONE_W.nr_slab_pages] -= n;
    else {
      m[z + ZONE_W.nr_large_pages] -= n;
      m[z + ZONE_W.nr_large_allocs]--;
    }
    const startPfn = this.startPfn;
    const end = startPfn + this.nrPages;
    let pfn = startPfn + ((page - this.memMap) >> DESC_SHIFT);
    while (order < MAX_ORDER) {
      const buddyPfn = pfn ^ (1 << order);
      if (buddyPfn < startPfn || buddyPfn >= end) break;
      const buddy = this.memMap + ((buddyPfn - startPfn) << DESC_SHIFT);
      const bw = buddy >> 2;
      if (m[bw + PAGE_W.flags] !== BUDDY || m[bw + PAGE_W.order] !== order) break;
      const area = z + ZONE_W.free_area + order * FA_WORDS;
      this.lists.del(buddy);
      m[area + FREE_AREA_W.nr_free]--;
      m[bw + PAGE_W.flags] = 0;
      if (buddyPfn < pfn) pfn = buddyPfn;
      order++;
    }
    const head = this.memMap + ((pfn - startPfn) << DESC_SHIFT);
    m[(head >> 2) + PAGE_W.flags] = BUDDY;
    m[(head >> 2) + PAGE_W.order] = order;
    const area = z + ZONE_W.free_area + order * FA_WORDS;
    this.lists.add(head, area << 2);
    m[area + FREE_AREA_W.nr_free]++;
    this.lock.unlock(cpu);
    return true;
  }

  /**
   * The zone's counters, read from memory without the lock (a snapshot, as
   * /proc/buddyinfo and /proc/vmstat are).
   *
   * @example
   * pages.counters().freePages;
   */
  counters(): ZoneCounters {
    const m = this.m;
    const z = this.z;
    return {
      freePages: m[z + ZONE_W.nr_free_pages],
      slabPages: m[z + ZONE_W.nr_slab_pages],
      largePages: m[z + ZONE_W.nr_large_pages],
      largeAllocs: m[z + ZONE_W.nr_large_allocs],
      buddyinfo: Array.from(
        { length: MAX_ORDER + 1 },
        (_, o) => m[z + ZONE_W.free_area + o * FA_WORDS + FREE_AREA_W.nr_free],
      ),
    };
  }
}
