/**
 * mmap of a BPF_F_MMAPABLE ARRAY from userspace (kernel/bpf/syscall.c's
 * bpf_map_mmap, arraymap.c's array_map_mmap): the way libbpf skeletons
 * read and write `.bss` and `.data`. The window is the array's value area
 * in emulated memory itself, so a program's store is visible at once, and
 * a write through a writable window is what the next lookup in a program
 * reads.
 *
 * The checks, in the kernel's order: a map type without mmap, or values
 * holding a bpf_spin_lock (a BTF record), is ENOTSUPP; then, for a writable
 * mapping, a frozen map is EPERM and a BPF_F_RDONLY_PROG map EACCES (the
 * verifier trusts its contents not to change); then an array without
 * BPF_F_MMAPABLE is EINVAL. While a writable mapping exists the map cannot
 * be frozen (EBUSY); `munmap()` ends it.
 *
 * @example
 * const bss = bpfMapCreate(k, 'ARRAY', 'bss', 4, 16, 1, { mapFlags: BPF_F_MMAPABLE });
 * const w = bss.mmap({ write: true });
 * w.set(0, u64, 5n);   // a program's lookup of key 0 reads 5 now
 * w.get(8, u32);
 * w.munmap();
 */

import type { CType } from '../segments/ctype.ts';
import { decodeValue, encodeValue } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import type { BpfMap } from './bpf-map.ts';

/** Where a map's mmap'able area is: the address and size of its values. */
export interface MmapArea {
  readonly addr: number;
  readonly size: number;
}

export interface MmapOptions {
  /** PROT_WRITE as well as PROT_READ. Default false. */
  readonly write?: boolean;
}

export class BpfMapMmap {
  private mapped = true;

  constructor(
    private readonly memory: PhysicalMemory,
    private readonly map: BpfMap,
    private readonly area: MmapArea,
    /** PROT_WRITE was given. */
    readonly writable: boolean,
  ) {}

  /** Bytes in the window: max_entries values of round_up(value_size, 8). */
  get size(): number {
    return this.area.size;
  }

  /** The window's bytes, live over emulated memory: writable mappings only (EACCES otherwise). */
  get bytes(): Uint8Array {
    this.check(this.area.size, 0, true);
    return this.memory.u8.subarray(this.area.addr, this.area.addr + this.area.size);
  }

  /** Reads a value of type `t` at byte `off` of the window. */
  get(off: number, t: CType): unknown {
    this.check(t.size, off, false);
    return decodeValue(t, this.memory.u8, this.area.addr + off);
  }

  /** Writes `value` as type `t` at byte `off`: EACCES through a read-only window. */
  set(off: number, t: CType, value: unknown): void {
    this.check(t.size, off, true);
    this.memory.u8.set(encodeValue(t, value), this.area.addr + off);
  }

  /** munmap: the window is gone; a writable one no longer keeps the map from being frozen. */
  munmap(): void {
    if (!this.mapped) return;
    this.mapped = false;
    if (this.writable) this.map.mmapWriters--;
  }

  private check(size: number, off: number, write: boolean): void {
    if (!this.mapped) throw new ErrnoError('EFAULT', `${this.map.describe} is no longer mapped`);
    if (write && !this.writable) {
      throw new ErrnoError('EACCES', `${this.map.describe} is mapped read-only`);
    }
    if (!Number.isInteger(off) || off < 0 || off + size > this.area.size) {
      throw new ErrnoError(
        'EFAULT',
        `bytes ${off}..${off + size} are outside the ${this.area.size}-byte window`,
      );
    }
  }
}
