/**
 * The slab layer of the kernel heap: the kmalloc caches (kmalloc-8 to
 * kmalloc-8k), after mm/slub.c without its per-CPU slabs.
 *
 * A cache hands out objects of one size from slabs: blocks of 2^order pages
 * from the page allocator (segments/page-alloc.ts) cut into `objects`
 * objects at multiples of the size from the slab's start. A slab's start is
 * aligned to its own length, so objects of a power-of-two size are
 * naturally aligned and kmalloc-96 and kmalloc-192 objects are 32- and
 * 64-aligned. The order follows SLUB's calculate_order, simplified: the
 * smallest order up to PAGE_ALLOC_COSTLY_ORDER (3) holding at least 16
 * objects (SLUB's min_objects for 4 to 7 CPUs), else 3.
 *
 * Free objects of a slab form a singly linked list through their first four
 * bytes (SLUB's free pointer at offset 0, unobfuscated); the slab's
 * descriptor holds the list head (`freelist`) and the number allocated
 * (`inuse`). Allocation pops the list of the first slab on the cache's
 * partial list; a slab that becomes full leaves the list; freeing pushes the
 * object, and a full slab that gets a free object goes first on the list.
 * When the list is empty a new slab is allocated and put on it. A slab that
 * becomes empty is kept, last on the list so partial slabs are filled first,
 * if the cache keeps no empty slab yet, and given back to the page
 * allocator otherwise: each cache holds at most one empty slab, which
 * shrink() releases (kmem_cache_shrink).
 *
 * Beyond the kernel, a bitmap (obj_map) with one bit per 8 bytes of the page
 * area marks the start of every allocated object, so free() refuses a
 * double free or an address that is not an object start in O(1) (SLUB finds
 * those only with slub_debug, by walking the freelist), and alloc() refuses
 * a corrupted free pointer (one not at a free object of the same slab, as
 * after a write to a freed object) by throwing EFAULT rather than handing
 * out memory twice.
 *
 * State and locking. Each cache's struct kmem_cache (its list_lock, partial
 * list and counters), the slab descriptors, the free pointers and obj_map
 * live in emulated memory; this object holds constants and lock handles.
 * alloc, free and shrink take the cache's list_lock themselves, and the
 * zone lock under it when they get or give back pages.
 *
 * @example
 * const slab = new SlabAllocator(memory, cachesAddr, objMap, pages);
 * const obj = slab.alloc(kmallocIndex(24), cpu); // a kmalloc-32 object, or 0
 * slab.free(pages.addrToPage(obj), kmallocIndex(24), obj, cpu); // true
 */

import { struct, u32 } from './ctype.ts';
import { ErrnoError } from './errno.ts';
import { initListHead, type ListRegion, listHeadType } from './list.ts';
import type { PhysicalMemory } from './memory.ts';
import { PG_slab, pageType } from './page.ts';
import { PAGE_SHIFT, type PageAllocator } from './page-alloc.ts';
import { RawSpinlock, type RawSpinlockOptions, rawSpinlockType } from './raw-spinlock.ts';

const PAGE_W = pageType.word;

/** Object sizes of the kmalloc caches, smallest first. */
export const KMALLOC_SIZES: readonly number[] = [
  8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
];
/** The largest size served by a cache (KMALLOC_MAX_CACHE_SIZE); above it, pages. */
export const KMALLOC_MAX_CACHE_SIZE = 8192;
/** SLUB's largest default slab order. */
export const PAGE_ALLOC_COSTLY_ORDER = 3;
const MIN_OBJECTS = 16;

/** The cache's name as /proc/slabinfo shows it: kmalloc-64, kmalloc-1k. */
export const kmallocName = (size: number): string =>
  size >= 1024 ? `kmalloc-${size >> 10}k` : `kmalloc-${size}`;

/** Slab order of a cache of objects of `size` bytes (calculate_order, simplified). */
export function slabOrder(size: number): number {
  let order = 0;
  while (
    order < PAGE_ALLOC_COSTLY_ORDER &&
    (((1 << (PAGE_SHIFT + order)) / size) | 0) < MIN_OBJECTS
  )
    order++;
  return order;
}

const NR_CACHES = KMALLOC_SIZES.length;
const SIZE = Int32Array.from(KMALLOC_SIZES);
const ORDER = Int32Array.from(KMALLOC_SIZES, slabOrder);
const OBJECTS = Int32Array.from(KMALLOC_SIZES, (s, k) => ((1 << (PAGE_SHIFT + ORDER[k])) / s) | 0);

