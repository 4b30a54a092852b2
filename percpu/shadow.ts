/**
 * The sanitizer's shadow of per-CPU memory: one state byte per byte of a
 * chunk's unit, saying whether it belongs to a live allocation, a freed one,
 * or none.
 *
 * Why per unit and not per physical byte: an allocation exists in every unit
 * of its chunk at once and is allocated and freed on all CPUs together, so
 * every CPU's copy of a byte has the same state. One shadow byte per unit
 * byte covers all CPUs: `unit_size` bytes per chunk (40 KiB for the usual
 * first chunk), whatever the number of CPUs. Why byte granularity and not
 * KASAN's 8-byte granules with a partial count: per-CPU areas are placed at
 * 4-byte granularity (PCPU_MIN_ALLOC_SIZE), so two allocations can share an
 * 8-byte granule, and at one byte per unit byte the exact answer costs
 * little. Why a typed array outside emulated memory: the shadow is the
 * sanitizer's bookkeeping, not machine state a guest may see or corrupt, and
 * it costs the machine no physical memory. It lives on a SharedArrayBuffer
 * so parallel workers could share it.
 *
 * Per-CPU memory is the first chunk (`<static | reserved | dynamic>` per
 * unit: the static part is always accessible, the rest starts out
 * unallocated) and the unit part of every slot of the allocator's chunk
 * region; a slot's shadow is made, all unallocated, the first time an
 * allocation lands in it. The metadata at the end of each slot is not
 * per-CPU memory and is not shadowed.
 *
 * @example
 * const shadow = new PercpuShadow(geometryOf(allocator, areas));
 * shadow.mark(p, 24, SHADOW_LIVE);
 * shadow.firstBad(areas.perCpuPtr(p, 1), 8); // -1: all 8 bytes are live
 */

import type { PerCpuAreas } from './per-cpu-areas.ts';

/** A byte of a live allocation (or of a static per-CPU variable). */
export const SHADOW_LIVE = 0x00;
/** A byte of a freed allocation (KASAN_SLAB_FREE). */
export const SHADOW_FREED = 0xfb;
/** Per-CPU memory that no allocation holds (KASAN_SLAB_REDZONE's role). */
export const SHADOW_UNALLOCATED = 0xfc;

/** Where per-CPU memory is, as the allocator lays it out. */
export interface PercpuGeometry {
  /** CPU 0's unit of the first chunk (pcpu_base_addr). */
  readonly baseAddr: number;
  readonly unitSize: number;
  readonly nrUnits: number;
  /** Bytes of the static part at the start of every first-chunk unit. */
  readonly staticSize: number;
  /** The chunk region: slots of `chunkBytes`, each `nrUnits` units then metadata. */
  readonly regionStart: number;
  readonly regionEnd: number;
  readonly chunkBytes: number;
}

/** Where an address falls in per-CPU memory. */
export interface PercpuLocation {
  /** Whose unit. */
  readonly cpu: number;
  /** The per-CPU pointer of the byte: `addr - __per_cpu_offset[cpu]`. */
  readonly ptr: number;
  /** Offset in the unit. */
  readonly off: number;
  /** The chunk: -1 for the first chunk, else the slot number in the region. */
  readonly chunk: number;
}

export class PercpuShadow {
  private readonly first: Uint8Array;
  private readonly slots: (Uint8Array | undefined)[];
  private readonly firstEnd: number;
  private readonly unitsBytes: number;

  constructor(readonly geometry: PercpuGeometry) {
    const g = geometry;
    this.unitsBytes = g.nrUnits * g.unitSize;
    this.firstEnd = g.baseAddr + this.unitsBytes;
    this.first = newShadow(g.unitSize);
    this.first.fill(SHADOW_LIVE, 0, g.staticSize);
    const nrSlots = g.chunkBytes > 0 ? Math.floor((g.regionEnd - g.regionStart) / g.chunkBytes) : 0;
    this.slots = new Array(nrSlots).fill(undefined);
  }

  /** The physical range that holds all per-CPU memory (for the CPU's watched range). */
  get watchRange(): readonly [number, number] {
    const g = this.geometry;
    const end = this.slots.length > 0 ? g.regionEnd : this.firstEnd;
    return [Math.min(g.baseAddr, g.regionStart), Math.max(this.firstEnd, end)];
  }

