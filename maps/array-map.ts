/**
 * BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_PERCPU_ARRAY (kernel/bpf/arraymap.c).
 *
 * Layout in emulated memory, one block from bpf_map_area_alloc:
 *
 *     struct bpf_array { struct bpf_map map; u32 elem_size; u32 pad; u8 value[]; }
 *
 * For ARRAY, `value` holds max_entries values of `elem_size =
 * round_up(value_size, 8)` bytes, preallocated and zeroed; a lookup is an
 * address computation, so the array needs no lock (values are read and
 * written by programs in place, like the kernel's). For PERCPU_ARRAY,
 * `value` holds one u64 per entry: a per-CPU pointer from alloc_percpu, and
 * a program's lookup returns `this_cpu_ptr` of it.
 *
 * Keys are u32 indexes; an index >= max_entries finds nothing (ENOENT) and
 * cannot be updated (E2BIG); elements cannot be deleted (EINVAL).
 *
 * @example
 * const fd = bpfMapCreate(m, 'ARRAY', 'counts', 4, 8, 256).fd;
 */

import { PCPU_MIN_UNIT_SIZE } from '../percpu/first-chunk.ts';
import { alignUp } from '../segments/ctype.ts';
import { ERRNO, ErrnoError } from '../segments/errno.ts';
import { type BatchOps, BpfMap, type BpfMapAttr, bpfMapHeader } from './bpf-map.ts';
import {
  BPF_EXIST,
  BPF_F_ACCESS_MASK,
  BPF_F_INNER_MAP,
  BPF_F_LOCK,
  BPF_F_MMAPABLE,
  BPF_F_NUMA_NODE,
  BPF_MAP_TYPE,
  BPF_NOEXIST,
} from './bpf-uapi.ts';
import { bpfMapAreaAlloc, bpfMapAreaFree } from './map-area.ts';
import type { MapMemory } from './map-memory.ts';
import type { MmapArea } from './map-mmap.ts';
import { withValueLock } from './value-lock.ts';

/** Offset of `elem_size` and of `value[]` in `struct bpf_array`. */
const ELEM_SIZE_OFF = bpfMapHeader.size;
const VALUE_OFF = alignUp(bpfMapHeader.size + 8, 8);

export class ArrayMap extends BpfMap {
  override readonly batchOps: BatchOps = { lookup: 'generic', update: 'generic' };
  readonly elemSize: number;
  /** Address of `value[0]`: values (ARRAY) or per-CPU pointers (PERCPU_ARRAY). */
  readonly values: number;
  /** A per-CPU u32 for the key that for_each hands its callback. */
  private readonly keyScratch: number;

  /** array_map_alloc_check: EINVAL or E2BIG naming the attribute at fault. */
  static allocCheck(attr: BpfMapAttr): void {
    const percpu = attr.type === BPF_MAP_TYPE.PERCPU_ARRAY;
    const allowed =
      BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_INNER_MAP | (percpu ? 0 : BPF_F_MMAPABLE);
    if (attr.maxEntries === 0) throw new ErrnoError('EINVAL', 'max_entries is 0');
    if (attr.keySize !== 4) {
      throw new ErrnoError('EINVAL', `key_size ${attr.keySize} of an array is not 4`);
    }
    if (attr.valueSize === 0) throw new ErrnoError('EINVAL', 'value_size is 0');
    if (attr.mapFlags & ~allowed) {
      throw new ErrnoError('EINVAL', `map_flags 0x${attr.mapFlags.toString(16)} not allowed here`);
    }
    if (percpu && alignUp(attr.valueSize, 8) > PCPU_MIN_UNIT_SIZE) {
      throw new ErrnoError(
        'E2BIG',
        `value_size ${attr.valueSize} rounds up beyond the per-CPU unit size ${PCPU_MIN_UNIT_SIZE}`,
      );
    }
  }

