/**
 * The kernel heap: kmalloc / kzalloc / kfree / ksize over one region of
 * emulated memory ('kmalloc heap'), for the emulator's kernel objects (BPF
 * map storage first). It models the kernel's two-level heap:
 *
 * - sizes 1 to 8 KiB (KMALLOC_MAX_CACHE_SIZE) come from the kmalloc caches
 *   kmalloc-8, 16, 32, 64, 96, 128, 192, 256, 512, 1k, 2k, 4k and 8k, each
 *   serving objects of its size from slabs (segments/slab.ts);
 * - larger sizes, up to KMALLOC_MAX_SIZE (4 MiB, MAX_PAGE_ORDER), come
 *   straight from the buddy page allocator (segments/page-alloc.ts) as
 *   2^order pages, as kmalloc_large does; anything larger gets 0.
 *
 * The region holds everything:
 *
 *     [ kmalloc_heap: magic, extent, zone, kmem_cache[13] | mem_map: struct page[n] | obj_map | pages ]
 *                                                                                  page-aligned ^
 *
 * with one 32-byte struct page (segments/page.ts) and 64 bytes of obj_map
 * per page, so about 2.3% of the region is metadata.
 *
 * Semantics. kmalloc returns an address aligned to at least 8 (naturally
 * for power-of-two sizes up to 8 KiB, to 32 and 64 for kmalloc-96 and -192,
 * to the block size for large ones), not zeroed unless asked; kzalloc zeroes
 * the whole usable size (ksize). kmalloc(0) returns ZERO_SIZE_PTR (16), as
 * the kernel does: not NULL, so callers do not take it for a failure, and
 * in the unmapped page 0, so a dereference faults; kfree and ksize accept
 * it as they accept 0. Running out of memory returns 0 and prints nothing
 * (the caller turns it into ENOMEM). A size that is not a non-negative
 * integer is a bug in the TS caller and throws EINVAL. Beyond the kernel,
 * kfree and ksize of anything but a live object (a double free, an address
 * inside an object, a free page, outside the heap) throw EINVAL naming the
 * address and what is there, and a corrupted slab free pointer throws EFAULT.
 *
 * Reclaim. When the page allocator has no block for a request, the heap
 * gives back the empty slab each cache keeps (kmem_cache_shrink on every
 * kmalloc cache) and tries once more: the emulator's stand-in for reclaim,
 * so memory freed in one size class can serve another.
 *
 * State and locking. All state is in the region; this object holds
 * constants and lock handles, and attach() makes another handle (another
 * thread's) on the same heap. Each cache has its list_lock, the page
 * allocator its zone lock, taken in that order; every method takes what it
 * needs itself, so any CPU may call any method with no heap lock held. On
 * the hot path (a slab size) kmalloc and kfree take one list_lock, allocate
 * nothing and use no BigInt.
 *
 * @example
 * const heap = KernelHeap.create(memory, map, 4 << 20);
 * const p = heap.kzalloc(100);   // a kmalloc-128 object, zeroed
 * heap.ksize(p);                 // 128
 * heap.kfree(p);
 * heap.kfree(p);                 // throws EINVAL: kfree of 0x...: ... is free (double free ...)
 */

import type { AddressMap } from './address-map.ts';
import { alignUp, array, struct, u32 } from './ctype.ts';
import { ErrnoError } from './errno.ts';
import { hexAddress, PAGE_SIZE, type PhysicalMemory } from './memory.ts';
import { PAGE_DESC_SHIFT, PG_large_kmalloc, PG_slab, PG_tail, pageType } from './page.ts';
import { MAX_PAGE_ORDER, PageAllocator, zoneType } from './page-alloc.ts';
import {
  KMALLOC_MAX_CACHE_SIZE,
  KMALLOC_SIZES,
  kmallocIndex,
  kmallocName,
  kmallocObjects,
  kmallocSize,
  kmemCacheType,
  objMapBytes,
  SlabAllocator,
  type SlabCacheStats,
} from './slab.ts';

const PAGE_W = pageType.word;

/** What kmalloc(0) returns: a non-NULL pointer into the unmapped page 0. */
export const ZERO_SIZE_PTR = 16;
/** The largest kmalloc: one block of MAX_PAGE_ORDER (4 MiB). */
export const KMALLOC_MAX_SIZE = PAGE_SIZE << MAX_PAGE_ORDER;
/** `magic` of a heap in memory ('kmlc'). */
export const KMALLOC_HEAP_MAGIC = 0x6b6d6c63;

/** The heap's header at the start of its region. */
export const kmallocHeapType = struct('kmalloc_heap', [
  ['magic', u32],
  ['region_start', u32],
  ['region_size', u32],
  ['obj_map', u32],
  ['zone', zoneType],
  ['caches', array(kmemCacheType, KMALLOC_SIZES.length)],
]);