  /**
   * Where `addr` falls in per-CPU memory, or undefined when it is not
   * per-CPU memory (including a slot's metadata).
   *
   * @example
   * shadow.locate(areas.perCpuPtr(p, 2)); // { cpu: 2, ptr: p, off, chunk }
   */
  locate(addr: number): PercpuLocation | undefined {
    const g = this.geometry;
    let rel: number;
    let chunk: number;
    if (addr >= g.baseAddr && addr < this.firstEnd) {
      rel = addr - g.baseAddr;
      chunk = -1;
    } else if (addr >= g.regionStart && addr < g.regionEnd && g.chunkBytes > 0) {
      chunk = Math.floor((addr - g.regionStart) / g.chunkBytes);
      if (chunk >= this.slots.length) return undefined;
      rel = addr - g.regionStart - chunk * g.chunkBytes;
      if (rel >= this.unitsBytes) return undefined;
    } else {
      return undefined;
    }
    const cpu = Math.floor(rel / g.unitSize);
    const off = rel - cpu * g.unitSize;
    return { cpu, off, chunk, ptr: addr - g.baseAddr - cpu * g.unitSize };
  }

  /**
   * Sets the state of `size` bytes from per-CPU pointer `ptr` (every CPU's
   * copy), which must lie in one chunk's unit.
   */
  mark(ptr: number, size: number, state: number): void {
    const at = this.locate(ptr + this.geometry.baseAddr);
    if (at === undefined || at.off + size > this.geometry.unitSize) {
      throw new RangeError(
        `per-CPU pointer 0x${ptr.toString(16)} (+${size}) is not inside one chunk's unit`,
      );
    }
    this.shadowOf(at.chunk, true)!.fill(state, at.off, at.off + size);
  }

  /** The state of the byte at per-CPU location `at`. */
  stateAt(at: PercpuLocation): number {
    return this.shadowOf(at.chunk, false)?.[at.off] ?? SHADOW_UNALLOCATED;
  }

  /**
   * The offset from `addr` of the first of `size` bytes that is per-CPU
   * memory but not live, or -1 when there is none. Bytes past the end of a
   * unit count as not live; bytes outside per-CPU memory are not checked.
   *
   * @example
   * shadow.firstBad(addr, 8); // 4 when the last 4 bytes are past the allocation
   */
  firstBad(addr: number, size: number): number {
    const g = this.geometry;
    const unit = g.unitSize;
    let s: Uint8Array | undefined;
    let rel: number;
    // The first chunk inline: this runs for every guest access to per-CPU memory.
    if (addr >= g.baseAddr && addr < this.firstEnd) {
      s = this.first;
      rel = addr - g.baseAddr;
    } else {
      const at = this.locate(addr);
      if (at === undefined) return -1;
      s = this.shadowOf(at.chunk, false);
      if (s === undefined) return 0;
      rel = at.off;
    }
    const off = rel % unit;
    const end = Math.min(off + size, unit);
    for (let k = off; k < end; k++) if (s[k] !== SHADOW_LIVE) return k - off;
    return off + size > end ? end - off : -1;
  }

  private shadowOf(chunk: number, create: boolean): Uint8Array | undefined {
    if (chunk < 0) return this.first;
    let s = this.slots[chunk];
    if (s === undefined && create) {
      s = newShadow(this.geometry.unitSize);
      this.slots[chunk] = s;
    }
    return s;
  }
}

/** A shadow for one unit, every byte unallocated. */
function newShadow(unitSize: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(unitSize)).fill(SHADOW_UNALLOCATED);
}

/**
 * A copy of the geometry fields of `allocator` (the PercpuAllocator has them all).
 *
 * @example
 * new PercpuShadow(percpuGeometry(m.percpu));
 */
export function percpuGeometry(allocator: PercpuGeometry): PercpuGeometry {
  const { baseAddr, unitSize, nrUnits, staticSize, regionStart, regionEnd, chunkBytes } = allocator;
  return { baseAddr, unitSize, nrUnits, staticSize, regionStart, regionEnd, chunkBytes };
}

/** The geometry of the first chunk alone (no chunk region), from the per-CPU areas. */
export function firstChunkGeometry(areas: PerCpuAreas): PercpuGeometry {
  const fc = areas.firstChunk;
  return {
    baseAddr: areas.base,
    unitSize: fc.unitSize,
    nrUnits: areas.nrCpus,
    staticSize: fc.staticSize,
    regionStart: 0,
    regionEnd: 0,
    chunkBytes: 0,
  };
}
