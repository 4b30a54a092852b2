/**
 * The dynamic per-CPU allocator: `alloc_percpu` / `free_percpu` after
 * mm/percpu.c, over the emulator's physical memory.
 *
 * Chunks and units. Every chunk has one unit per possible CPU, `unit_size`
 * bytes apart, the same stride as the first chunk's units. An allocation
 * is an offset into a chunk and exists in every unit at once. Its per-CPU
 * pointer follows __addr_to_pcpu_ptr: the address of the allocation in
 * CPU 0's unit minus pcpu_base_addr (the first chunk, whose template is
 * linked at 0), so `ptr + __per_cpu_offset[cpu]` is CPU `cpu`'s copy in
 * any chunk, exactly as for a static per-CPU variable.
 *
 *     first chunk   <static | reserved | dynamic>  x nr_cpus   (boot, per-cpu-areas.ts)
 *     chunk region  [u0 u1 .. un | meta] [u0 u1 .. un | meta] ...   ('percpu chunks')
 *
 * The first chunk is served by two chunks over the same units: the
 * reserved chunk (its reserved part, for `reserved` allocations only, never
 * on a list) and the first dynamic chunk (its dynamic part, on the lists
 * like any other). Both are populated from boot and never freed. Later
 * chunks are carved from the chunk region, which plays the vmalloc area:
 * slots of `chunk_bytes` holding the units and the chunk's metadata. A slot
 * freed by the balance worker goes on a free list in memory and is reused
 * first.
 *
 * Allocation (pcpu_alloc): the request is rounded up to 4 bytes and 4-byte
 * alignment; a size of 0 or above PCPU_MIN_UNIT_SIZE (the kernel's test: no
 * unit is smaller, so whatever passes fits a new chunk), or an alignment
 * above PAGE_SIZE or not a power of two, is refused with the kernel's warning.
 * Reserved requests go to the reserved chunk. Others search the chunk slots
 * (chunk-slots.ts) from the slot of their size upward, fullest first, and in
 * each chunk use the block hints (chunk.ts) to place the area. A sleepable
 * request that finds nothing creates a chunk and searches again, then
 * populates the pages under its area. An atomic request only uses pages
 * already populated and never creates a chunk: it fails instead, and leaves
 * the balance worker to populate more. The area is zeroed in every unit.
 *
 * Deliberate difference: the chunk region is small where the kernel's
 * vmalloc area is not, so a sleepable request that finds no room for a new
 * chunk first reintegrates the chunks isolated on to_depopulate (freed
 * space the balance worker has not reached yet) and searches once more.
 * What free() returned is usable at once by sleepable requests, whether or
 * not the balance worker ran; they fail (callers see ENOMEM) only when no
 * chunk can hold the request and the region has no room for another.
 *
 * Populating a page means backing it in every unit. Physical memory here is
 * one buffer that always exists, so populating and depopulating are
 * bookkeeping: the populated bitmap, nr_populated and the empty-page
 * counts, which decide what atomic allocations may use, what
 * /proc/meminfo's `Percpu:` shows and what the balance worker does.
 *
 * The balance worker (balance(), pcpu_balance_workfn) frees all wholly free
 * chunks but one, depopulates the empty pages of isolated chunks while at
 * least PCPU_EMPTY_POP_PAGES_HIGH (4) empty populated pages remain
 * elsewhere, populates pages (creating a chunk if needed) until there are
 * PCPU_EMPTY_POP_PAGES_HIGH of them, all of them after a failed atomic
 * allocation, and finally frees free chunks with nothing populated. The
 * allocator asks for it (`scheduleBalance`) when the count drops below
 * PCPU_EMPTY_POP_PAGES_LOW (2), after a failed atomic allocation, and when a
 * free leaves a second wholly free chunk or isolates one. As in the kernel,
 * the first chunk's and the spare free chunk's empty pages are never
 * depopulated, so the count can stay above 4. The kernel queues the work on
 * the unbound system workqueue, so any CPU runs it; the booted kernel runs
 * it from the timer softirq of whichever CPU ticks first while it is
 * pending (preempt/interrupts.ts).
 *
 * Messages (the `warn` hook): `illegal size (%zu) or align (%zu) for percpu
 * allocation` for refused requests (after rounding, as the kernel prints
 * them) and `allocation failed, size=%zu align=%zu atomic=%d, %s` with the
 * kernel's reasons. Failure warnings are limited like the kernel's
 * `warn_limit`: ten, then `limit reached, disable warning`, after which
 * they are counted (`warningsSuppressed`), not printed.
 *
 * Beyond the kernel: free() of a pointer that does not start a live
 * allocation throws EINVAL and changes nothing; isAllocationStart() and
 * sizeOf() let a sanitizer check first.
 *
 * State and locking. Everything lives in emulated memory: the state
 * struct (pcpu_state: parameters, counters, percpu_stats, the chunk region's
 * free list), the slot list heads, and each chunk's metadata; this object
 * holds views and constants only, and `{ attach: stateAddr }` rebuilds it
 * from memory. One raw spinlock in the state (pcpu_lock) guards all of it.
 * The kernel also has pcpu_alloc_mutex, held across chunk creation and
 * population because those sleep; nothing sleeps here, so pcpu_lock is held
 * across them and the mutex is not modelled. Every public method takes the
 * lock itself; none may be called with it held.
 *
 * @example
 * const pcpu = new PercpuAllocator({ memory: m.memory, map: m.map, areas: m.areas });
 * const p = pcpu.alloc(16, 8);              // per-CPU pointer, zeroed on every CPU
 * m.memory.write64(m.areas.perCpuPtr(p!, 1), 42n);
 * pcpu.free(p);
 */