const DESC_BYTES = 1 << PAGE_DESC_SHIFT;
const OBJ_MAP_BYTES_PER_PAGE = objMapBytes(1);

// Hot-path constants, module-local (segments/ctype.ts, "Module-local constants").
const MAX_CACHE_SIZE = KMALLOC_MAX_CACHE_SIZE;
const ZERO_PTR = ZERO_SIZE_PTR;
const SLAB = PG_slab;
const LARGE = PG_large_kmalloc;
const TAIL = PG_tail;
const indexOf = kmallocIndex;
const sizeOf = kmallocSize;

export interface KernelHeapOptions {
  /** The CPU calling, recorded as the holder of the locks taken. Default 0. */
  currentCpu?: () => number;
  /** Spin on a held lock (worker threads) rather than report a deadlock. Default false. */
  concurrent?: boolean;
}

export interface KmallocOptions {
  /** __GFP_ZERO: zero the usable size. Default false. */
  zero?: boolean;
}

/** The heap's figures, read from memory. */
export interface KernelHeapStats {
  /** Live objects: slab objects and large allocations. */
  objects: number;
  /** Usable bytes of live objects (ksize): slab objects at their cache's size, large ones whole. */
  bytesInUse: number;
  /** Pages held by slabs and large allocations. */
  pagesInUse: number;
  slabPages: number;
  largePages: number;
  largeObjects: number;
  freePages: number;
  /** Pages of the page area (the region less its metadata). */
  totalPages: number;
  /** Free blocks of each order, 0 to MAX_PAGE_ORDER (/proc/buddyinfo). */
  buddyinfo: number[];
  /** Every kmalloc cache, smallest first (/proc/slabinfo). */
  caches: SlabCacheStats[];
}

const hex = hexAddress;

export class KernelHeap {
  /** Address of the kmalloc_heap header (the region's start). */
  readonly stateAddr: number;
  /** The region: header, metadata and pages. */
  readonly regionSize: number;
  /** First and one-past-last address of the page area. */
  readonly pagesStart: number;
  readonly pagesEnd: number;
  readonly pages: PageAllocator;
  readonly slab: SlabAllocator;
  private readonly m: Int32Array;
  private readonly currentCpu: () => number;

  private constructor(
    readonly memory: PhysicalMemory,
    stateAddr: number,
    opts: KernelHeapOptions,
  ) {
    if (
      !memory.isMapped(stateAddr, kmallocHeapType.size) ||
      stateAddr % 4 !== 0 ||
      memory.read32(stateAddr) !== KMALLOC_HEAP_MAGIC
    ) {
      throw new ErrnoError('EINVAL', `no kmalloc heap at ${hex(stateAddr)}`);
    }
    this.stateAddr = stateAddr;
    this.regionSize = memory.read32(stateAddr + kmallocHeapType.off.region_size);
    const lockOpts = { concurrent: opts.concurrent === true };
    this.pages = new PageAllocator(memory, stateAddr + kmallocHeapType.off.zone, lockOpts);
    this.slab = new SlabAllocator(
      memory,
      stateAddr + kmallocHeapType.off.caches,
      memory.read32(stateAddr + kmallocHeapType.off.obj_map),
      this.pages,
      lockOpts,
    );
    this.pagesStart = this.pages.start;
    this.pagesEnd = this.pages.start + this.pages.nrPages * PAGE_SIZE;
    this.m = new Int32Array(memory.buffer);
    this.currentCpu = opts.currentCpu ?? (() => 0);
  }