/** Cache index for every size in 8-byte steps: SIZE_INDEX[(size + 7) >> 3] (kmalloc_size_index). */
const SIZE_INDEX = new Uint8Array((KMALLOC_MAX_CACHE_SIZE >> 3) + 1);
for (let k = 1, c = 0; k < SIZE_INDEX.length; k++) {
  while (SIZE[c] < k << 3) c++;
  SIZE_INDEX[k] = c;
}

/**
 * kmalloc_index: the cache serving `size` bytes, 1 to KMALLOC_MAX_CACHE_SIZE.
 *
 * @example
 * KMALLOC_SIZES[kmallocIndex(100)]; // 128
 */
export function kmallocIndex(size: number): number {
  return SIZE_INDEX[(size + 7) >> 3];
}

/** struct kmem_cache, reduced to what the kmalloc caches need. */
export const kmemCacheType = struct('kmem_cache', [
  ['list_lock', rawSpinlockType],
  ['size', u32],
  ['order', u32],
  ['objects', u32],
  ['partial', listHeadType],
  ['nr_partial', u32],
  ['nr_empty', u32],
  ['nr_slabs', u32],
  ['active_objs', u32],
]);
const KMEM_CACHE_W = kmemCacheType.word;
const KMEM_CACHE_OFF = kmemCacheType.off;

const C_WORDS = kmemCacheType.size >> 2;

/** Bytes of obj_map for a page area of `nrPages` pages (one bit per 8 bytes). */
export const objMapBytes = (nrPages: number): number => nrPages << (PAGE_SHIFT - 6);

// Hot-path constants, module-local (segments/ctype.ts, "Module-local constants").
const SLAB = PG_slab;

/** /proc/slabinfo figures of one cache. */
export interface SlabCacheStats {
  name: string;
  /** Object size. */
  size: number;
  order: number;
  objsPerSlab: number;
  /** Objects allocated. */
  activeObjs: number;
  /** Objects in all slabs, allocated or free. */
  numObjs: number;
  numSlabs: number;
  /** Slabs on the partial list (the kept empty slab included). */
  partialSlabs: number;
  /** Empty slabs kept (0 or 1). */
  emptySlabs: number;
}

export class SlabAllocator {
  private readonly m: Int32Array;
  /** The partial lists, threaded through the descriptors' `lru`. */
  private readonly lists: ListRegion;
  private readonly caches: number;
  private readonly objMapW: number;
  private readonly locks: RawSpinlock[];
  /** Address of the first page (obj_map's bit 0). */
  private readonly start: number;

  /**
   * A handle on caches already initialised at `cachesAddr` (an array of
   * kmem_cache), with `objMap` covering the page area of `pages`.
   */
  constructor(
    memory: PhysicalMemory,
    readonly cachesAddr: number,
    readonly objMap: number,
    private readonly pages: PageAllocator,
    opts: RawSpinlockOptions = {},
  ) {
    this.m = new Int32Array(memory.buffer);
    this.caches = cachesAddr >> 2;
    this.objMapW = objMap >> 2;
    this.start = pages.start;
    this.lists = pages.lists;
    this.locks = Array.from(
      { length: NR_CACHES },
      (_, k) =>
        new RawSpinlock(
          memory,
          cachesAddr + k * kmemCacheType.size + KMEM_CACHE_OFF.list_lock,
          opts,
        ),
    );
  }

  /** Bytes of the cache array. */
  static readonly bytes = NR_CACHES * kmemCacheType.size;

  /**
   * Writes the kmalloc caches at `cachesAddr` (4-aligned) and clears `objMap`.
   *
   * @example
   * SlabAllocator.init(memory, cachesAddr, objMap, objMapBytes(nrPages));
   */
  static init(memory: PhysicalMemory, cachesAddr: number, objMap: number, mapBytes: number): void {
    if (cachesAddr % 4 !== 0 || objMap % 4 !== 0) {
      throw new ErrnoError(
        'EINVAL',
        `kmem_cache array 0x${cachesAddr.toString(16)} and obj_map 0x${objMap.toString(16)} must be 4-aligned`,
      );
    }
    memory.fill(cachesAddr, SlabAllocator.bytes, 0);
    memory.fill(objMap, mapBytes, 0);
    for (let k = 0; k < NR_CACHES; k++) {
      const at = cachesAddr + k * kmemCacheType.size;
      RawSpinlock.init(memory, at + KMEM_CACHE_OFF.list_lock);
      initListHead(memory, at + KMEM_CACHE_OFF.partial);
      memory.write32(at + KMEM_CACHE_OFF.size, SIZE[k]);
      memory.write32(at + KMEM_CACHE_OFF.order, ORDER[k]);
      memory.write32(at + KMEM_CACHE_OFF.objects, OBJECTS[k]);
    }
  }

