/**
 * vmalloc / vzalloc / vfree: page-granular allocations of any size from
 * their own region, for what is too big for kmalloc (a large map's
 * elements, as bpf_map_area_alloc falls back to vmalloc). Physical memory
 * is flat here, so a vmalloc area is simply a run of contiguous pages.
 *
 * State in emulated memory, behind one raw spinlock (the kernel's
 * vmap_area_lock): a bitmap of used pages, and for each page that starts an
 * area the area's length in pages (0 elsewhere). Allocation is first fit
 * from a hint that follows the last allocation; freeing checks that the
 * address starts a live area, so a double or a wild vfree is an EINVAL that
 * names it rather than a corrupted map.
 *
 *     struct vmalloc_state { raw_spinlock lock; u32 nr_pages; u32 used_pages; u32 hint; u32 pad;
 *                            u32 area_pages[nr_pages]; u8 used[nr_pages / 8]; }   then the pages
 *
 * @example
 * const v = Vmalloc.create(memory, map, 16 << 20);
 * const a = v.vzalloc(1 << 20); // zeroed, page-aligned, or 0
 * v.vfree(a);
 */

import type { AddressMap } from './address-map.ts';
import { alignUp, struct, u32 } from './ctype.ts';
import { ErrnoError } from './errno.ts';
import { PAGE_SIZE, type PhysicalMemory } from './memory.ts';
import { RawSpinlock, rawSpinlockType } from './raw-spinlock.ts';

export const vmallocStateType = struct('vmalloc_state', [
  ['lock', rawSpinlockType],
  ['nr_pages', u32],
  ['used_pages', u32],
  ['hint', u32],
  ['pad', u32],
]);
const VMALLOC_STATE_OFF = vmallocStateType.off;

export interface VmallocOptions {
  /** The CPU taking the lock, for its owner field. Default CPU 0. */
  currentCpu?: () => number;
}

export class Vmalloc {
  private readonly lock: RawSpinlock;
  /** Address of `area_pages[]` (u32 per page) and of the `used` bitmap. */
  private readonly areaPages: number;
  private readonly used: number;
  /** Address of the first page. */
  readonly pagesStart: number;
  readonly nrPages: number;

  private constructor(
    readonly memory: PhysicalMemory,
    readonly state: number,
    private readonly currentCpu: () => number,
  ) {
    this.lock = new RawSpinlock(memory, state + VMALLOC_STATE_OFF.lock);
    this.nrPages = memory.read32(state + VMALLOC_STATE_OFF.nr_pages);
    this.areaPages = state + vmallocStateType.size;
    this.used = this.areaPages + 4 * this.nrPages;
    this.pagesStart = alignUp(this.used + Math.ceil(this.nrPages / 8), PAGE_SIZE);
  }

  /** Reserves `size` bytes of the address map for the state and the pages, and initialises them. */
  static create(
    memory: PhysicalMemory,
    map: AddressMap,
    size: number,
    opts: VmallocOptions = {},
  ): Vmalloc {
    if (!Number.isSafeInteger(size) || size < 2 * PAGE_SIZE || size % PAGE_SIZE !== 0) {
      throw new ErrnoError(
        'EINVAL',
        `vmalloc region size ${size} is not a multiple of ${PAGE_SIZE} of at least two pages`,
      );
    }
    // Each page costs PAGE_SIZE bytes plus 4 (area_pages) plus 1/8 (the bitmap) of metadata.
    let nrPages = Math.floor((size - vmallocStateType.size) / (PAGE_SIZE + 4.125));
    const metaBytes = (n: number) =>
      alignUp(vmallocStateType.size + 4 * n + Math.ceil(n / 8), PAGE_SIZE);
    while (nrPages > 0 && metaBytes(nrPages) + nrPages * PAGE_SIZE > size) nrPages--;
    const state = map.reserve('vmalloc area', size).start;
    memory.fill(state, metaBytes(nrPages), 0);
    RawSpinlock.init(memory, state + VMALLOC_STATE_OFF.lock);
    memory.write32(state + VMALLOC_STATE_OFF.nr_pages, nrPages);
    return new Vmalloc(memory, state, opts.currentCpu ?? (() => 0));
  }

  /** Pages in use. */
  get usedPages(): number {
    return this.memory.read32(this.state + VMALLOC_STATE_OFF.used_pages);
  }

  /** True when `addr` lies in this region's pages. */
  contains(addr: number): boolean {
    return addr >= this.pagesStart && addr < this.pagesStart + this.nrPages * PAGE_SIZE;
  }

  /** vmalloc: `size` bytes, page-aligned, not zeroed; 0 when no run of pages is free. */
  vmalloc(size: number): number {
    if (!Number.isSafeInteger(size) || size <= 0) return 0;
    const n = Math.ceil(size / PAGE_SIZE);
    if (n > this.nrPages) return 0;
    return this.locked(() => {
      const hint = this.memory.read32(this.state + VMALLOC_STATE_OFF.hint);
      const first = this.findRun(n, hint) ?? this.findRun(n, 0);
      if (first === undefined) return 0;
      for (let p = first; p < first + n; p++) this.setUsed(p, true);
      this.memory.write32(this.areaPages + 4 * first, n);
      this.memory.write32(this.state + VMALLOC_STATE_OFF.hint, first + n);
      this.memory.write32(this.state + VMALLOC_STATE_OFF.used_pages, this.usedPages + n);
      return this.pagesStart + first * PAGE_SIZE;
    });
  }

  /** vzalloc: vmalloc, zeroed. */
  vzalloc(size: number): number {
    const addr = this.vmalloc(size);
    if (addr !== 0) this.memory.fill(addr, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE, 0);
    return addr;
  }

  /** vfree: 0 does nothing; anything but the start of a live area is EINVAL. */
  vfree(addr: number): void {
    if (addr === 0) return;
    this.locked(() => {
      const page = (addr - this.pagesStart) / PAGE_SIZE;
      const n =
        Number.isInteger(page) && this.contains(addr)
          ? this.memory.read32(this.areaPages + 4 * page)
          : 0;
      if (n === 0) {
        throw new ErrnoError(
          'EINVAL',
          `vfree(0x${addr.toString(16)}): not the start of a vmalloc area`,
        );
      }
      for (let p = page; p < page + n; p++) this.setUsed(p, false);
      this.memory.write32(this.areaPages + 4 * page, 0);
      this.memory.write32(this.state + VMALLOC_STATE_OFF.used_pages, this.usedPages - n);
    });
  }

  /** The size in bytes of the live area starting at `addr`, or 0. */
  areaSize(addr: number): number {
    if (!this.contains(addr) || (addr - this.pagesStart) % PAGE_SIZE !== 0) return 0;
    return (
      this.memory.read32(this.areaPages + 4 * ((addr - this.pagesStart) / PAGE_SIZE)) * PAGE_SIZE
    );
  }

  private findRun(n: number, from: number): number | undefined {
    let run = 0;
    for (let p = from; p < this.nrPages; p++) {
      run = this.isUsed(p) ? 0 : run + 1;
      if (run === n) return p - n + 1;
    }
    return undefined;
  }

  private isUsed(p: number): boolean {
    return (this.memory.u8[this.used + (p >> 3)] & (1 << (p & 7))) !== 0;
  }

  private setUsed(p: number, on: boolean): void {
    const at = this.used + (p >> 3);
    const bit = 1 << (p & 7);
    this.memory.u8[at] = on ? this.memory.u8[at] | bit : this.memory.u8[at] & ~bit;
  }

  private locked<T>(fn: () => T): T {
    return this.lock.withLock(this.currentCpu(), fn);
  }
}