import type { AddressMap } from '../segments/address-map.ts';
import { alignUp, s32, struct, u32 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { hexAddress, PAGE_SIZE, type PhysicalMemory } from '../segments/memory.ts';
import { RawSpinlock, rawSpinlockType } from '../segments/raw-spinlock.ts';
import {
  Chunks,
  chunkMetaLayout,
  PCPU_MIN_ALLOC_SHIFT,
  PCPU_MIN_ALLOC_SIZE,
  pcpuChunk,
} from './chunk.ts';
import { ChunkSlots, PCPU_SLOT_FAIL_THRESHOLD } from './chunk-slots.ts';
import { PCPU_MIN_UNIT_SIZE } from './first-chunk.ts';
import type { PerCpuAreas } from './per-cpu-areas.ts';
import {
  percpuStatsType,
  statsAreaAlloc,
  statsAreaDealloc,
  statsChunkAlloc,
  statsChunkDealloc,
  statsInit,
} from './percpu-stats.ts';

const PCPU_CHUNK_W = pcpuChunk.word;

/** The balance worker keeps at least this many empty populated pages for atomic allocations... */
export const PCPU_EMPTY_POP_PAGES_LOW = 2;
/** ...and populates up to this many. */
export const PCPU_EMPTY_POP_PAGES_HIGH = 4;
/** Failure warnings printed before the kernel's `limit reached, disable warning`. */
export const PCPU_WARN_LIMIT = 10;
/** Default size of the chunk region. */
export const PCPU_CHUNK_REGION_SIZE = 8 << 20;

const PAGE_SHIFT = Math.log2(PAGE_SIZE);

// Hot-path constants, module-local (segments/ctype.ts, "Module-local constants").
const PAGE = PAGE_SIZE;
const MIN_ALLOC = PCPU_MIN_ALLOC_SIZE;
const MIN_ALLOC_SHIFT = PCPU_MIN_ALLOC_SHIFT;
const MAX_SIZE = PCPU_MIN_UNIT_SIZE;
const FAIL_THRESHOLD = PCPU_SLOT_FAIL_THRESHOLD;
const areaAlloc = statsAreaAlloc;
const areaDealloc = statsAreaDealloc;

/** The allocator's global state in memory (the kernel's file-scope variables of mm/percpu.c). */
export const pcpuState = struct('pcpu_state', [
  ['lock', rawSpinlockType],
  ['unit_pages', s32],
  ['unit_size', s32],
  ['nr_units', s32],
  ['static_size', s32],
  ['reserved_size', s32],
  ['dyn_size', s32],
  ['base_addr', u32],
  ['first_chunk', u32],
  ['reserved_chunk', u32],
  ['chunk_lists', u32],
  ['nr_empty_pop_pages', s32],
  ['nr_populated', u32],
  ['atomic_alloc_failed', u32],
  ['balance_pending', u32],
  ['warn_limit', s32],
  ['warn_suppressed', u32],
  ['region_start', u32],
  ['region_end', u32],
  ['region_next', u32],
  ['region_free', u32],
  ['chunk_bytes', u32],
  ['stats', percpuStatsType],
]);
const PCPU_STATE_W = pcpuState.word;
const PCPU_STATE_OFF = pcpuState.off;

/** Hooks into the machine. */
export interface PercpuHooks {
  /** Prints one kernel message line. Default: none printed. */
  warn?: (line: string) => void;
  /** The CPU calling, recorded as the lock holder. Default 0. */
  currentCpu?: () => number;
  /** schedule_work(&pcpu_balance_work): the caller runs balance() later. Default: only `balancePending`. */
  scheduleBalance?: () => void;
  /** Spin on the lock rather than report contention (worker threads). Default false. */
  concurrent?: boolean;
}

/** Boot: set the allocator up over the first chunk and a new chunk region. */
export interface PercpuBootOptions extends PercpuHooks {
  memory: PhysicalMemory;
  map: AddressMap;
  areas: PerCpuAreas;
  /** Bytes of memory for chunks beyond the first (0 for none). Default 8 MiB. */
  chunkRegionSize?: number;
}

/** Attach: a new handle on an allocator already in memory. */
export interface PercpuAttachOptions extends PercpuHooks {
  memory: PhysicalMemory;
  /** Address of its pcpu_state (`stateAddr` of the allocator that made it). */
  attach: number;
}

export type PercpuAllocatorOptions = PercpuBootOptions | PercpuAttachOptions;

export interface PercpuAllocOptions {
  /** Cannot sleep (GFP_ATOMIC): only populated pages, no new chunk. Default false. */
  atomic?: boolean;
  /**
   * From the reserved chunk (module per-CPU data), and only from there; from
   * the normal chunks when the first chunk has no reserved area. Default false.
   */
  reserved?: boolean;
  /** __GFP_NOWARN: print nothing on failure. Default false. */
  noWarn?: boolean;
}

export class PercpuAllocator {
  readonly memory: PhysicalMemory;
  /** Address of pcpu_state. */
  readonly stateAddr: number;
  /** Address of the struct percpu_stats in the state. */
  readonly statsAddr: number;
  readonly chunks: Chunks;
  readonly slots: ChunkSlots;
  readonly unitSize: number;
  readonly unitPages: number;
  readonly nrUnits: number;
  readonly staticSize: number;
  readonly reservedSize: number;
  /** The first chunk's dynamic size as booted (pcpu_alloc_info.dyn_size). */
  readonly dynSize: number;
  /** pcpu_base_addr: CPU 0's unit of the first chunk. */
  readonly baseAddr: number;
  /** Header of the first dynamic chunk. */
  readonly firstChunk: number;
  /** Header of the reserved chunk, or 0 when there is no reserved area. */
  readonly reservedChunk: number;
  readonly regionStart: number;
  readonly regionEnd: number;
  /** Bytes of one chunk slot in the region: units and metadata, page-aligned. */
  readonly chunkBytes: number;
  private readonly m: Int32Array;
  private readonly st: number;
  private readonly stats: number;
  private readonly lock: RawSpinlock;
  private readonly warn: (line: string) => void;
  private readonly currentCpu: () => number;
  private readonly schedule: (() => void) | undefined;
  /** The byte offset findArea placed its area at. */

  /**
   * Boots the allocator over the machine's first chunk (pcpu_setup_first_chunk's
   * allocator part), reserving its state and a chunk region from `map`; or,
   * with `{ attach }`, makes a new handle on one already in memory.
   *
   * @example
   * const pcpu = new PercpuAllocator({ memory, map, areas, warn: (l) => console.log(l) });
   * const again = new PercpuAllocator({ memory, attach: pcpu.stateAddr });
   */
  constructor(opts: PercpuAllocatorOptions) {
    this.memory = opts.memory;
    this.warn = opts.warn ?? (() => {});
    this.currentCpu = opts.currentCpu ?? (() => 0);
    this.schedule = opts.scheduleBalance;
    const stateAddr = 'attach' in opts ? opts.attach : PercpuAllocator.setUp(opts);
    this.stateAddr = stateAddr;
    this.statsAddr = stateAddr + PCPU_STATE_OFF.stats;
    const mem = opts.memory;
    const read = (name: string) => mem.read32(stateAddr + pcpuState.field(name).offset);
    if (read('unit_size') === 0) {
      throw new ErrnoError(
        'EINVAL',
        `no per-CPU allocator state at 0x${stateAddr.toString(16)}: unit_size is 0`,
      );
    }
    this.unitSize = read('unit_size');
    this.unitPages = read('unit_pages');
    this.nrUnits = read('nr_units');
    this.staticSize = read('static_size');
    this.reservedSize = read('reserved_size');
    this.dynSize = read('dyn_size');
    this.baseAddr = read('base_addr');
    this.firstChunk = read('first_chunk');
    this.reservedChunk = read('reserved_chunk');
    this.regionStart = read('region_start');
    this.regionEnd = read('region_end');
    this.chunkBytes = read('chunk_bytes');
    this.chunks = new Chunks(
      mem,
      {
        emptyPopPages: stateAddr + PCPU_STATE_OFF.nr_empty_pop_pages,
        nrPopulated: stateAddr + PCPU_STATE_OFF.nr_populated,
      },
      this.unitSize,
      this.nrUnits,
    );
    this.slots = new ChunkSlots(this.chunks, read('chunk_lists'), this.unitSize);
    this.m = this.chunks.m;
    this.st = stateAddr >> 2;
    this.stats = this.statsAddr >> 2;
    this.lock = new RawSpinlock(mem, stateAddr + PCPU_STATE_OFF.lock, {
      concurrent: opts.concurrent === true,
    });
  }

  /** Lays out and initialises the state, the reserved and first chunks, and the region. */
  private static setUp(opts: PercpuBootOptions): number {
    const { memory, map, areas } = opts;
    const fc = areas.firstChunk;
    const unitSize = fc.unitSize;
    // The static part ends 4-aligned; the dynamic part shrinks to keep the page-aligned end.
    const staticSize = alignUp(fc.staticSize, PCPU_MIN_ALLOC_SIZE);
    const dynSize = fc.dynSize - (staticSize - fc.staticSize);
    const reservedStart = areas.base + staticSize;
    const dynStart = reservedStart + fc.reservedSize;
    const listsOff = alignUp(pcpuState.size, 8);
    const reservedOff = alignUp(listsOff + ChunkSlots.bytes(unitSize), 8);
    const reservedMeta =
      fc.reservedSize > 0
        ? chunkMetaLayout(Chunks.firstChunkPages(reservedStart, fc.reservedSize)).size
        : 0;
    const firstOff = alignUp(reservedOff + reservedMeta, 8);
    const total = firstOff + chunkMetaLayout(Chunks.firstChunkPages(dynStart, dynSize)).size;
    const state = map.reserve('percpu allocator', total, 8).start;

    const regionSize = opts.chunkRegionSize ?? PCPU_CHUNK_REGION_SIZE;
    if (!Number.isInteger(regionSize) || regionSize < 0 || regionSize % PAGE_SIZE !== 0) {
      throw new ErrnoError(
        'EINVAL',
        `chunk region size ${regionSize} is not a non-negative multiple of ${PAGE_SIZE}`,
      );
    }
    const region = regionSize > 0 ? map.reserve('percpu chunks', regionSize).start : 0;
    const unitPages = unitSize / PAGE_SIZE;
    const chunkBytes =
      areas.nrCpus * unitSize + alignUp(chunkMetaLayout(unitPages).size, PAGE_SIZE);

    memory.fill(state, total, 0);
    RawSpinlock.init(memory, state + PCPU_STATE_OFF.lock);
    const write = (name: string, v: number) =>
      memory.write32(state + pcpuState.field(name).offset, v);
    write('unit_pages', unitPages);
    write('unit_size', unitSize);
    write('nr_units', areas.nrCpus);
    write('static_size', fc.staticSize);
    write('reserved_size', fc.reservedSize);
    write('dyn_size', fc.dynSize);
    write('base_addr', areas.base);
    write('chunk_lists', state + listsOff);
    write('warn_limit', PCPU_WARN_LIMIT);
    write('region_start', region);
    write('region_end', region + regionSize);
    write('region_next', region);
    write('chunk_bytes', chunkBytes);

    const chunks = new Chunks(
      memory,
      {
        emptyPopPages: state + PCPU_STATE_OFF.nr_empty_pop_pages,
        nrPopulated: state + PCPU_STATE_OFF.nr_populated,
      },
      unitSize,
      areas.nrCpus,
    );
    const slots = new ChunkSlots(chunks, state + listsOff, unitSize);
    slots.init();
    const m = chunks.m;
    const stats = (state + PCPU_STATE_OFF.stats) >> 2;
    statsInit(m, stats, unitSize);
    if (fc.reservedSize > 0) {
      chunks.initFirst(state + reservedOff, reservedStart, fc.reservedSize, true);
      write('reserved_chunk', state + reservedOff);
    }
    const first = state + firstOff;
    chunks.initFirst(first, dynStart, dynSize, false);
    write('first_chunk', first);
    write('nr_empty_pop_pages', m[(first >> 2) + PCPU_CHUNK_W.nr_empty_pop_pages]);
    slots.relocate(first, -1);
    write('nr_populated', (fc.staticSize + fc.reservedSize + fc.dynSize) >> PAGE_SHIFT);
    statsChunkAlloc(m, stats);
    return state;
  }

  // ---- allocation ------------------------------------------------------------------------

  /**
   * alloc_percpu / __alloc_percpu_gfp / __alloc_reserved_percpu: `size` bytes
   * at `align`, zeroed on every possible CPU. Returns the per-CPU pointer, or
   * null after printing the kernel's warning.
   *
   * Context: any; takes pcpu_lock. An atomic allocation never creates a chunk.
   *
   * @example
   * const p = pcpu.alloc(8, 8, { atomic: true });
   * if (p !== null) memory.read64(areas.perCpuPtr(p, 3)); // 0n
   */
  alloc(size: number, align: number, opts?: PercpuAllocOptions): number | null {
    const atomic = opts?.atomic === true;
    const doWarn = opts?.noWarn !== true;
    if (!Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(align) || align < 0) {
      if (doWarn) this.warn(`illegal size (${size}) or align (${align}) for percpu allocation`);
      return null;
    }
    if (align < MIN_ALLOC) align = MIN_ALLOC;
    size += (MIN_ALLOC - (size % MIN_ALLOC)) % MIN_ALLOC;
    if (size === 0 || size > MAX_SIZE || align > PAGE || (align & (align - 1)) !== 0) {
      if (doWarn) this.warn(`illegal size (${size}) or align (${align}) for percpu allocation`);
      return null;
    }
    const bits = size >> MIN_ALLOC_SHIFT;
    const bitAlign = align >> MIN_ALLOC_SHIFT;
    const cpu = this.currentCpu();
    this.lock.lock(cpu);
    let c = 0;
    let off = -1;
    let err = '';
    let balance = false;
    let warnings = 0;
    try {
      if (opts?.reserved === true && this.reservedChunk !== 0) {
        c = this.reservedChunk;
        const start = this.chunks.findBlockFit(c, bits, bitAlign, atomic);
        if (start >= 0) off = this.chunks.allocArea(c, bits, bitAlign, start);
        if (off < 0) err = 'alloc from reserved chunk failed';
      } else {
        const addr = this.findArea(size, bits, bitAlign, atomic);
        if (addr === 0) {
          err = atomic ? 'atomic alloc failed, no space left' : 'failed to allocate new chunk';
        } else {
          c = this.chunkOf(addr);
          off = addr - this.chunks.baseAddr(c);
        }
      }
      if (off >= 0) {
        areaAlloc(this.m, this.stats, c, size);
        if (this.m[this.st + PCPU_STATE_W.nr_empty_pop_pages] < PCPU_EMPTY_POP_PAGES_LOW) {
          balance = this.requestBalance();
        }
        if (!atomic) this.chunks.populateRange(c, off, off + size);
      } else {
        if (atomic) {
          this.m[this.st + PCPU_STATE_W.atomic_alloc_failed] = 1;
          balance = this.requestBalance();
        }
        if (doWarn) warnings = this.takeWarning();
      }
    } finally {
      this.lock.unlock(cpu);
    }
    if (warnings > 0) {
      this.warn(`allocation failed, size=${size} align=${align} atomic=${atomic ? 1 : 0}, ${err}`);
      if (warnings > 1) this.warn('limit reached, disable warning');
    }
    if (balance) this.schedule?.();
    if (off < 0) return null;
    const base = this.chunks.baseAddr(c) + off;
    const u8 = this.memory.u8;
    for (let unit = 0; unit < this.nrUnits; unit++) {
      const at = base + unit * this.unitSize;
      u8.fill(0, at, at + size);
    }
    return base - this.baseAddr;
  }

  /**
   * The search of pcpu_alloc over the normal chunks: slots from the request's
   * size up to the free slot (sidelined chunks last), fullest first. Chunks
   * in low slots that fail a fit are moved to slot 0. Sleepable requests make
   * a chunk when none is free and search once more, which the free chunk
   * always satisfies. Returns the area's address in CPU 0's unit, or 0.
   *
   * Context: pcpu_lock held.
   */
  private findArea(size: number, bits: number, bitAlign: number, atomic: boolean): number {
    const { chunks, slots } = this;
    let tookBack = false;
    // Passes: the search, then after a new chunk or after taking isolated chunks back.
    for (let pass = 0; pass < 3; pass++) {
      for (let slot = slots.sizeToSlot(size); slot <= slots.freeSlot; slot++) {
        for (let c = slots.first(slot), visited = 1; c !== 0; slots.bound(++visited, slot)) {
          const next = slots.next(c, slot);
          const start = chunks.findBlockFit(c, bits, bitAlign, atomic);
          if (start < 0) {
            if (slot < FAIL_THRESHOLD) slots.move(c, 0, true);
            c = next;
            continue;
          }
          const oslot = slots.chunkSlot(c);
          const off = chunks.allocArea(c, bits, bitAlign, start);
          slots.relocate(c, oslot);
          if (off >= 0) {
            slots.reintegrate(c);
            return chunks.baseAddr(c) + off;
          }
          c = next;
        }
      }
      if (atomic) break;
      if (slots.first(slots.freeSlot) === 0) {
        const c = this.createChunk();
        if (c !== 0) slots.relocate(c, -1);
        else if (tookBack || !this.takeBackIsolated()) break;
        else tookBack = true;
      }
    }
    return 0;
  }

  /**
   * Reintegrates every chunk waiting on to_depopulate (pcpu_reintegrate_chunk),
   * so the space frees returned to them serves a sleepable request the chunk
   * region has no room for; true if there was one. The kernel has no such
   * step: its vmalloc area always has room for another chunk, and the
   * balance worker gets to the isolated ones soon after. Context: pcpu_lock held.
   */
  private takeBackIsolated(): boolean {
    const slots = this.slots;
    const slot = slots.toDepopulateSlot;
    const first = slots.first(slot);
    for (let c = first, n = 1; c !== 0; c = slots.first(slot), slots.bound(++n, slot)) {
      slots.reintegrate(c);
    }
    return first !== 0;
  }

  /**
   * The kernel's warn_limit for failure warnings: 0 when this one is only
   * counted, 1 to print it, 2 to print it and `limit reached`. The caller
   * prints after dropping the lock. Context: pcpu_lock held.
   */
  private takeWarning(): number {
    const m = this.m;
    const limit = m[this.st + PCPU_STATE_W.warn_limit];
    if (limit <= 0) {
      m[this.st + PCPU_STATE_W.warn_suppressed]++;
      return 0;
    }
    m[this.st + PCPU_STATE_W.warn_limit] = limit - 1;
    return limit === 1 ? 2 : 1;
  }

  /** Marks balance work pending; true if the hook should be called. Context: pcpu_lock held. */
  private requestBalance(): boolean {
    this.m[this.st + PCPU_STATE_W.balance_pending] = 1;
    return this.schedule !== undefined;
  }

  // ---- free ------------------------------------------------------------------------------

  /**
   * free_percpu: frees the allocation `ptr` points to; null is a no-op. A
   * pointer that does not start a live allocation throws EINVAL and changes
   * nothing (the kernel would corrupt its maps).
   *
   * Context: any; takes pcpu_lock.
   *
   * @example
   * pcpu.free(pcpu.alloc(64, 8));
   * pcpu.free(null); // nothing
   */
  free(ptr: number | null): void {
    if (ptr === null || ptr === 0) return;
    if (!Number.isSafeInteger(ptr) || ptr < 0) {
      throw new ErrnoError(
        'EINVAL',
        `free_percpu(${hexAddress(ptr)}): not a per-CPU pointer (a non-negative integer)`,
      );
    }
    const cpu = this.currentCpu();
    this.lock.lock(cpu);
    let balance = false;
    try {
      const c = Number.isSafeInteger(ptr) ? this.chunkOf(ptr + this.baseAddr) : 0;
      const off = c === 0 ? 0 : ptr + this.baseAddr - this.chunks.baseAddr(c);
      if (c === 0 || this.chunks.areaSize(c, off) === 0) {
        throw new ErrnoError(
          'EINVAL',
          `free_percpu(${hexAddress(ptr)}): not the start of a live per-CPU allocation`,
        );
      }
      const { chunks, slots } = this;
      areaDealloc(this.m, this.stats, c);
      const oslot = slots.chunkSlot(c);
      chunks.freeArea(c, off);
      slots.relocate(c, oslot);
      if (!chunks.isIsolated(c) && chunks.freeBytes(c) === this.unitSize) {
        for (
          let pos = slots.first(slots.freeSlot);
          pos !== 0;
          pos = slots.next(pos, slots.freeSlot)
        ) {
          if (pos !== c) {
            balance = this.requestBalance();
            break;
          }
        }
      } else if (this.shouldReclaim(c)) {
        slots.isolate(c);
        balance = this.requestBalance();
      }
    } finally {
      this.lock.unlock(cpu);
    }
    if (balance) this.schedule?.();
  }

  /**
   * pcpu_should_reclaim_chunk: isolate `c` for depopulation when a quarter of
   * its pages are empty and populated and the others still have more than
   * PCPU_EMPTY_POP_PAGES_HIGH; or when it is isolated already and has empty
   * pages again. Never the first or reserved chunk. Context: pcpu_lock held.
   */
  private shouldReclaim(c: number): boolean {
    if (c === this.firstChunk || c === this.reservedChunk) return false;
    const m = this.m;
    const cw = c >> 2;
    const empty = m[cw + PCPU_CHUNK_W.nr_empty_pop_pages];
    return (
      (m[cw + PCPU_CHUNK_W.isolated] !== 0 && empty > 0) ||
      (m[this.st + PCPU_STATE_W.nr_empty_pop_pages] > PCPU_EMPTY_POP_PAGES_HIGH + empty &&
        empty >= Math.floor(m[cw + PCPU_CHUNK_W.nr_pages] / 4))
    );
  }

  /**
   * pcpu_chunk_addr_search: the chunk serving `addr` (an address in CPU 0's
   * unit), or 0. Context: pcpu_lock held.
   */
  private chunkOf(addr: number): number {
    if (this.chunks.addrInChunk(this.firstChunk, addr)) return this.firstChunk;
    if (this.reservedChunk !== 0 && this.chunks.addrInChunk(this.reservedChunk, addr)) {
      return this.reservedChunk;
    }
    if (addr < this.regionStart || addr >= this.m[this.st + PCPU_STATE_W.region_next] >>> 0)
      return 0;
    const slot =
      this.regionStart + Math.floor((addr - this.regionStart) / this.chunkBytes) * this.chunkBytes;
    if (addr - slot >= this.unitSize) return 0;
    const c = slot + this.nrUnits * this.unitSize;
    return this.m[(c >> 2) + PCPU_CHUNK_W.live] !== 0 ? c : 0;
  }

  /**
   * True when `ptr` is the per-CPU pointer of a live allocation (its start).
   *
   * @example
   * const p = pcpu.alloc(32, 4)!;
   * pcpu.isAllocationStart(p);     // true
   * pcpu.isAllocationStart(p + 4); // false
   */
  isAllocationStart(ptr: number): boolean {
    return this.sizeOf(ptr) !== undefined;
  }

  /**
   * The size in bytes the allocator holds for the live allocation at `ptr`
   * (the request rounded up to 4 bytes), or undefined when `ptr` does not
   * start one.
   *
   * @example
   * pcpu.sizeOf(pcpu.alloc(10, 4)!); // 12
   */
  sizeOf(ptr: number): number | undefined {
    if (!Number.isSafeInteger(ptr)) return undefined;
    return this.withLock(() => {
      const addr = ptr + this.baseAddr;
      const c = this.chunkOf(addr);
      if (c === 0) return undefined;
      const size = this.chunks.areaSize(c, addr - this.chunks.baseAddr(c));
      return size === 0 ? undefined : size;
    });
  }

  // ---- chunks ----------------------------------------------------------------------------

  /**
   * pcpu_create_chunk: a new chunk in a free slot of the region (a freed one
   * first), nothing populated; 0 when the region is full. Context: pcpu_lock held.
   */
  private createChunk(): number {
    const m = this.m;
    let slot = m[this.st + PCPU_STATE_W.region_free] >>> 0;
    if (slot !== 0) {
      m[this.st + PCPU_STATE_W.region_free] =
        m[((slot + this.nrUnits * this.unitSize) >> 2) + PCPU_CHUNK_W.list];
    } else {
      slot = m[this.st + PCPU_STATE_W.region_next] >>> 0;
      if (slot === 0 || slot + this.chunkBytes > this.regionEnd) return 0;
      m[this.st + PCPU_STATE_W.region_next] = slot + this.chunkBytes;
    }
    const c = slot + this.nrUnits * this.unitSize;
    this.chunks.init(c, slot, this.unitPages);
    statsChunkAlloc(m, this.stats);
    return c;
  }

  /**
   * pcpu_destroy_chunk: returns the slot of `c` (off every list, nothing
   * populated) to the region's free list. Context: pcpu_lock held.
   */
  private destroyChunk(c: number): void {
    const m = this.m;
    const cw = c >> 2;
    statsChunkDealloc(m, this.stats);
    m[cw + PCPU_CHUNK_W.live] = 0;
    m[cw + PCPU_CHUNK_W.list] = m[this.st + PCPU_STATE_W.region_free];
    m[this.st + PCPU_STATE_W.region_free] = this.chunks.baseAddr(c);
  }

  // ---- the balance worker ----------------------------------------------------------------

  /** True when the allocator has asked for balance() since it last ran. */
  get balancePending(): boolean {
    return Atomics.load(this.m, this.st + PCPU_STATE_W.balance_pending) !== 0;
  }

  /**
   * pcpu_balance_workfn: frees surplus free chunks, depopulates isolated
   * chunks, populates pages for atomic allocations, then frees free chunks
   * left with nothing populated. Context: process (a kworker); takes pcpu_lock.
   *
   * @example
   * pcpu.balance();
   * percpuStats(pcpu).global.emptyPopPages; // >= 4 when there was room to populate
   */
  balance(): void {
    this.withLock(() => {
      this.m[this.st + PCPU_STATE_W.balance_pending] = 0;
      this.balanceFree(false);
      this.reclaimPopulated();
      this.balancePopulated();
      this.balanceFree(true);
    });
  }

  /**
   * pcpu_balance_free: destroys every wholly free chunk but the first on the
   * free slot; with `emptyOnly`, only those with no populated page.
   * Context: pcpu_lock held.
   */
  private balanceFree(emptyOnly: boolean): void {
    const { slots, chunks } = this;
    const spare = slots.first(slots.freeSlot);
    if (spare === 0) return;
    const doomed: number[] = [];
    for (let c = slots.next(spare, slots.freeSlot); c !== 0; c = slots.next(c, slots.freeSlot)) {
      if (!emptyOnly || this.m[(c >> 2) + PCPU_CHUNK_W.nr_empty_pop_pages] === 0) doomed.push(c);
    }
    for (const c of doomed) {
      slots.del(c);
      for (let rs = chunks.nextPageRun(c, 0, true); rs < this.unitPages; ) {
        const re = chunks.pageRunEnd(c, rs, true);
        chunks.depopulated(c, rs, re);
        rs = chunks.nextPageRun(c, re, true);
      }
      this.destroyChunk(c);
    }
  }

  /**
   * pcpu_reclaim_populated: depopulates the empty pages of each chunk on the
   * to_depopulate list, last page first, while the other chunks keep at
   * least PCPU_EMPTY_POP_PAGES_HIGH empty pages; then sidelines the chunk, or
   * reintegrates it when it is wholly free or the count ran low.
   * Context: pcpu_lock held.
   */
  private reclaimPopulated(): void {
    const { slots, chunks } = this;
    const m = this.m;
    for (let c = slots.first(slots.toDepopulateSlot); c !== 0; ) {
      const cw = c >> 2;
      let reintegrate = false;
      let end = -1;
      for (let i = m[cw + PCPU_CHUNK_W.nr_pages] - 1; i >= 0; i--) {
        if (m[cw + PCPU_CHUNK_W.nr_empty_pop_pages] === 0) break;
        if (chunks.globalEmptyPages < PCPU_EMPTY_POP_PAGES_HIGH) {
          reintegrate = true;
          break;
        }
        const empty = chunks.isPageEmpty(c, i) && chunks.isPagePopulated(c, i);
        if (empty) {
          if (end < 0) end = i;
          if (i > 0) continue;
        }
        if (end >= 0) {
          chunks.depopulated(c, empty ? i : i + 1, end + 1);
          end = -1;
        }
      }
      if (reintegrate || chunks.freeBytes(c) === this.unitSize) slots.reintegrate(c);
      else slots.sideline(c);
      c = slots.first(slots.toDepopulateSlot);
    }
  }

  /**
   * pcpu_balance_populated: populates free pages, in chunks from the fullest
   * slot that can hold a page upwards, until PCPU_EMPTY_POP_PAGES_HIGH are
   * empty and populated (that many more after a failed atomic allocation),
   * creating a chunk when no chunk has unpopulated pages left.
   * Context: pcpu_lock held.
   */
  private balancePopulated(): void {
    const { slots, chunks } = this;
    const m = this.m;
    for (;;) {
      let nrToPop: number;
      if (m[this.st + PCPU_STATE_W.atomic_alloc_failed] !== 0) {
        nrToPop = PCPU_EMPTY_POP_PAGES_HIGH;
        m[this.st + PCPU_STATE_W.atomic_alloc_failed] = 0;
      } else {
        nrToPop = Math.min(
          Math.max(PCPU_EMPTY_POP_PAGES_HIGH - chunks.globalEmptyPages, 0),
          PCPU_EMPTY_POP_PAGES_HIGH,
        );
      }
      for (let slot = slots.sizeToSlot(PAGE_SIZE); slot <= slots.freeSlot && nrToPop > 0; slot++) {
        let c = slots.first(slot);
        while (
          c !== 0 &&
          m[(c >> 2) + PCPU_CHUNK_W.nr_pages] === m[(c >> 2) + PCPU_CHUNK_W.nr_populated]
        ) {
          c = slots.next(c, slot);
        }
        if (c === 0) continue;
        for (let rs = chunks.nextPageRun(c, 0, false); rs < chunks.nrPages(c) && nrToPop > 0; ) {
          const re = chunks.pageRunEnd(c, rs, false);
          const nr = Math.min(re - rs, nrToPop);
          chunks.populated(c, rs, rs + nr);
          nrToPop -= nr;
          rs = chunks.nextPageRun(c, re, false);
        }
      }
      if (nrToPop === 0) return;
      const c = this.createChunk();
      if (c === 0) return;
      slots.relocate(c, -1);
    }
  }

  // ---- inspection ------------------------------------------------------------------------

  /**
   * Runs `fn` under pcpu_lock (for reading a consistent state).
   *
   * @example
   * pcpu.withLock(() => pcpu.nrPopulated);
   */
  withLock<T>(fn: () => T): T {
    return this.lock.withLock(this.currentCpu(), fn);
  }

  /**
   * Calls `fn` for the reserved chunk (slot -1), then every chunk on the
   * slots in order, as debugfs lists them. Context: pcpu_lock held.
   *
   * @example
   * pcpu.withLock(() => pcpu.forEachChunk((c, slot) => console.log(c.toString(16), slot)));
   */
  forEachChunk(fn: (c: number, slot: number) => void): void {
    if (this.reservedChunk !== 0) fn(this.reservedChunk, -1);
    for (let slot = 0; slot < this.slots.nrSlots; slot++) {
      for (let c = this.slots.first(slot); c !== 0; c = this.slots.next(c, slot)) fn(c, slot);
    }
  }

  /** pcpu_nr_populated: pages populated per unit, the first chunk's included. */
  get nrPopulated(): number {
    return this.m[this.st + PCPU_STATE_W.nr_populated] >>> 0;
  }

  /** Failure warnings counted but not printed since the limit was reached. */
  get warningsSuppressed(): number {
    return this.m[this.st + PCPU_STATE_W.warn_suppressed] >>> 0;
  }

  /**
   * Bytes of allocator metadata in memory: the state, the slot heads, and
   * each chunk's header, bitmaps and blocks (not the page padding of slots).
   *
   * @example
   * pcpu.metadataBytes() / percpuStats(pcpu).global.nrCurAlloc; // bytes per live allocation
   */
  metadataBytes(): number {
    return this.withLock(() => {
      let bytes = alignUp(pcpuState.size, 8) + ChunkSlots.bytes(this.unitSize);
      this.forEachChunk((c) => {
        bytes += alignUp(chunkMetaLayout(this.chunks.nrPages(c)).size, 8);
      });
      return bytes;
    });
  }
}
