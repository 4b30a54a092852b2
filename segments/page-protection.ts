/**
 * Per-page permissions of guest accesses, as the page tables' U/S and R/W
 * bits and SMAP make them on x86: the kernel's own structures (task
 * structs, run queues, trace rings, allocator metadata, program text, the
 * parallel control block) are mapped for the kernel only, or read-only,
 * and a guest load or store that hits them is a page fault naming the
 * structure. Host code (helpers, kfuncs, native tasks, the engine) goes
 * through `PhysicalMemory`'s accessors, which never consult this table.
 *
 * One byte per page: `PROT_READ | PROT_WRITE` for ordinary guest memory.
 * A page that holds both a protected structure and guest data (a per-CPU
 * unit's kernel variables beside a scenario's) is `PROT_MIXED`, and the
 * protected byte ranges inside it decide.
 *
 * The interpreter's fast path passes only addresses inside `fastLow ..
 * fastEnd`, the run of ordinary pages around an anchor (the task stacks,
 * with the kernel heap beside them); every other access takes the slow path,
 * which asks `denied`. So protecting costs the fast path nothing, as long
 * as the kernel lays its structures out at the edges of guest memory.
 *
 * @example
 * const prot = new PageProtection(1 << 20);
 * prot.protect(0x8000, 4096, PROT_READ, 'run queue of CPU 0');
 * prot.denied(0x8010, 8, PROT_WRITE)?.name; // 'run queue of CPU 0'
 */

import { ErrnoError } from './errno.ts';

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_RW = PROT_READ | PROT_WRITE;
/** Neither bit: the byte ranges of the page decide. */
const PROT_MIXED = 4;
const PAGE_SHIFT = 12;
const PAGE_BYTES = 1 << PAGE_SHIFT;

/** A protected range: what the guest may do there, and what it is, for the fault. */
export interface ProtectedRange {
  readonly start: number;
  readonly end: number;
  /** PROT_NONE, PROT_READ (PROT_WRITE alone is refused). */
  readonly prot: number;
  /** What lives there, as the oops names it: `run queue of CPU 1`. */
  readonly name: string;
  /** A finer name for one address in the range (`task_struct of worker/3`), when given. */
  readonly describe?: (addr: number) => string;
}

export class PageProtection {
  /** One byte per page: PROT_* bits, or PROT_MIXED. */
  readonly pages: Uint8Array;
  /** First byte of the fast path's window (ordinary pages only). */
  fastLow = 0;
  /** End of the fast path's window. */
  fastEnd: number;
  private readonly ranges: ProtectedRange[] = [];
  private anchor = 0;

  constructor(readonly size: number) {
    this.pages = new Uint8Array(Math.ceil(size / PAGE_BYTES)).fill(PROT_RW);
    this.fastEnd = size;
  }

  /**
   * Guest accesses to [start, start + len) may only do `prot` (PROT_NONE or
   * PROT_READ) from now on; `name` is what a fault there reports. A range
   * that does not fill its pages makes them mixed: the rest stays ordinary.
   * `describe`, when given, names one address of the range more precisely.
   */
  protect(
    start: number,
    len: number,
    prot: number,
    name: string,
    describe?: (addr: number) => string,
  ): void {
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(len) ||
      start < 0 ||
      len <= 0 ||
      start + len > this.size
    ) {
      throw new ErrnoError(
        'EINVAL',
        `cannot protect ${len} bytes at ${start} ('${name}'): outside memory of ${this.size} bytes`,
      );
    }
    if (prot !== PROT_NONE && prot !== PROT_READ) {
      throw new ErrnoError(
        'EINVAL',
        `protection ${prot} of '${name}' is not PROT_NONE or PROT_READ`,
      );
    }
    const end = start + len;
    this.ranges.push(Object.freeze({ start, end, prot, name, describe }));
    this.ranges.sort((a, b) => a.start - b.start);
    for (let p = start >>> PAGE_SHIFT; p <= (end - 1) >>> PAGE_SHIFT; p++) {
      const pageStart = p * PAGE_BYTES;
      const whole = start <= pageStart && end >= pageStart + PAGE_BYTES;
      // A page already mixed stays mixed; a whole page takes the strictest protection.
      if (whole && this.pages[p] !== PROT_MIXED) this.pages[p] &= prot;
      else this.pages[p] = PROT_MIXED;
    }
    this.recomputeWindow();
  }

  /**
   * Sets the address whose run of ordinary pages the fast path covers (the
   * busiest guest memory, the task stacks); 0 by default.
   */
  setFastAnchor(addr: number): void {
    this.anchor = addr;
    this.recomputeWindow();
  }

  /**
   * The range that forbids a guest access of `len` bytes at `addr` needing
   * `need` (PROT_READ or PROT_WRITE), or null when the access is allowed.
   * The caller has checked that the access lies in memory.
   */
  denied(addr: number, len: number, need: number): ProtectedRange | null {
    const first = addr >>> PAGE_SHIFT;
    const last = (addr + len - 1) >>> PAGE_SHIFT;
    if ((this.pages[first] & need) !== 0 && (this.pages[last] & need) !== 0) return null;
    for (const r of this.ranges) {
      if (r.start >= addr + len) break;
      if (r.end > addr && (r.prot & need) === 0) return r;
    }
    return null;
  }

  /** What a fault at `addr` in range `r` names. */
  static nameAt(r: ProtectedRange, addr: number): string {
    return r.describe === undefined ? r.name : r.describe(addr);
  }

  /** The protected range containing `addr`, if any. */
  rangeAt(addr: number): ProtectedRange | undefined {
    return this.ranges.find((r) => addr >= r.start && addr < r.end);
  }

  /** Every protected range, by address. */
  list(): readonly ProtectedRange[] {
    return this.ranges;
  }

  private recomputeWindow(): void {
    const pages = this.pages;
    let p = Math.min(this.anchor >>> PAGE_SHIFT, pages.length - 1);
    if (pages[p] !== PROT_RW) {
      // No ordinary page at the anchor: an empty window, every access checked.
      this.fastLow = 0;
      this.fastEnd = 0;
      return;
    }
    let lo = p;
    while (lo > 0 && pages[lo - 1] === PROT_RW) lo--;
    for (p = p + 1; p < pages.length && pages[p] === PROT_RW; ) p++;
    this.fastLow = lo * PAGE_BYTES;
    this.fastEnd = Math.min(p * PAGE_BYTES, this.size);
  }
}
