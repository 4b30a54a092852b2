/**
 * BPF_MAP_TYPE_HASH_OF_MAPS (kernel/bpf/hashtab.c's fd hash map): a hash
 * table (maps/hash-map.ts) whose values are maps, all like the inner map
 * template given at creation (maps/map-in-map.ts). Each element's 4-byte
 * value holds the inner map's `struct bpf_map` address; a program's
 * bpf_map_lookup_elem gives that address (or NULL).
 *
 * From userspace, as fd_htab_map_alloc_check and the fd htab ops: value
 * u32 (EINVAL otherwise); an update stores the map behind an fd with the
 * hash map's flags (BPF_ANY, NOEXIST, EXIST; E2BIG when full; EBADF;
 * EINVAL against the template), holding a reference on it and dropping the
 * one on a map it replaces; lookup gives the inner map's id; delete drops
 * the reference. Programs cannot update or delete (the verifier refuses),
 * and there are no batch commands.
 *
 * @example
 * const inner = bpfMapCreate(k, 'HASH', 'inner', 4, 8, 16);
 * const outer = bpfMapCreate(k, 'HASH_OF_MAPS', 'outer', 8, 4, 64, { innerMapFd: inner.fd });
 * outer.updateElem(u64(7), u32(inner.fd));
 */

import type { BpfMapTable } from '../preempt/bpf-map-table.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import { type BatchOps, BpfMap, type BpfMapAttr } from './bpf-map.ts';
import { HashMap } from './hash-map.ts';
import { bpfMapMetaAlloc, type InnerMapMeta, innerMapFromFd } from './map-in-map.ts';

export class HashOfMapsMap extends HashMap {
  override readonly batchOps: BatchOps = {};
  private readonly table: BpfMapTable;

  /** fd_htab_map_alloc_check then htab_map_alloc_check. */
  static override allocCheck(attr: BpfMapAttr): void {
    if (attr.valueSize !== 4) {
      throw new ErrnoError('EINVAL', `value_size ${attr.valueSize} of a map of maps is not 4`);
    }
    HashMap.allocCheck(attr);
  }

  /** htab_of_map_alloc: the template first (EBADF, EINVAL), then the table. */
  static override create(k: Kernel, attr: BpfMapAttr, id: number): HashOfMapsMap {
    const meta = bpfMapMetaAlloc(k, attr.innerMapFd ?? 0);
    return HashMap.build(k, attr, (a, addr) => new HashOfMapsMap(k, a, id, addr, meta));
  }

  private constructor(
    private readonly k: Kernel,
    attr: BpfMapAttr,
    id: number,
    addr: number,
    readonly meta: InnerMapMeta,
  ) {
    super(k, attr, id, addr);
    this.table = k.maps;
  }

  // ---- program side ---------------------------------------------------------------

  /** htab_of_map_lookup_elem: the inner map, or NULL. */
  override lookupElem(keyAddr: number, cpu: number): number {
    const value = super.lookupElem(keyAddr, cpu);
    return value === 0 ? 0 : this.m.memory.read32(value);
  }

  override updateElem(): number {
    throw this.unsupported('bpf_map_update_elem');
  }

  override deleteElem(): number {
    throw this.unsupported('bpf_map_delete_elem');
  }

  override forEachElem(): number {
    throw this.unsupported('bpf_for_each_map_elem');
  }

  // ---- syscall side -----------------------------------------------------------------

  override sysLookup(key: Uint8Array, value: Uint8Array, flags: number): void {
    const inner = this.innerOf(key, flags);
    if (inner === undefined) throw new ErrnoError('ENOENT', `no such key in ${this.describe}`);
    new DataView(value.buffer, value.byteOffset).setUint32(0, inner.id, true);
  }

  override sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): void {
    const fd = new DataView(value.buffer, value.byteOffset).getInt32(0, true);
    const inner = innerMapFromFd(this.k, this.meta, fd);
    const old = this.innerOf(key, 0);
    const addr = new Uint8Array(4);
    new DataView(addr.buffer).setUint32(0, inner.addr, true);
    super.sysUpdate(key, addr, flags);
    this.table.hold(inner);
    if (old !== undefined) this.table.put(old);
  }

  override sysDelete(key: Uint8Array): void {
    const old = this.innerOf(key, 0);
    super.sysDelete(key);
    if (old !== undefined) this.table.put(old);
  }

  override sysLookupAndDelete(): void {
    throw this.notsupp('lookup_and_delete');
  }

  /** Drops every inner map's reference, then frees the table. */
  override free(): void {
    const held: BpfMap[] = [];
    if (this.buckets !== 0) {
      let key: Uint8Array | null = null;
      for (;;) {
        const next = new Uint8Array(this.keySize);
        try {
          this.sysGetNextKey(key, next);
        } catch {
          break;
        }
        const inner = this.innerOf(next, 0);
        if (inner !== undefined) held.push(inner);
        key = next;
      }
    }
    super.free();
    for (const inner of held) this.table.put(inner);
  }

  /** The inner map stored under `key`, if any. */
  private innerOf(key: Uint8Array, flags: number): BpfMap | undefined {
    const raw = new Uint8Array(4);
    try {
      super.sysLookup(key, raw, flags);
    } catch (e) {
      if (e instanceof ErrnoError && e.errno === 'ENOENT') return undefined;
      throw e;
    }
    const addr = new DataView(raw.buffer).getUint32(0, true);
    const map = this.table.byIdLookup(BpfMap.idAt(this.m.memory, addr));
    return map instanceof BpfMap && map.addr === addr ? map : undefined;
  }
}