  /**
   * array_map_alloc: the whole array, zeroed, and for PERCPU_ARRAY one
   * alloc_percpu per entry. ENOMEM when memory runs out, nothing leaked.
   */
  static create(m: MapMemory, attr: BpfMapAttr, id: number): ArrayMap {
    const percpu = attr.type === BPF_MAP_TYPE.PERCPU_ARRAY;
    const elemSize = alignUp(attr.valueSize, 8);
    const slot = percpu ? 8 : elemSize;
    const bytes = VALUE_OFF + slot * attr.maxEntries;
    const addr = bpfMapAreaAlloc(m, bytes);
    if (addr === 0) {
      throw new ErrnoError('ENOMEM', `no memory for ${attr.maxEntries} entries of ${slot} bytes`);
    }
    const scratch = m.percpu.alloc(4, 4, { noWarn: true });
    if (scratch === null) {
      bpfMapAreaFree(m, addr);
      throw new ErrnoError('ENOMEM', 'no per-CPU memory for the array');
    }
    const map = new ArrayMap(m, attr, id, addr, percpu, scratch);
    if (percpu && !map.allocPercpuValues()) {
      map.free();
      throw new ErrnoError(
        'ENOMEM',
        `alloc_percpu failed for ${attr.maxEntries} values of ${elemSize} bytes`,
      );
    }
    return map;
  }

  private constructor(
    m: MapMemory,
    attr: BpfMapAttr,
    id: number,
    addr: number,
    percpu: boolean,
    keyScratch: number,
  ) {
    super(m, attr, id, addr, percpu);
    this.elemSize = alignUp(attr.valueSize, 8);
    this.values = addr + VALUE_OFF;
    this.keyScratch = keyScratch;
    this.writeHeader();
    m.memory.write32(addr + ELEM_SIZE_OFF, this.elemSize);
  }

  private allocPercpuValues(): boolean {
    for (let i = 0; i < this.maxEntries; i++) {
      const p = this.m.percpu.alloc(this.elemSize, 8, { noWarn: true });
      if (p === null) return false;
      this.m.memory.write32(this.values + 8 * i, p);
    }
    return true;
  }

  /** The per-CPU pointer of entry `index` (PERCPU_ARRAY). */
  pptr(index: number): number {
    return this.m.memory.read32(this.values + 8 * index);
  }

  /** Address of entry `index`'s value (ARRAY). */
  valueAddr(index: number): number {
    return this.values + index * this.elemSize;
  }

  private indexAt(keyAddr: number): number {
    return this.m.memory.read32(keyAddr);
  }

  /**
   * array_map_direct_value_addr: `value[0] + off` for `lddw` map values. The
   * kernel allows only one-entry arrays; here `off` may reach into any entry
   * (the assembler's `map[i] + off`), but not past the array.
   */
  override directValueAddr(off: number): number | undefined {
    if (this.percpu) return undefined;
    const size = this.maxEntries * this.elemSize;
    if (!Number.isInteger(off) || off < 0 || off >= size) {
      throw new ErrnoError(
        'EINVAL',
        `offset ${off} is outside the ${size} bytes of ${this.describe}`,
      );
    }
    return this.values + off;
  }

  /** array_map_mmap's area: the values of an ARRAY (PERCPU_ARRAY has no mmap). */
  override mmapArea(): MmapArea | undefined {
    return this.percpu ? undefined : { addr: this.values, size: this.maxEntries * this.elemSize };
  }

  // ---- program side ---------------------------------------------------------------

  override lookupElem(keyAddr: number, cpu: number): number {
    const index = this.indexAt(keyAddr);
    if (index >= this.maxEntries) return 0;
    if (!this.percpu) return this.values + index * this.elemSize;
    return this.pptr(index) + this.m.areas.offsets[cpu];
  }

  override lookupPercpuElem(keyAddr: number, target: number, _cpu: number): number {
    if (!this.percpu) throw this.unsupported('bpf_map_lookup_percpu_elem');
    const index = this.indexAt(keyAddr);
    if (target >= this.m.nrCpus || index >= this.maxEntries) return 0;
    return this.pptr(index) + this.m.areas.offsets[target];
  }

  override updateElem(keyAddr: number, valueAddr: number, flags: number, cpu: number): number {
    const index = this.indexAt(keyAddr);
    const err = this.updateCheck(index, flags);
    if (err !== 0) return err;
    if (this.percpu) {
      this.copyValueMem(this.pptr(index) + this.m.areas.offsets[cpu], valueAddr);
    } else if (flags & BPF_F_LOCK) {
      const dst = this.valueAddr(index);
      this.lockedIf(flags, dst, cpu, () => this.copyValueMem(dst, valueAddr));
    } else {
      this.copyValueMem(this.valueAddr(index), valueAddr);
    }
    return 0;
  }

