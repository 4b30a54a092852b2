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
 * const shadow = new PercpuShadow(percpuGeometry(allocator));
 * shadow.mark(p, 24, SHADOW_LIVE);
 * shadow.firstBad(areas.perCpuPtr(p, 1), 8); // -1: all 8 bytes are live
 */

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
  // Copies of the geometry for firstBad, which runs for every guest access to per-CPU memory.
  private readonly baseAddr: number;
  private readonly unitSize: number;
  private readonly firstEnd: number;
  private readonly unitsBytes: number;
  private readonly regionStart: number;
  /** The end of the region's last whole slot. */
  private readonly slotsEnd: number;
  private readonly chunkBytes: number;

  constructor(readonly geometry: PercpuGeometry) {
    const g = geometry;
    this.baseAddr = g.baseAddr;
    this.unitSize = g.unitSize;
    this.unitsBytes = g.nrUnits * g.unitSize;
    this.firstEnd = g.baseAddr + this.unitsBytes;
    this.first = newShadow(g.unitSize);
    this.first.fill(SHADOW_LIVE, 0, g.staticSize);
    const nrSlots = g.chunkBytes > 0 ? Math.floor((g.regionEnd - g.regionStart) / g.chunkBytes) : 0;
    this.slots = new Array(nrSlots).fill(undefined);
    this.regionStart = g.regionStart;
    this.chunkBytes = g.chunkBytes;
    this.slotsEnd = g.regionStart + nrSlots * g.chunkBytes;
  }

  /** The physical range that holds all per-CPU memory (for the CPU's watched range). */
  get watchRange(): readonly [number, number] {
    if (this.slots.length === 0) return [this.baseAddr, this.firstEnd];
    return [Math.min(this.baseAddr, this.regionStart), Math.max(this.firstEnd, this.slotsEnd)];
  }

  /**
   * Where `addr` falls in per-CPU memory, or undefined when it is not
   * per-CPU memory (including a slot's metadata).
   *
   * @example
   * shadow.locate(areas.perCpuPtr(p, 2)); // { cpu: 2, ptr: p, off, chunk }
   */
  locate(addr: number): PercpuLocation | undefined {
    let rel: number;
    let chunk: number;
    if (addr >= this.baseAddr && addr < this.firstEnd) {
      rel = addr - this.baseAddr;
      chunk = -1;
    } else if (addr >= this.regionStart && addr < this.slotsEnd) {
      chunk = Math.floor((addr - this.regionStart) / this.chunkBytes);
      rel = addr - this.regionStart - chunk * this.chunkBytes;
      if (rel >= this.unitsBytes) return undefined;
    } else {
      return undefined;
    }
    const cpu = Math.floor(rel / this.unitSize);
    const off = rel - cpu * this.unitSize;
    return { cpu, off, chunk, ptr: addr - this.baseAddr - cpu * this.unitSize };
  }

  /**
   * Sets the state of `size` bytes from per-CPU pointer `ptr` (every CPU's
   * copy), which must lie in one chunk's unit.
   */
  mark(ptr: number, size: number, state: number): void {
    const at = this.locate(ptr + this.baseAddr);
    if (at === undefined || at.off + size > this.unitSize) {
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
    let s: Uint8Array | undefined;
    let rel: number;
    // No allocation here: this runs for every guest access to per-CPU memory.
    if (addr >= this.baseAddr && addr < this.firstEnd) {
      s = this.first;
      rel = addr - this.baseAddr;
    } else if (addr >= this.regionStart && addr < this.slotsEnd) {
      const chunk = Math.floor((addr - this.regionStart) / this.chunkBytes);
      rel = addr - this.regionStart - chunk * this.chunkBytes;
      if (rel >= this.unitsBytes) return -1;
      s = this.slots[chunk];
      if (s === undefined) return 0;
    } else {
      return -1;
    }
    const unit = this.unitSize;
    const off = rel % unit;
    const end = Math.min(off + size, unit);
    for (let k = off; k < end; k++) if (s[k] !== SHADOW_LIVE) return k - off;
    return off + size > end ? end - off : -1;
  }

  private shadowOf(chunk: number, create: boolean): Uint8Array | undefined {
    if (chunk < 0) return this.first;
    let s = this.slots[chunk];
    if (s === undefined && create) {
      s = newShadow(this.unitSize);
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