  /** Address of the first object of the slab with descriptor `page`. */
  private slabBase(page: number): number {
    return this.pages.pageToAddr(page);
  }

  /**
   * slab_alloc from cache `cache`: an object, or 0 when a new slab was needed
   * and the page allocator had none. Throws EFAULT on a corrupted free
   * pointer. The object is not zeroed; its first four bytes hold a stale
   * free pointer.
   *
   * Context: any; takes the cache's list_lock (and the zone lock for a new slab).
   *
   * @example
   * const obj = slab.alloc(kmallocIndex(64), cpu);
   */
  alloc(cache: number, cpu: number): number {
    const m = this.m;
    const c = this.caches + cache * C_WORDS;
    const lock = this.locks[cache];
    lock.lock(cpu);
    let page = this.lists.first((c + KMEM_CACHE_W.partial) << 2);
    if (page === 0) {
      page = this.newSlab(cache, c, cpu);
      if (page === 0) {
        lock.unlock(cpu);
        return 0;
      }
    }
    const p = page >> 2;
    const obj = m[p + PAGE_W.freelist];
    const next = m[obj >> 2];
    if (next !== 0 && !this.isFreeObject(page, cache, next)) {
      lock.unlock(cpu);
      throw new ErrnoError(
        'EFAULT',
        `${kmallocName(SIZE[cache])}: freelist corrupted in the slab at 0x${this.slabBase(page).toString(16)}: the free object at 0x${obj.toString(16)} points to 0x${(next >>> 0).toString(16)}, not a free object of the slab`,
      );
    }
    m[p + PAGE_W.freelist] = next;
    const inuse = m[p + PAGE_W.inuse];
    // Only the kept empty slab (or a new one) is empty on the list.
    if (inuse === 0) m[c + KMEM_CACHE_W.nr_empty] = 0;
    m[p + PAGE_W.inuse] = inuse + 1;
    if (next === 0) {
      this.lists.del(page);
      m[c + KMEM_CACHE_W.nr_partial]--;
    }
    const off = obj - this.start;
    m[this.objMapW + (off >> 8)] |= 1 << ((off >> 3) & 31);
    m[c + KMEM_CACHE_W.active_objs]++;
    lock.unlock(cpu);
    return obj;
  }

  /**
   * allocate_slab for cache `cache` (word `c`): pages cut into objects
   * threaded on the freelist, first on the partial list. Returns its
   * descriptor, or 0. Context: the cache's list_lock held.
   */
  private newSlab(cache: number, c: number, cpu: number): number {
    const page = this.pages.allocPages(ORDER[cache], SLAB, cpu);
    if (page === 0) return 0;
    const m = this.m;
    const size = SIZE[cache];
    const n = OBJECTS[cache];
    const base = this.slabBase(page);
    let obj = base;
    for (let k = 1; k < n; k++) {
      m[obj >> 2] = obj + size;
      obj += size;
    }
    m[obj >> 2] = 0;
    const p = page >> 2;
    m[p + PAGE_W.freelist] = base;
    m[p + PAGE_W.inuse] = 0;
    m[p + PAGE_W.slab_cache] = cache;
    this.lists.add(page, (c + KMEM_CACHE_W.partial) << 2);
    m[c + KMEM_CACHE_W.nr_partial]++;
    m[c + KMEM_CACHE_W.nr_slabs]++;
    return page;
  }

  /** True when `addr` starts a free object of the slab `page` of `cache`. */
  private isFreeObject(page: number, cache: number, addr: number): boolean {
    const size = SIZE[cache];
    const off = addr - this.slabBase(page);
    if (off < 0 || off >= OBJECTS[cache] * size || off % size !== 0) return false;
    const rel = addr - this.start;
    return (this.m[this.objMapW + (rel >> 8)] & (1 << ((rel >> 3) & 31))) === 0;
  }