  override deleteElem(_keyAddr: number, _cpu: number): number {
    return -ERRNO.EINVAL;
  }

  override forEachElem(
    cpu: number,
    visit: (keyAddr: number, valueAddr: number) => boolean,
  ): number {
    const key = this.keyScratch + this.m.areas.offsets[cpu];
    let n = 0;
    for (let i = 0; i < this.maxEntries; i++) {
      this.m.memory.write32(key, i);
      const value = this.percpu
        ? this.pptr(i) + this.m.areas.offsets[cpu]
        : this.values + i * this.elemSize;
      n++;
      if (visit(key, value)) break;
    }
    return n;
  }

  /** array_map_update_elem's checks, in the kernel's order: 0 or a negative errno. */
  private updateCheck(index: number, flags: number): number {
    if ((flags & ~BPF_F_LOCK) > BPF_EXIST) return -ERRNO.EINVAL;
    if (index >= this.maxEntries) return -ERRNO.E2BIG;
    if (flags & BPF_NOEXIST) return -ERRNO.EEXIST;
    if (flags & BPF_F_LOCK && this.spinLockOff < 0) return -ERRNO.EINVAL;
    return 0;
  }

  // ---- syscall side -----------------------------------------------------------------

  override sysLookup(key: Uint8Array, value: Uint8Array, flags: number): void {
    const index = u32Key(key);
    if (index >= this.maxEntries) {
      throw new ErrnoError('ENOENT', `index ${index} >= max_entries ${this.maxEntries}`);
    }
    if (this.percpu) {
      this.copyPercpuOut(this.pptr(index), value);
      return;
    }
    const addr = this.valueAddr(index);
    this.lockedIf(flags, addr, -1, () => this.copyValueOut(addr, value, 0));
  }

  override sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): void {
    const index = u32Key(key);
    if (this.percpu && flags > BPF_EXIST) {
      throw new ErrnoError('EINVAL', `flags 0x${flags.toString(16)} on ${this.describe}`);
    }
    const err = this.updateCheck(index, flags);
    if (err === -ERRNO.E2BIG) {
      throw new ErrnoError('E2BIG', `index ${index} >= max_entries ${this.maxEntries}`);
    }
    if (err === -ERRNO.EEXIST) {
      throw new ErrnoError('EEXIST', `BPF_NOEXIST on array index ${index}, which always exists`);
    }
    if (err !== 0)
      throw new ErrnoError('EINVAL', `flags 0x${flags.toString(16)} on ${this.describe}`);
    if (this.percpu) {
      this.copyPercpuIn(this.pptr(index), value);
      return;
    }
    const addr = this.valueAddr(index);
    this.lockedIf(flags, addr, -1, () => this.copyValueIn(addr, value, 0));
  }

  /** Runs `copy` under the value's bpf_spin_lock when `flags` has BPF_F_LOCK. */
  private lockedIf(flags: number, addr: number, cpu: number, copy: () => void): void {
    if (flags & BPF_F_LOCK) withValueLock(this.m.memory, addr + this.spinLockOff, cpu, copy);
    else copy();
  }

  override sysDelete(_key: Uint8Array): void {
    throw new ErrnoError('EINVAL', `elements of ${this.describe} cannot be deleted`);
  }

  override sysGetNextKey(key: Uint8Array | null, next: Uint8Array): void {
    const index = key === null ? 0xffffffff : u32Key(key);
    if (index === this.maxEntries - 1) {
      throw new ErrnoError('ENOENT', `index ${index} is the last of ${this.describe}`);
    }
    writeU32(next, index >= this.maxEntries ? 0 : index + 1);
  }

  override free(): void {
    if (this.percpu) {
      for (let i = 0; i < this.maxEntries; i++) {
        const p = this.pptr(i);
        if (p !== 0) this.m.percpu.free(p);
      }
    }
    this.m.percpu.free(this.keyScratch);
    bpfMapAreaFree(this.m, this.addr);
  }
}

const u32Key = (key: Uint8Array): number =>
  (key[0] | (key[1] << 8) | (key[2] << 16) | (key[3] << 24)) >>> 0;

function writeU32(out: Uint8Array, v: number): void {
  out[0] = v & 0xff;
  out[1] = (v >>> 8) & 0xff;
  out[2] = (v >>> 16) & 0xff;
  out[3] = v >>> 24;
}