  /**
   * Reserves a region of `size` bytes (a multiple of the page size) named
   * 'kmalloc heap' from `map` and sets the heap up in it, every page free.
   *
   * @example
   * const heap = KernelHeap.create(m.memory, m.map, 1 << 20, { currentCpu: () => 0 });
   */
  static create(
    memory: PhysicalMemory,
    map: AddressMap,
    size: number,
    opts: KernelHeapOptions = {},
  ): KernelHeap {
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) {
      throw new ErrnoError(
        'EINVAL',
        `kmalloc heap size ${size} is not a positive multiple of ${PAGE_SIZE}`,
      );
    }
    const metaBytes = (n: number) =>
      alignUp(kmallocHeapType.size + n * (DESC_BYTES + OBJ_MAP_BYTES_PER_PAGE), PAGE_SIZE);
    let n = Math.floor(size / (PAGE_SIZE + DESC_BYTES + OBJ_MAP_BYTES_PER_PAGE));
    while (n > 0 && metaBytes(n) + n * PAGE_SIZE > size) n--;
    if (n < 1) {
      throw new ErrnoError(
        'EINVAL',
        `kmalloc heap size ${size} leaves no page after its metadata of ${metaBytes(1)} bytes`,
      );
    }
    const start = map.reserve('kmalloc heap', size).start;
    const memMap = start + kmallocHeapType.size;
    const objMap = memMap + n * DESC_BYTES;
    const pagesStart = start + metaBytes(n);
    memory.fill(start, kmallocHeapType.size, 0);
    const write = (name: string, v: number) =>
      memory.write32(start + kmallocHeapType.field(name).offset, v);
    write('region_start', start);
    write('region_size', size);
    write('obj_map', objMap);
    PageAllocator.init(memory, start + kmallocHeapType.off.zone, memMap, pagesStart / PAGE_SIZE, n);
    SlabAllocator.init(memory, start + kmallocHeapType.off.caches, objMap, objMapBytes(n));
    write('magic', KMALLOC_HEAP_MAGIC);
    return new KernelHeap(memory, start, opts);
  }

  /**
   * A new handle on the heap whose header is at `stateAddr` (another
   * thread's view of the same memory). Throws EINVAL when there is none.
   *
   * @example
   * const again = KernelHeap.attach(memory, heap.stateAddr);
   * again.kfree(heap.kmalloc(8));
   */
  static attach(
    memory: PhysicalMemory,
    stateAddr: number,
    opts: KernelHeapOptions = {},
  ): KernelHeap {
    return new KernelHeap(memory, stateAddr, opts);
  }

  /**
   * kmalloc: `size` bytes, or 0 when the heap has no room (or size exceeds
   * KMALLOC_MAX_SIZE); ZERO_SIZE_PTR for size 0.
   *
   * Context: any; takes a cache's list_lock and, for a new slab or a large
   * size, the zone lock.
   *
   * @example
   * const p = heap.kmalloc(24);            // a kmalloc-32 object, 32-aligned
   * const q = heap.kmalloc(64, { zero: true });
   */
  kmalloc(size: number, opts?: KmallocOptions): number {
    return this.alloc(size, opts !== undefined && opts.zero === true);
  }

  /**
   * kzalloc: kmalloc with the usable size zeroed.
   *
   * @example
   * heap.memory.read32(heap.kzalloc(16)); // 0
   */
  kzalloc(size: number): number {
    return this.alloc(size, true);
  }

  private alloc(size: number, zero: boolean): number {
    if (size > 0 && size <= MAX_CACHE_SIZE && (size | 0) === size) {
      const cpu = this.currentCpu();
      const cache = indexOf(size);
      let obj = this.slab.alloc(cache, cpu);
      if (obj === 0 && this.slab.shrink(cpu) > 0) obj = this.slab.alloc(cache, cpu);
      // Objects are 8-aligned and sized in 8s: zero by words (5x a byte fill on shared memory).
      if (obj !== 0 && zero) this.m.fill(0, obj >> 2, (obj + sizeOf(cache)) >> 2);
      return obj;
    }
    return this.allocLarge(size, zero);
  }

  /** kmalloc_large, and the sizes that are not a cache's: 0, too large, not an integer. */
  private allocLarge(size: number, zero: boolean): number {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new ErrnoError('EINVAL', `kmalloc size ${size} is not a non-negative integer`);
    }
    if (size === 0) return ZERO_PTR;
    if (size > KMALLOC_MAX_SIZE) return 0;
    let order = 0;
    while (PAGE_SIZE << order < size) order++;
    const cpu = this.currentCpu();
    let page = this.pages.allocPages(order, LARGE, cpu);
    if (page === 0 && this.slab.shrink(cpu) > 0) page = this.pages.allocPages(order, LARGE, cpu);
    if (page === 0) return 0;
    const addr = this.pages.pageToAddr(page);
    if (zero) this.m.fill(0, addr >> 2, (addr + (PAGE_SIZE << order)) >> 2);
    return addr;
  }

  /**
   * kfree: gives back an object kmalloc returned. 0 and ZERO_SIZE_PTR are
   * no-ops; anything else that is not a live object throws EINVAL naming
   * the address and what is there, and changes nothing.
   *
   * Context: any; takes the object's cache's list_lock, or the zone lock.
   *
   * @example
   * heap.kfree(heap.kmalloc(200));
   */
  kfree(addr: number): void {
    if (addr === 0 || addr === ZERO_PTR) return;
    if (addr >= this.pagesStart && addr < this.pagesEnd && (addr | 0) === addr) {
      const m = this.m;
      const page = this.headPage(addr);
      const flags = m[(page >> 2) + PAGE_W.flags];
      if (flags === SLAB) {
        if (this.slab.free(page, m[(page >> 2) + PAGE_W.slab_cache], addr, this.currentCpu()))
          return;
      } else if (flags === LARGE && addr === this.pages.pageToAddr(page)) {
        if (this.pages.freePages(page, LARGE, this.currentCpu())) return;
      }
    }
    throw new ErrnoError('EINVAL', `kfree of ${hex(addr)}: ${this.whyNotLive(addr)}`);
  }

  /**
   * ksize: the usable size of a live object (its cache's size, or the whole
   * block for a large one); 0 for 0 and ZERO_SIZE_PTR. Throws EINVAL for
   * anything else, as kfree does.
   *
   * Context: any, no lock (exact for an object the caller owns).
   *
   * @example
   * heap.ksize(heap.kmalloc(9000)); // 16384
   */
  ksize(addr: number): number {
    if (addr === 0 || addr === ZERO_PTR) return 0;
    if (addr >= this.pagesStart && addr < this.pagesEnd && (addr | 0) === addr) {
      const m = this.m;
      const page = this.headPage(addr);
      const flags = m[(page >> 2) + PAGE_W.flags];
      if (flags === SLAB) {
        const cache = m[(page >> 2) + PAGE_W.slab_cache];
        if (this.slab.isLiveObject(page, cache, addr)) return sizeOf(cache);
      } else if (flags === LARGE && addr === this.pages.pageToAddr(page)) {
        return PAGE_SIZE << m[(page >> 2) + PAGE_W.order];
      }
    }
    throw new ErrnoError('EINVAL', `ksize of ${hex(addr)}: ${this.whyNotLive(addr)}`);
  }

  /** The descriptor of the page holding `addr` (in the page area), or of its block's head page. */
  private headPage(addr: number): number {
    const page = this.pages.addrToPage(addr);
    return this.m[(page >> 2) + PAGE_W.flags] === TAIL
      ? this.m[(page >> 2) + PAGE_W.compound_head]
      : page;
  }

  /** What is at `addr`, which is not a live object: for error messages, read without locks. */
  private whyNotLive(addr: number): string {
    const regionEnd = this.stateAddr + this.regionSize;
    if (!Number.isSafeInteger(addr) || addr < this.stateAddr || addr >= regionEnd) {
      return `not in the kmalloc heap [${hex(this.stateAddr)}, ${hex(regionEnd)})`;
    }
    if (addr < this.pagesStart || addr >= this.pagesEnd) return "in the kmalloc heap's metadata";
    const m = this.m;
    const page = this.headPage(addr);
    const flags = m[(page >> 2) + PAGE_W.flags];
    const base = this.pages.pageToAddr(page);
    if (flags === SLAB) {
      const cache = m[(page >> 2) + PAGE_W.slab_cache];
      const size = sizeOf(cache);
      const name = kmallocName(size);
      const off = addr - base;
      if (off >= kmallocObjects(cache) * size) {
        return `in the unused tail of the ${name} slab at ${hex(base)}`;
      }
      if (off % size !== 0) {
        return `${off % size} bytes into the ${name} object at ${hex(addr - (off % size))}`;
      }
      return `the ${name} object there is free (a double free, or a pointer kmalloc did not return)`;
    }
    if (flags === LARGE) {
      const bytes = PAGE_SIZE << m[(page >> 2) + PAGE_W.order];
      return `${addr - base} bytes into the ${bytes}-byte allocation at ${hex(base)}`;
    }
    return `the page at ${hex(addr - ((addr - this.pagesStart) % PAGE_SIZE))} is free (a double free, or a pointer kmalloc did not return)`;
  }

  /**
   * Gives every cache's kept empty slab back to the page allocator
   * (kmem_cache_shrink on the kmalloc caches). Returns the pages released.
   *
   * Context: any; takes each cache's list_lock in turn, and the zone lock.
   *
   * @example
   * heap.shrink(); heap.stats().slabPages; // only slabs holding objects remain
   */
  shrink(): number {
    return this.slab.shrink(this.currentCpu());
  }

  /**
   * The heap's figures, read from memory without locks (a snapshot).
   *
   * @example
   * const s = heap.stats();
   * s.slabPages + s.largePages + s.freePages === s.totalPages; // true
   */
  stats(): KernelHeapStats {
    const z = this.pages.counters();
    const caches = this.slab.stats();
    let objects = z.largeAllocs;
    let bytesInUse = z.largePages * PAGE_SIZE;
    for (const c of caches) {
      objects += c.activeObjs;
      bytesInUse += c.activeObjs * c.size;
    }
    return {
      objects,
      bytesInUse,
      pagesInUse: z.slabPages + z.largePages,
      slabPages: z.slabPages,
      largePages: z.largePages,
      largeObjects: z.largeAllocs,
      freePages: z.freePages,
      totalPages: this.pages.nrPages,
      buddyinfo: z.buddyinfo,
      caches,
    };
  }
}
