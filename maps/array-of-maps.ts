/**
 * BPF_MAP_TYPE_ARRAY_OF_MAPS (kernel/bpf/arraymap.c's map fd array): an
 * array whose values are maps, all like the inner map template given at
 * creation (maps/map-in-map.ts).
 *
 * Layout in emulated memory, one block from bpf_map_area_alloc:
 *
 *     struct bpf_array { struct bpf_map map; u32 elem_size; u32 pad; u32 ptrs[]; }
 *
 * where `ptrs[i]` is the address of the inner map's `struct bpf_map`, 0
 * for an empty slot. A program's bpf_map_lookup_elem gives that address
 * (or NULL), which it then passes to the map helpers as the inner map.
 *
 * From userspace: key u32, value u32 (EINVAL otherwise); an update stores
 * the map behind an fd (BPF_ANY only; E2BIG past max_entries; EBADF; EINVAL
 * when it does not match the template), holding a reference on it; lookup
 * gives the inner map's id (ENOENT when empty); delete empties a slot
 * (ENOENT when empty) and drops the reference. Programs cannot update or
 * delete (the verifier refuses).
 *
 * @example
 * const inner = bpfMapCreate(k, 'ARRAY', 'inner', 4, 8, 1);
 * const outer = bpfMapCreate(k, 'ARRAY_OF_MAPS', 'outer', 4, 4, 4, { innerMapFd: inner.fd });
 * outer.updateElem(u32(0), u32(inner.fd));
 */

import type { BpfMapTable } from '../preempt/bpf-map-table.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { alignUp } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { BpfMap, type BpfMapAttr, bpfMapHeader } from './bpf-map.ts';
import { BPF_ANY, BPF_F_ACCESS_MASK, BPF_F_NUMA_NODE } from './bpf-uapi.ts';
import { bpfMapAreaAlloc, bpfMapAreaFree } from './map-area.ts';
import { bpfMapMetaAlloc, type InnerMapMeta, innerMapFromFd } from './map-in-map.ts';

const PTRS_OFF = alignUp(bpfMapHeader.size + 8, 8);

export class ArrayOfMapsMap extends BpfMap {
  readonly ptrs: number;

  /** fd_array_map_alloc_check then array_map_alloc_check. */
  static allocCheck(attr: BpfMapAttr): void {
    if (attr.valueSize !== 4) {
      throw new ErrnoError('EINVAL', `value_size ${attr.valueSize} of a map of maps is not 4`);
    }
    if (attr.maxEntries === 0) throw new ErrnoError('EINVAL', 'max_entries is 0');
    if (attr.keySize !== 4) {
      throw new ErrnoError('EINVAL', `key_size ${attr.keySize} of an array is not 4`);
    }
    if (attr.mapFlags & ~(BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK)) {
      throw new ErrnoError('EINVAL', `map_flags 0x${attr.mapFlags.toString(16)} not allowed here`);
    }
  }

  /** array_of_map_alloc: the template first (EBADF, EINVAL), then the slots (ENOMEM). */
  static create(k: Kernel, attr: BpfMapAttr, id: number): ArrayOfMapsMap {
    const meta = bpfMapMetaAlloc(k, attr.innerMapFd ?? 0);
    const addr = bpfMapAreaAlloc(k, PTRS_OFF + 4 * attr.maxEntries);
    if (addr === 0) throw new ErrnoError('ENOMEM', `no memory for ${attr.maxEntries} slots`);
    return new ArrayOfMapsMap(k, attr, id, addr, meta);
  }

  private readonly table: BpfMapTable;

  private constructor(
    private readonly k: Kernel,
    attr: BpfMapAttr,
    id: number,
    addr: number,
    readonly meta: InnerMapMeta,
  ) {
    super(k, attr, id, addr, false);
    this.table = k.maps;
    this.ptrs = addr + PTRS_OFF;
    this.writeHeader();
    k.memory.write32(addr + bpfMapHeader.size, 4);
  }

  /** The inner map's address in slot `index`, 0 when empty. */
  slot(index: number): number {
    return this.m.memory.read32(this.ptrs + 4 * index);
  }

  // ---- program side ---------------------------------------------------------------

  /** array_of_map_lookup_elem: the inner map, or NULL. */
  override lookupElem(keyAddr: number): number {
    const index = this.m.memory.read32(keyAddr);
    return index < this.maxEntries ? this.slot(index) : 0;
  }

  // ---- syscall side -----------------------------------------------------------------

  override sysLookup(key: Uint8Array, value: Uint8Array): void {
    const index = u32At(key);
    const inner = index < this.maxEntries ? this.innerAt(this.slot(index)) : undefined;
    if (inner === undefined) {
      throw new ErrnoError('ENOENT', `slot ${index} of ${this.describe} is empty`);
    }
    new DataView(value.buffer, value.byteOffset).setUint32(0, inner.id, true);
  }

  override sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): void {
    if (flags !== BPF_ANY) {
      throw new ErrnoError(
        'EINVAL',
        `flags 0x${flags.toString(16)} on ${this.describe}: only BPF_ANY`,
      );
    }
    const index = u32At(key);
    if (index >= this.maxEntries) {
      throw new ErrnoError('E2BIG', `index ${index} >= max_entries ${this.maxEntries}`);
    }
    const inner = innerMapFromFd(this.k, this.meta, u32At(value) | 0);
    this.table.hold(inner);
    this.release(index);
    this.m.memory.write32(this.ptrs + 4 * index, inner.addr);
  }

  override sysDelete(key: Uint8Array): void {
    const index = u32At(key);
    if (index >= this.maxEntries) {
      throw new ErrnoError('E2BIG', `index ${index} >= max_entries ${this.maxEntries}`);
    }
    if (this.slot(index) === 0) {
      throw new ErrnoError('ENOENT', `slot ${index} of ${this.describe} is empty`);
    }
    this.release(index);
  }

  override sysGetNextKey(key: Uint8Array | null, next: Uint8Array): void {
    const index = key === null ? 0xffffffff : u32At(key);
    if (index === this.maxEntries - 1) {
      throw new ErrnoError('ENOENT', `index ${index} is the last of ${this.describe}`);
    }
    new DataView(next.buffer, next.byteOffset).setUint32(
      0,
      index >= this.maxEntries ? 0 : index + 1,
      true,
    );
  }

  /** Drops every inner map's reference, then the slots. */
  override free(): void {
    for (let i = 0; i < this.maxEntries; i++) this.release(i);
    bpfMapAreaFree(this.m, this.addr);
  }

  /** Empties slot `index`, dropping the reference on the map it held. */
  private release(index: number): void {
    const inner = this.innerAt(this.slot(index));
    this.m.memory.write32(this.ptrs + 4 * index, 0);
    if (inner !== undefined) this.table.put(inner);
  }

  private innerAt(addr: number): BpfMap | undefined {
    if (addr === 0) return undefined;
    const map = this.table.byIdLookup(BpfMap.idAt(this.m.memory, addr));
    return map instanceof BpfMap && map.addr === addr ? map : undefined;
  }
}

const u32At = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset).getUint32(0, true);
