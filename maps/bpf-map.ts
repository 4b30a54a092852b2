/**
 * What every BPF map is: `struct bpf_map` in emulated memory (the address a
 * program's `r1 = my_map ll` loads), and the two ways in. Program-side
 * operations run inside a helper call on one CPU, take keys and values as
 * addresses, and return the kernel's result (a value address or 0; 0 or a
 * negative errno) without throwing on the ordinary failures. Syscall-side
 * operations take byte buffers in the kernel's userspace layout and throw an
 * ErrnoError naming what was wrong.
 *
 * The JS object is a handle: every piece of state two CPUs could touch
 * (the header, elements, locks, counters) lives in emulated memory.
 *
 * Per-CPU maps: a program sees `this_cpu_ptr` of a value; userspace sees
 * `round_up(value_size, 8)` bytes per possible CPU, CPU 0 first, and an
 * update from userspace writes every CPU's copy.
 *
 * @example
 * const map = bpfMapCreate(m, 'PERCPU_ARRAY', 'hits', 4, 8, 16).map;
 * map.valueSizeUser; // 8 * nr_cpus
 */

import { alignUp, s32, struct, u32 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import type { BatchArgs, BatchResult } from './batch.ts';
import { type BpfMapType, mapTypeName } from './bpf-uapi.ts';
import type { MapMemory } from './map-memory.ts';
import type { MmapArea } from './map-mmap.ts';

/** `struct bpf_map`: the part of every map's header that userspace and helpers read. */
export const bpfMapHeader = struct('bpf_map', [
  ['map_type', u32],
  ['key_size', u32],
  ['value_size', u32],
  ['max_entries', u32],
  ['map_flags', u32],
  ['id', u32],
  ['frozen', u32],
  /** Offset of the `struct bpf_spin_lock` in a value, or -1 (BTF's spin_lock_off). */
  ['spin_lock_off', s32],
]);

const BPF_MAP_OFF = bpfMapHeader.off;

/** The attributes of BPF_MAP_CREATE, checked. */
export interface BpfMapAttr {
  readonly type: BpfMapType;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
  /** Where a `struct bpf_spin_lock` sits in the value (what BTF tells the kernel), or -1. */
  readonly spinLockOff: number;
  /** inner_map_fd: the template of a map of maps' values; 0 for other maps. */
  readonly innerMapFd?: number;
}

/**
 * Which batch commands a type has, as the kernel's map ops: the generic
 * key-by-key walks (generic-batch.ts) or the type's own (`sysLookupBatch`).
 */
export interface BatchOps {
  readonly lookup?: 'generic' | 'own';
  readonly lookupAndDelete?: 'own';
  readonly update?: 'generic';
  readonly delete?: 'generic';
}

export abstract class BpfMap {
  /** The batch commands this type supports; the others are ENOTSUPP. */
  readonly batchOps: BatchOps = {};
  readonly type: BpfMapType;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
  readonly spinLockOff: number;
  /** True for the maps whose values are per-CPU. */
  readonly percpu: boolean;
  /** Bytes of one value as userspace sees it: per CPU `round_up(value_size, 8)`, CPU 0 first. */
  readonly valueSizeUser: number;
  /** Per-CPU stride of userspace values. */
  readonly percpuStride: number;

  protected constructor(
    readonly m: MapMemory,
    attr: BpfMapAttr,
    /** The map's id (`bpf_map_info.id`). */
    readonly id: number,
    /** Address of the map's `struct bpf_map` (kzalloc'ed by the type). */
    readonly addr: number,
    percpu: boolean,
  ) {
    this.type = attr.type;
    this.name = attr.name;
    this.keySize = attr.keySize;
    this.valueSize = attr.valueSize;
    this.maxEntries = attr.maxEntries;
    this.mapFlags = attr.mapFlags;
    this.spinLockOff = attr.spinLockOff;
    this.percpu = percpu;
    this.percpuStride = alignUp(attr.valueSize, 8);
    this.valueSizeUser = percpu ? this.percpuStride * m.nrCpus : attr.valueSize;
  }

  /** Writes the header; types call it once their memory is allocated. */
  protected writeHeader(): void {
    const mem = this.m.memory;
    const a = this.addr;
    mem.write32(a + BPF_MAP_OFF.map_type, this.type);
    mem.write32(a + BPF_MAP_OFF.key_size, this.keySize);
    mem.write32(a + BPF_MAP_OFF.value_size, this.valueSize);
    mem.write32(a + BPF_MAP_OFF.max_entries, this.maxEntries);
    mem.write32(a + BPF_MAP_OFF.map_flags, this.mapFlags);
    mem.write32(a + BPF_MAP_OFF.id, this.id);
    mem.write32(a + BPF_MAP_OFF.frozen, 0);
    mem.view.setInt32(a + BPF_MAP_OFF.spin_lock_off, this.spinLockOff, true);
  }

  /** `BPF_MAP_TYPE_<NAME> 'name'`, for messages. */
  get describe(): string {
    return `${mapTypeName(this.type)} '${this.name}'`;
  }

  /** Set by BPF_MAP_FREEZE: userspace may no longer write. Kept in the header. */
  get frozen(): boolean {
    return this.m.memory.read32(this.addr + BPF_MAP_OFF.frozen) !== 0;
  }
  set frozen(on: boolean) {
    this.m.memory.write32(this.addr + BPF_MAP_OFF.frozen, on ? 1 : 0);
  }

  /** The id stored in the header at `addr`, read the way the helpers find a map. */
  static idAt(memory: PhysicalMemory, addr: number): number {
    return memory.read32(addr + BPF_MAP_OFF.id);
  }

  /** Writable mmaps of the map that are still mapped (bpf_map_write_active); kept by maps/map-mmap.ts. */
  mmapWriters = 0;

  /** The area map_mmap maps (an ARRAY's values), or undefined for a type without mmap. */
  mmapArea(): MmapArea | undefined {
    return undefined;
  }

  /**
   * map_direct_value_addr for `lddw` BPF_PSEUDO_MAP_VALUE: the address of
   * the value plus `off`, or undefined for types without direct access.
   */
  directValueAddr(_off: number): number | undefined {
    return undefined;
  }

  // ---- program side: inside a helper, on CPU `cpu` ------------------------------

  /** map_lookup_elem: the value's address (this CPU's copy for per-CPU maps), or 0. */
  lookupElem(_keyAddr: number, _cpu: number): number {
    throw this.unsupported('bpf_map_lookup_elem');
  }
  /** map_update_elem: 0 or a negative errno. */
  updateElem(_keyAddr: number, _valueAddr: number, _flags: number, _cpu: number): number {
    throw this.unsupported('bpf_map_update_elem');
  }
  /** map_delete_elem: 0 or a negative errno. */
  deleteElem(_keyAddr: number, _cpu: number): number {
    throw this.unsupported('bpf_map_delete_elem');
  }
  /** map_lookup_percpu_elem: CPU `target`'s copy of the value, or 0. */
  lookupPercpuElem(_keyAddr: number, _target: number, _cpu: number): number {
    throw this.unsupported('bpf_map_lookup_percpu_elem');
  }
  /** map_push_elem: 0 or a negative errno. */
  pushElem(_valueAddr: number, _flags: number, _cpu: number): number {
    throw this.unsupported('bpf_map_push_elem');
  }
  /** map_pop_elem (`peek` leaves the element): 0 or a negative errno. */
  popElem(_valueAddr: number, _peek: boolean, _cpu: number): number {
    throw this.unsupported(_peek ? 'bpf_map_peek_elem' : 'bpf_map_pop_elem');
  }
  /**
   * map_for_each_callback's walk: calls `visit(keyAddr, valueAddr)` for each
   * element (this CPU's copy for per-CPU maps) until it returns true; returns
   * how many it visited.
   */
  forEachElem(_cpu: number, _visit: (keyAddr: number, valueAddr: number) => boolean): number {
    throw this.unsupported('bpf_for_each_map_elem');
  }

  // ---- syscall side: buffers in the userspace layout, errors thrown ---------------

  /** BPF_MAP_LOOKUP_ELEM into `value` (valueSizeUser bytes). */
  sysLookup(_key: Uint8Array, _value: Uint8Array, _flags: number): void {
    throw this.notsupp('lookup');
  }
  /** BPF_MAP_UPDATE_ELEM from `value` (valueSizeUser bytes). */
  sysUpdate(_key: Uint8Array, _value: Uint8Array, _flags: number): void {
    throw this.notsupp('update');
  }
  /** BPF_MAP_DELETE_ELEM. */
  sysDelete(_key: Uint8Array): void {
    throw this.notsupp('delete');
  }
  /** BPF_MAP_GET_NEXT_KEY: writes the key after `key` (the first for null) or throws ENOENT. */
  sysGetNextKey(_key: Uint8Array | null, _next: Uint8Array): void {
    throw this.notsupp('get_next_key');
  }
  /** BPF_MAP_LOOKUP_AND_DELETE_ELEM; `key` is null for queues and stacks. */
  sysLookupAndDelete(_key: Uint8Array | null, _value: Uint8Array, _flags: number): void {
    throw this.notsupp('lookup_and_delete');
  }

  /** The type's own BPF_MAP_LOOKUP(_AND_DELETE)_BATCH (hash maps walk whole buckets). */
  sysLookupBatch(_args: BatchArgs, andDelete: boolean): BatchResult {
    throw this.notsupp(andDelete ? 'lookup_and_delete_batch' : 'lookup_batch');
  }

  /** Frees the map's memory (the last reference is gone). */
  abstract free(): void;

  // ---- shared by the types ---------------------------------------------------------

  /** copy_map_value into `out` (at `at`) from `addr`, skipping the spin lock word. */
  protected copyValueOut(addr: number, out: Uint8Array, at: number): void {
    const u8 = this.m.memory.u8;
    this.m.memory.check(addr, this.valueSize, 'read');
    out.set(u8.subarray(addr, addr + this.valueSize), at);
    if (this.spinLockOff >= 0) out.fill(0, at + this.spinLockOff, at + this.spinLockOff + 4);
  }

  /** copy_map_value from `src` (at `at`) to `addr`, leaving the spin lock word alone. */
  protected copyValueIn(addr: number, src: Uint8Array, at: number): void {
    const mem = this.m.memory;
    mem.check(addr, this.valueSize, 'write');
    const lock = this.spinLockOff;
    if (lock < 0) {
      mem.u8.set(src.subarray(at, at + this.valueSize), addr);
      return;
    }
    mem.u8.set(src.subarray(at, at + lock), addr);
    mem.u8.set(src.subarray(at + lock + 4, at + this.valueSize), addr + lock + 4);
  }

  /** Copies a value between two addresses (program-side updates), sparing the spin lock. */
  protected copyValueMem(dst: number, src: number): void {
    const mem = this.m.memory;
    mem.check(src, this.valueSize, 'read');
    mem.check(dst, this.valueSize, 'write');
    const lock = this.spinLockOff;
    if (lock < 0) {
      mem.u8.copyWithin(dst, src, src + this.valueSize);
      return;
    }
    mem.u8.copyWithin(dst, src, src + lock);
    mem.u8.copyWithin(dst + lock + 4, src + lock + 4, src + this.valueSize);
  }

  /** Userspace view of a per-CPU value at per-CPU pointer `pptr`: every CPU's copy. */
  protected copyPercpuOut(pptr: number, out: Uint8Array): void {
    const offsets = this.m.areas.offsets;
    for (let cpu = 0; cpu < offsets.length; cpu++) {
      const at = cpu * this.percpuStride;
      out.fill(0, at, at + this.percpuStride);
      this.copyValueOut(pptr + offsets[cpu], out, at);
    }
  }

  /** A userspace update of a per-CPU value: every CPU's copy from its slice of `src`. */
  protected copyPercpuIn(pptr: number, src: Uint8Array): void {
    const offsets = this.m.areas.offsets;
    for (let cpu = 0; cpu < offsets.length; cpu++) {
      this.copyValueIn(pptr + offsets[cpu], src, cpu * this.percpuStride);
    }
  }

  protected unsupported(helper: string): ErrnoError {
    return new ErrnoError('EINVAL', `${helper} cannot be used on ${this.describe}`);
  }

  protected notsupp(op: string): ErrnoError {
    return new ErrnoError('ENOTSUPP', `${op} is not supported by ${this.describe}`);
  }
}