  /**
   * slab_free: gives object `addr` back to the slab with descriptor `page`
   * of cache `cache`. Returns false, changing nothing, when `addr` is not an
   * allocated object of that slab (the page is no longer a slab of the cache,
   * the address is inside an object or in the slab's unused tail, or the
   * object is free).
   *
   * Context: any; takes the cache's list_lock (and the zone lock to give back an empty slab).
   *
   * @example
   * if (!slab.free(page, cache, obj, cpu)) throw new Error('bad free');
   */
  free(page: number, cache: number, addr: number, cpu: number): boolean {
    const m = this.m;
    const c = this.caches + cache * C_WORDS;
    const lock = this.locks[cache];
    lock.lock(cpu);
    const p = page >> 2;
    if (m[p + PAGE_W.flags] !== SLAB || m[p + PAGE_W.slab_cache] !== cache) {
      lock.unlock(cpu);
      return false;
    }
    const size = SIZE[cache];
    const off = addr - this.slabBase(page);
    if (off < 0 || off >= OBJECTS[cache] * size || off % size !== 0) {
      lock.unlock(cpu);
      return false;
    }
    const rel = addr - this.start;
    const bw = this.objMapW + (rel >> 8);
    const bit = 1 << ((rel >> 3) & 31);
    if ((m[bw] & bit) === 0) {
      lock.unlock(cpu);
      return false;
    }
    m[bw] &= ~bit;
    const head = m[p + PAGE_W.freelist];
    m[addr >> 2] = head;
    m[p + PAGE_W.freelist] = addr;
    const inuse = m[p + PAGE_W.inuse] - 1;
    m[p + PAGE_W.inuse] = inuse;
    m[c + KMEM_CACHE_W.active_objs]--;
    if (head === 0) {
      this.lists.add(page, (c + KMEM_CACHE_W.partial) << 2);
      m[c + KMEM_CACHE_W.nr_partial]++;
    }
    if (inuse === 0) {
      this.lists.del(page);
      if (m[c + KMEM_CACHE_W.nr_empty] === 0) {
        this.lists.addTail(page, (c + KMEM_CACHE_W.partial) << 2);
        m[c + KMEM_CACHE_W.nr_empty] = 1;
      } else {
        m[c + KMEM_CACHE_W.nr_partial]--;
        m[c + KMEM_CACHE_W.nr_slabs]--;
        this.pages.freePages(page, SLAB, cpu);
      }
    }
    lock.unlock(cpu);
    return true;
  }

  /**
   * True when `addr` starts an allocated object of the slab `page` of
   * `cache`. Read without the lock: exact for an object the caller owns.
   */
  isLiveObject(page: number, cache: number, addr: number): boolean {
    const m = this.m;
    if (m[(page >> 2) + PAGE_W.flags] !== SLAB || m[(page >> 2) + PAGE_W.slab_cache] !== cache)
      return false;
    const size = SIZE[cache];
    const off = addr - this.slabBase(page);
    if (off < 0 || off >= OBJECTS[cache] * size || off % size !== 0) return false;
    const rel = addr - this.start;
    return (m[this.objMapW + (rel >> 8)] & (1 << ((rel >> 3) & 31))) !== 0;
  }

  /**
   * kmem_cache_shrink on every kmalloc cache: gives the kept empty slabs
   * back to the page allocator. Returns the pages released.
   *
   * Context: any; takes each cache's list_lock in turn, and the zone lock.
   *
   * @example
   * slab.shrink(cpu); // e.g. 8 after freeing every kmalloc-2k object
   */
  shrink(cpu: number): number {
    const m = this.m;
    let released = 0;
    for (let cache = 0; cache < NR_CACHES; cache++) {
      const c = this.caches + cache * C_WORDS;
      const lock = this.locks[cache];
      lock.lock(cpu);
      if (m[c + KMEM_CACHE_W.nr_empty] === 1) {
        const page = this.lists.last((c + KMEM_CACHE_W.partial) << 2);
        this.lists.del(page);
        m[c + KMEM_CACHE_W.nr_partial]--;
        m[c + KMEM_CACHE_W.nr_slabs]--;
        m[c + KMEM_CACHE_W.nr_empty] = 0;
        this.pages.freePages(page, SLAB, cpu);
        released += 1 << ORDER[cache];
      }
      lock.unlock(cpu);
    }
    return released;
  }

  /**
   * Every cache's figures, read from memory without the locks (a snapshot,
   * as /proc/slabinfo is).
   *
   * @example
   * slab.stats().find((c) => c.name === 'kmalloc-64')?.activeObjs;
   */
  stats(): SlabCacheStats[] {
    const m = this.m;
    return KMALLOC_SIZES.map((size, k) => {
      const c = this.caches + k * C_WORDS;
      return {
        name: kmallocName(size),
        size,
        order: ORDER[k],
        objsPerSlab: OBJECTS[k],
        activeObjs: m[c + KMEM_CACHE_W.active_objs],
        numObjs: m[c + KMEM_CACHE_W.nr_slabs] * OBJECTS[k],
        numSlabs: m[c + KMEM_CACHE_W.nr_slabs],
        partialSlabs: m[c + KMEM_CACHE_W.nr_partial],
        emptySlabs: m[c + KMEM_CACHE_W.nr_empty],
      };
    });
  }
}

/** Object size of cache `cache`. */
export const kmallocSize = (cache: number): number => SIZE[cache];
/** Objects per slab of cache `cache`. */
export const kmallocObjects = (cache: number): number => OBJECTS[cache];
