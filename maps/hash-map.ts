/**
 * BPF_MAP_TYPE_HASH and BPF_MAP_TYPE_PERCPU_HASH (kernel/bpf/hashtab.c), and
 * the hash table under the LRU types (maps/lru-hash-map.ts). Everything is
 * in emulated memory (layout: maps/htab-elem.ts): the `bpf_htab` header,
 * `roundup_pow_of_two(max_entries)` buckets each with a raw spinlock, and
 * the elements.
 *
 * The header, buckets and preallocated elements come from
 * bpf_map_area_alloc (maps/map-area.ts: kmalloc when small, vmalloc else).
 *
 * Elements. By default they are preallocated at creation, one area of
 * `elem_size` each, and kept on a per-CPU free list (maps/pcpu-freelist.ts):
 * an insert pops one (none left: E2BIG), a delete pushes it back. A HASH map
 * has `nr_cpus` extra elements, one spare per CPU (`extra_elems`): replacing
 * an existing key takes this CPU's spare for the new element and makes the
 * old one the spare, so a reader never sees a half-written value. With
 * BPF_F_NO_PREALLOC elements are kzalloc'ed per insert and kfree'd on delete,
 * and `count` in the header bounds them. Per-CPU maps keep in each element a
 * per-CPU pointer from alloc_percpu and update values in place.
 *
 * Hashing: jhash2 of the key (jhash when key_size is not a multiple of 4)
 * with the map's `hashrnd`: 0 with BPF_F_ZERO_SEED; otherwise, where the
 * kernel calls get_random_u32(), a hash of the map's id and attributes, so
 * that a run is reproducible byte for byte.
 *
 * Locks and contexts. Program-side operations run inside a helper on the
 * program's CPU; syscall-side ones on the CPU running the caller (the CPU of
 * a task or handler calling in; CPU 0 for a scenario script, as a selftest
 * pinned there). A bucket's list changes only under its lock; the lock is
 * never held across a free-list or LRU operation (the LRU takes bucket locks
 * itself when it evicts, so the order is LRU lock, then bucket lock).
 * Lookups walk a bucket without its lock, as RCU readers do, and a walk that
 * ends in another bucket's nulls marker starts again. Program-side lookups
 * and updates allocate nothing and use no BigInt.
 *
 * @example
 * const h = bpfMapCreate(m, 'HASH', 'flows', 8, 8, 1024);
 * h.updateElem(u64b(1), u64b(100), BPF_NOEXIST);
 * h.lookupElem(u64b(1)); // 100 as 8 bytes
 */

import { PCPU_MIN_UNIT_SIZE } from '../percpu/first-chunk.ts';
import { alignUp } from '../segments/ctype.ts';
import { ERRNO, ErrnoError } from '../segments/errno.ts';
import { KMALLOC_MAX_SIZE } from '../segments/kmalloc.ts';
import { RawSpinlock } from '../segments/raw-spinlock.ts';
import type { BatchArgs, BatchResult } from './batch.ts';
import { BpfLru } from './bpf-lru-list.ts';
import { type BatchOps, BpfMap, type BpfMapAttr } from './bpf-map.ts';
import {
  BPF_EXIST,
  BPF_F_ACCESS_MASK,
  BPF_F_LOCK,
  BPF_F_NO_COMMON_LRU,
  BPF_F_NO_PREALLOC,
  BPF_F_NUMA_NODE,
  BPF_F_ZERO_SEED,
  BPF_MAP_TYPE,
  BPF_NOEXIST,
} from './bpf-uapi.ts';
import {
  BUCKET_SIZE,
  bpfHtabType,
  bucketType,
  HTAB_LRU_OFF,
  htabElemSize,
  htabElemType,
  LIST_POISON2,
  nullsMarker,
} from './htab-elem.ts';
import { htabMapHash, jhash2 } from './jhash.ts';
import { bpfMapAreaAlloc, bpfMapAreaFree } from './map-area.ts';
import type { MapMemory } from './map-memory.ts';
import { PcpuFreelist } from './pcpu-freelist.ts';
import { withValueLock } from './value-lock.ts';

const HTAB_ELEM_OFF = htabElemType.off;

const BPF_HTAB_OFF = bpfHtabType.off;

const BUCKET_OFF = bucketType.off;

/** HTAB_CREATE_FLAG_MASK: the map_flags a hash map accepts. */
export const HTAB_CREATE_FLAG_MASK =
  BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED;

const U32_MAX = 0xffffffff;
const { EINVAL, EEXIST, ENOENT, E2BIG, ENOMEM } = ERRNO;

/** sizeof(struct htab_elem) on x86-64, in htab_map_alloc_check's size bound. */
const KERNEL_HTAB_ELEM_SIZE = 48;

const isLruType = (type: number) =>
  type === BPF_MAP_TYPE.LRU_HASH || type === BPF_MAP_TYPE.LRU_PERCPU_HASH;
const isPercpuType = (type: number) =>
  type === BPF_MAP_TYPE.PERCPU_HASH || type === BPF_MAP_TYPE.LRU_PERCPU_HASH;

/** roundup_pow_of_two for 1 <= n <= 2^31. */
const roundupPowOfTwo = (n: number): number => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));

/**
 * True for update flags beyond BPF_EXIST (ignoring BPF_F_LOCK when `lockOk`), as a u64.
 *
 * @example
 * badUpdateFlags(BPF_F_LOCK | BPF_EXIST, true); // false
 * badUpdateFlags(-1, true);                     // true
 */
export function badUpdateFlags(flags: number, lockOk: boolean): boolean {
  if (!Number.isInteger(flags) || flags < 0 || flags > U32_MAX) return true;
  return (lockOk ? flags & ~BPF_F_LOCK : flags) >>> 0 > BPF_EXIST;
}

/**
 * check_flags: -EEXIST for NOEXIST on an element, -ENOENT for EXIST on none, else 0.
 *
 * @example
 * checkFlags(elem, BPF_NOEXIST); // -17 when elem !== 0
 */
export function checkFlags(old: number, flags: number): number {
  const f = flags & ~BPF_F_LOCK;
  if (old !== 0 && f === BPF_NOEXIST) return -EEXIST;
  if (old === 0 && f === BPF_EXIST) return -ENOENT;
  return 0;
}

/**
 * A HASH or PERCPU_HASH map (and the table under LruHashMap). Made by
 * bpfMapCreate through MAP_TYPES; the fields describe its memory for tests
 * and reports.
 *
 * @example
 * const map = bpfMapCreate(m, 'HASH', 'h', 4, 8, 100).map as HashMap;
 * map.nBuckets; // 128
 */
export class HashMap extends BpfMap {
  override readonly batchOps: BatchOps = {
    lookup: 'own',
    lookupAndDelete: 'own',
    update: 'generic',
    delete: 'generic',
  };
  readonly nBuckets: number;
  readonly elemSize: number;
  readonly hashrnd: number;
  /** Elements are preallocated (no BPF_F_NO_PREALLOC). */
  readonly prealloc: boolean;
  /** Offset of the value (or per-CPU pointer) in an element. */
  readonly valueOff: number;
  /** Address of the buckets (0 until allocated). */
  buckets = 0;
  /** Address of the preallocated elements (0 without them). */
  elems = 0;
  /** The free list of a preallocated non-LRU map. */
  freeList: PcpuFreelist | null = null;
  /** Per-CPU pointer of the spare elements (preallocated HASH), or 0. */
  protected extraElems = 0;
  protected readonly w: Int32Array;
  protected readonly u8: Uint8Array;
  protected readonly mask: number;
  private readonly offsets: readonly number[];

  /**
   * htab_map_alloc_check: the attribute checks, in the kernel's order, each
   * an ErrnoError naming the attribute. (BPF_F_ZERO_SEED's CAP_SYS_ADMIN
   * check always passes: a scenario runs as root. The element-size bound
   * uses this layout's 24-byte `struct htab_elem` header, the kernel's 48.)
   */
  static allocCheck(attr: BpfMapAttr): void {
    const percpu = isPercpuType(attr.type);
    const lru = isLruType(attr.type);
    const flags = attr.mapFlags;
    const percpuLru = (flags & BPF_F_NO_COMMON_LRU) !== 0;
    const prealloc = (flags & BPF_F_NO_PREALLOC) === 0;
    if (flags & ~HTAB_CREATE_FLAG_MASK) {
      throw new ErrnoError(
        'EINVAL',
        `map_flags 0x${flags.toString(16)} not allowed for a hash map`,
      );
    }
    if (!lru && percpuLru) {
      throw new ErrnoError('EINVAL', 'BPF_F_NO_COMMON_LRU is only for LRU maps');
    }
    if (lru && !prealloc) {
      throw new ErrnoError('ENOTSUPP', 'LRU maps are always preallocated (BPF_F_NO_PREALLOC)');
    }
    if (flags & BPF_F_NUMA_NODE && (percpu || percpuLru)) {
      throw new ErrnoError('EINVAL', 'BPF_F_NUMA_NODE with per-CPU values or per-CPU LRU lists');
    }
    if (attr.maxEntries === 0) throw new ErrnoError('EINVAL', 'max_entries is 0');
    if (attr.keySize === 0) throw new ErrnoError('EINVAL', 'key_size is 0');
    if (attr.valueSize === 0) throw new ErrnoError('EINVAL', 'value_size is 0');
    // The kernel's bound, with its sizeof(struct htab_elem), so the limit is
    // the same as on x86-64 though our element header is smaller.
    if (attr.keySize + attr.valueSize >= KMALLOC_MAX_SIZE - KERNEL_HTAB_ELEM_SIZE) {
      throw new ErrnoError(
        'E2BIG',
        `key_size ${attr.keySize} + value_size ${attr.valueSize} make an element beyond KMALLOC_MAX_SIZE ${KMALLOC_MAX_SIZE}`,
      );
    }
    if (percpu && alignUp(attr.valueSize, 8) > PCPU_MIN_UNIT_SIZE) {
      throw new ErrnoError(
        'E2BIG',
        `value_size ${attr.valueSize} rounds up beyond the per-CPU unit size ${PCPU_MIN_UNIT_SIZE}`,
      );
    }
  }

  /** htab_map_alloc for HASH and PERCPU_HASH. */
  static create(m: MapMemory, attr: BpfMapAttr, id: number): HashMap {
    return HashMap.build(m, attr, (a, addr) => new HashMap(m, a, id, addr));
  }

  /**
   * htab_map_alloc: max_entries rounded for BPF_F_NO_COMMON_LRU, the size
   * checks (E2BIG), then the header, buckets and elements (ENOMEM, with
   * everything allocated so far freed).
   */
  protected static build<T extends HashMap>(
    m: MapMemory,
    attr: BpfMapAttr,
    make: (attr: BpfMapAttr, addr: number) => T,
  ): T {
    let maxEntries = attr.maxEntries;
    if (attr.mapFlags & BPF_F_NO_COMMON_LRU) {
      const cpus = m.nrCpus;
      maxEntries = Math.ceil(maxEntries / cpus) * cpus;
      if (maxEntries > U32_MAX) maxEntries = Math.floor(attr.maxEntries / cpus) * cpus;
    }
    if (maxEntries > 2 ** 31) {
      throw new ErrnoError('E2BIG', `max_entries ${maxEntries} is above 2^31`);
    }
    const nBuckets = roundupPowOfTwo(maxEntries);
    if (nBuckets > Math.floor(U32_MAX / BUCKET_SIZE)) {
      throw new ErrnoError('E2BIG', `${nBuckets} buckets of ${BUCKET_SIZE} bytes overflow a u32`);
    }
    const headerSize = isLruType(attr.type) ? HTAB_LRU_OFF + BpfLru.size : bpfHtabType.size;
    const addr = bpfMapAreaAlloc(m, headerSize);
    if (addr === 0) throw new ErrnoError('ENOMEM', 'no memory for the bpf_htab header');
    const map = make(maxEntries === attr.maxEntries ? attr : { ...attr, maxEntries }, addr);
    try {
      map.allocParts();
    } catch (e) {
      map.free();
      throw e;
    }
    return map;
  }

  protected constructor(m: MapMemory, attr: BpfMapAttr, id: number, addr: number) {
    super(m, attr, id, addr, isPercpuType(attr.type));
    this.nBuckets = roundupPowOfTwo(attr.maxEntries);
    this.mask = this.nBuckets - 1;
    this.elemSize = htabElemSize(attr.keySize, attr.valueSize, this.percpu);
    this.valueOff = HTAB_ELEM_OFF.key + alignUp(attr.keySize, 8);
    this.prealloc = (attr.mapFlags & BPF_F_NO_PREALLOC) === 0;
    this.hashrnd = attr.mapFlags & BPF_F_ZERO_SEED ? 0 : HashMap.seed(m, attr, id);
    this.w = new Int32Array(m.memory.buffer);
    this.u8 = m.memory.u8;
    this.offsets = m.areas.offsets;
    this.writeHeader();
    const mem = m.memory;
    mem.write32(addr + BPF_HTAB_OFF.n_buckets, this.nBuckets);
    mem.write32(addr + BPF_HTAB_OFF.elem_size, this.elemSize);
    mem.write32(addr + BPF_HTAB_OFF.hashrnd, this.hashrnd);
  }

  /** The map's stand-in for get_random_u32(): a hash of its id and attributes. */
  private static seed(m: MapMemory, attr: BpfMapAttr, id: number): number {
    const words = [id, attr.type, attr.keySize, attr.valueSize, attr.maxEntries, m.nrCpus];
    const bytes = new Uint8Array(new Uint32Array(words).buffer);
    return jhash2(bytes, 0, words.length, 0x5eed);
  }

  /** Whether a preallocated map keeps a spare element per CPU (htab_has_extra_elems). */
  protected get hasExtraElems(): boolean {
    return !this.percpu;
  }

  /** The buckets, then (preallocated) the elements, their free list and spares. */
  private allocParts(): void {
    const m = this.m;
    const mem = m.memory;
    this.buckets = bpfMapAreaAlloc(m, this.nBuckets * BUCKET_SIZE);
    if (this.buckets === 0) {
      throw new ErrnoError('ENOMEM', `no memory for ${this.nBuckets} buckets`);
    }
    mem.write32(this.addr + BPF_HTAB_OFF.buckets, this.buckets);
    for (let i = 0; i < this.nBuckets; i++) {
      const b = this.buckets + i * BUCKET_SIZE;
      this.w[b >> 2] = nullsMarker(i);
      RawSpinlock.init(mem, b + BUCKET_OFF.raw_lock);
    }
    if (!this.prealloc) return;
    const extra = this.hasExtraElems ? m.nrCpus : 0;
    const num = this.maxEntries + extra;
    this.elems = bpfMapAreaAlloc(m, this.elemSize * num);
    if (this.elems === 0) {
      throw new ErrnoError(
        'ENOMEM',
        `no memory for ${num} preallocated elements of ${this.elemSize} bytes`,
      );
    }
    mem.write32(this.addr + BPF_HTAB_OFF.elems, this.elems);
    if (this.percpu) {
      for (let i = 0; i < num; i++) {
        const p = m.percpu.alloc(this.percpuStride, 8, { noWarn: true });
        if (p === null) {
          throw new ErrnoError(
            'ENOMEM',
            `alloc_percpu failed for ${num} values of ${this.percpuStride} bytes`,
          );
        }
        this.w[(this.elems + i * this.elemSize + this.valueOff) >> 2] = p;
      }
    }
    this.initFreeElems(num);
    if (extra > 0) this.allocExtraElems();
  }

  /** pcpu_freelist_init and populate (the LRU maps populate their LRU instead). */
  protected initFreeElems(num: number): void {
    this.freeList = PcpuFreelist.init(this.m);
    this.m.memory.write32(this.addr + BPF_HTAB_OFF.freelist, this.freeList.pcpuPtr);
    this.freeList.populate(this.elems + HTAB_ELEM_OFF.pprev /* fnode */, this.elemSize, num);
  }

  /** alloc_extra_elems: one element off the free list for each CPU's spare. */
  private allocExtraElems(): void {
    const p = this.m.percpu.alloc(4, 4, { noWarn: true });
    if (p === null) throw new ErrnoError('ENOMEM', 'alloc_percpu failed for the spare elements');
    this.extraElems = p;
    this.m.memory.write32(this.addr + BPF_HTAB_OFF.extra_elems, p);
    const cpu = this.sysCpu();
    for (let c = 0; c < this.m.nrCpus; c++) {
      this.w[(p + this.offsets[c]) >> 2] =
        this.freeList!.pop(cpu) - HTAB_ELEM_OFF.pprev /* fnode */;
    }
  }

  /** The CPU a syscall runs on: the caller's CPU, or CPU 0 for a scenario script. */
  protected sysCpu(): number {
    return this.m.current?.id ?? 0;
  }

  // ---- the table ------------------------------------------------------------------

  /** htab_map_hash of the key at `src[at]`. */
  protected hashOf(src: Uint8Array, at: number): number {
    return htabMapHash(src, at, this.keySize, this.hashrnd);
  }

  protected bucketAddr(index: number): number {
    return this.buckets + index * BUCKET_SIZE;
  }

  /** raw_spin_lock of bucket `index`'s lock on CPU `cpu`. */
  protected lockBucket(index: number, cpu: number): void {
    RawSpinlock.lockAt(this.w, this.buckets + index * BUCKET_SIZE + BUCKET_OFF.raw_lock, cpu);
  }

  /** raw_spin_unlock of bucket `index`'s lock on CPU `cpu`. */
  protected unlockBucket(index: number, cpu: number): void {
    RawSpinlock.unlockAt(this.w, this.buckets + index * BUCKET_SIZE + BUCKET_OFF.raw_lock, cpu);
  }

  private keyEquals(elemKey: number, src: Uint8Array, at: number): boolean {
    const u8 = this.u8;
    for (let i = 0; i < this.keySize; i++) if (u8[elemKey + i] !== src[at + i]) return false;
    return true;
  }

  /**
   * lookup_nulls_elem_raw: the element of bucket `index` holding the key at
   * `src[at]` with `hash`, or 0. Walks without the lock; a walk that ends in
   * another bucket's nulls marker (the element it stood on moved) restarts.
   */
  protected lookupRaw(index: number, hash: number, src: Uint8Array, at: number): number {
    const w = this.w;
    const h = hash | 0;
    for (;;) {
      let n = w[this.bucketAddr(index) >> 2];
      while ((n & 1) === 0) {
        if (
          w[(n + HTAB_ELEM_OFF.hash) >> 2] === h &&
          this.keyEquals(n + HTAB_ELEM_OFF.key, src, at)
        )
          return n;
        n = w[n >> 2];
      }
      if (n >>> 1 === index) return 0;
    }
  }

  /** The element holding the key at `src[at]`, or 0. */
  protected find(src: Uint8Array, at: number): number {
    const hash = this.hashOf(src, at);
    return this.lookupRaw(hash & this.mask, hash, src, at);
  }

  /** hlist_nulls_add_head_rcu: `l` first in bucket `index`. Caller holds its lock. */
  protected addHead(l: number, index: number): void {
    const w = this.w;
    const head = this.bucketAddr(index);
    const first = w[head >> 2];
    w[l >> 2] = first;
    w[(l + HTAB_ELEM_OFF.pprev) >> 2] = head;
    w[head >> 2] = l;
    if ((first & 1) === 0) w[(first + HTAB_ELEM_OFF.pprev) >> 2] = l;
  }

  /** hlist_nulls_del_rcu: unlinks `l`, leaving its `next` for walkers. Caller holds the lock. */
  protected unlink(l: number): void {
    const w = this.w;
    const next = w[l >> 2];
    const pprev = w[(l + HTAB_ELEM_OFF.pprev) >> 2];
    w[pprev >> 2] = next;
    if ((next & 1) === 0) w[(next + HTAB_ELEM_OFF.pprev) >> 2] = pprev;
    w[(l + HTAB_ELEM_OFF.pprev) >> 2] = LIST_POISON2;
  }

  /** The per-CPU pointer of element `l` (per-CPU maps). */
  protected pptrOf(l: number): number {
    return this.w[(l + this.valueOff) >> 2];
  }

  /** The value a program on `cpu` sees for element `l`. */
  protected valueAddrOf(l: number, cpu: number): number {
    return this.percpu ? this.pptrOf(l) + this.offsets[cpu] : l + this.valueOff;
  }

  /** Copies a key (from emulated memory or a userspace buffer) into an element. */
  protected putKey(l: number, src: Uint8Array, at: number): void {
    if (src === this.u8) this.u8.copyWithin(l + HTAB_ELEM_OFF.key, at, at + this.keySize);
    else this.u8.set(src.subarray(at, at + this.keySize), l + HTAB_ELEM_OFF.key);
  }

  /** copy_map_value from emulated memory or a userspace buffer to `dst`. */
  protected putValue(dst: number, src: Uint8Array, at: number): void {
    if (src === this.u8) this.copyValueMem(dst, at);
    else this.copyValueIn(dst, src, at);
  }

  /** copy_map_value_locked: the value copied with the bpf_spin_lock in `dst` held. */
  private putValueLocked(dst: number, src: Uint8Array, at: number, cpu: number): void {
    withValueLock(this.m.memory, dst + this.spinLockOff, cpu, () => this.putValue(dst, src, at));
  }

  /**
   * pcpu_copy_value: an existing per-CPU value. A program (`onAllCpus`
   * false) writes this CPU's copy; userspace writes every CPU's from its
   * slices of `src`.
   */
  protected pcpuCopyValue(
    pptr: number,
    src: Uint8Array,
    at: number,
    onAllCpus: boolean,
    cpu: number,
  ): void {
    if (onAllCpus) this.copyPercpuIn(pptr, src);
    else this.putValue(pptr + this.offsets[cpu], src, at);
  }

  /** pcpu_init_value: a new per-CPU value; from a program, the other CPUs' copies are zeroed. */
  protected pcpuInitValue(
    pptr: number,
    src: Uint8Array,
    at: number,
    onAllCpus: boolean,
    cpu: number,
  ): void {
    if (onAllCpus) {
      this.copyPercpuIn(pptr, src);
      return;
    }
    for (let c = 0; c < this.offsets.length; c++) {
      const dst = pptr + this.offsets[c];
      if (c === cpu) this.putValue(dst, src, at);
      else this.u8.fill(0, dst, dst + this.valueSize);
    }
  }

  /**
   * alloc_htab_elem: a new element for the key and value, or a negative
   * errno (E2BIG: no free element or `count` at max_entries; ENOMEM).
   * Replacing `old` in a preallocated HASH swaps in this CPU's spare.
   */
  private allocElem(
    ksrc: Uint8Array,
    kat: number,
    vsrc: Uint8Array,
    vat: number,
    hash: number,
    old: number,
    onAllCpus: boolean,
    cpu: number,
  ): number {
    const w = this.w;
    let l: number;
    if (this.prealloc) {
      if (old !== 0) {
        const slot = (this.extraElems + this.offsets[cpu]) >> 2;
        l = w[slot];
        w[slot] = old;
      } else {
        const node = this.freeList!.pop(cpu);
        if (node === 0) return -E2BIG;
        l = node - HTAB_ELEM_OFF.pprev /* fnode */;
      }
    } else {
      const count = (this.addr + BPF_HTAB_OFF.count) >> 2;
      if (old === 0 && w[count] >>> 0 >= this.maxEntries) return -E2BIG;
      Atomics.add(w, count, 1);
      l = this.m.kheap.kzalloc(this.elemSize);
      if (l === 0) {
        Atomics.sub(w, count, 1);
        return -ENOMEM;
      }
    }
    this.putKey(l, ksrc, kat);
    if (this.percpu) {
      let pptr: number;
      if (this.prealloc) {
        pptr = this.pptrOf(l);
      } else {
        const p = this.m.percpu.alloc(this.percpuStride, 8, { atomic: true, noWarn: true });
        if (p === null) {
          this.m.kheap.kfree(l);
          Atomics.sub(w, (this.addr + BPF_HTAB_OFF.count) >> 2, 1);
          return -ENOMEM;
        }
        pptr = p;
        w[(l + this.valueOff) >> 2] = pptr;
      }
      this.pcpuInitValue(pptr, vsrc, vat, onAllCpus, cpu);
    } else {
      this.putValue(l + this.valueOff, vsrc, vat);
    }
    w[(l + HTAB_ELEM_OFF.hash) >> 2] = hash;
    return l;
  }

  /**
   * free_htab_elem: back onto this CPU's free list, or kfree'd (and its
   * per-CPU value freed) without preallocation. The element is unlinked.
   */
  protected freeHtabElem(l: number, cpu: number): void {
    if (this.prealloc) {
      this.freeList!.push(l + HTAB_ELEM_OFF.pprev /* fnode */, cpu);
      return;
    }
    Atomics.sub(this.w, (this.addr + BPF_HTAB_OFF.count) >> 2, 1);
    if (this.percpu) this.m.percpu.free(this.pptrOf(l));
    this.m.kheap.kfree(l);
  }

  /** Sets the LRU ref bit of a program's lookup (LRU maps). */
  protected markRef(_l: number): void {}

  /**
   * The update of the key at `ksrc[kat]` with the value at `vsrc[vat]`:
   * htab_map_update_elem for HASH, htab_map_update_elem_in_place for
   * PERCPU_HASH (`onAllCpus`: a userspace per-CPU value). 0 or a negative errno.
   */
  protected updateCore(
    ksrc: Uint8Array,
    kat: number,
    vsrc: Uint8Array,
    vat: number,
    flags: number,
    onAllCpus: boolean,
    cpu: number,
  ): number {
    if (this.percpu) return this.updateInPlace(ksrc, kat, vsrc, vat, flags, onAllCpus, cpu);
    if (badUpdateFlags(flags, true)) return -EINVAL;
    const hash = this.hashOf(ksrc, kat);
    const index = hash & this.mask;
    if (flags & BPF_F_LOCK) {
      if (this.spinLockOff < 0) return -EINVAL;
      const old = this.lookupRaw(index, hash, ksrc, kat);
      const err = checkFlags(old, flags);
      if (err !== 0) return err;
      if (old !== 0) {
        this.putValueLocked(old + this.valueOff, vsrc, vat, cpu);
        return 0;
      }
    }
    let ret = 0;
    let old = 0;
    this.lockBucket(index, cpu);
    try {
      old = this.lookupRaw(index, hash, ksrc, kat);
      ret = checkFlags(old, flags);
      if (ret === 0) {
        if (old !== 0 && flags & BPF_F_LOCK) {
          this.putValueLocked(old + this.valueOff, vsrc, vat, cpu);
          return 0;
        }
        const l = this.allocElem(ksrc, kat, vsrc, vat, hash, old, false, cpu);
        if (l < 0) {
          ret = l;
        } else {
          this.addHead(l, index);
          if (old !== 0) this.unlink(old);
        }
      }
    } finally {
      this.unlockBucket(index, cpu);
    }
    if (ret === 0 && old !== 0 && !this.prealloc) this.freeHtabElem(old, cpu);
    return ret;
  }

  /** htab_map_update_elem_in_place (PERCPU_HASH): an existing value is written in place. */
  private updateInPlace(
    ksrc: Uint8Array,
    kat: number,
    vsrc: Uint8Array,
    vat: number,
    flags: number,
    onAllCpus: boolean,
    cpu: number,
  ): number {
    if (badUpdateFlags(flags, false)) return -EINVAL;
    const hash = this.hashOf(ksrc, kat);
    const index = hash & this.mask;
    let ret = 0;
    this.lockBucket(index, cpu);
    try {
      const old = this.lookupRaw(index, hash, ksrc, kat);
      ret = checkFlags(old, flags);
      if (ret === 0) {
        if (old !== 0) {
          this.pcpuCopyValue(this.pptrOf(old), vsrc, vat, onAllCpus, cpu);
        } else {
          const l = this.allocElem(ksrc, kat, vsrc, vat, hash, 0, onAllCpus, cpu);
          if (l < 0) ret = l;
          else this.addHead(l, index);
        }
      }
    } finally {
      this.unlockBucket(index, cpu);
    }
    return ret;
  }

  /** htab_map_delete_elem (and htab_lru_map_delete_elem): 0 or -ENOENT. */
  protected deleteCore(ksrc: Uint8Array, kat: number, cpu: number): number {
    const hash = this.hashOf(ksrc, kat);
    const index = hash & this.mask;
    let l = 0;
    this.lockBucket(index, cpu);
    try {
      l = this.lookupRaw(index, hash, ksrc, kat);
      if (l !== 0) this.unlink(l);
    } finally {
      this.unlockBucket(index, cpu);
    }
    if (l === 0) return -ENOENT;
    this.freeHtabElem(l, cpu);
    return 0;
  }

  // ---- program side ---------------------------------------------------------------

  override lookupElem(keyAddr: number, cpu: number): number {
    this.m.memory.check(keyAddr, this.keySize, 'read');
    const l = this.find(this.u8, keyAddr);
    if (l === 0) return 0;
    this.markRef(l);
    return this.valueAddrOf(l, cpu);
  }

  override lookupPercpuElem(keyAddr: number, target: number, _cpu: number): number {
    if (!this.percpu) throw this.unsupported('bpf_map_lookup_percpu_elem');
    this.m.memory.check(keyAddr, this.keySize, 'read');
    if (target >= this.offsets.length) return 0;
    const l = this.find(this.u8, keyAddr);
    if (l === 0) return 0;
    this.markRef(l);
    return this.pptrOf(l) + this.offsets[target];
  }

  override updateElem(keyAddr: number, valueAddr: number, flags: number, cpu: number): number {
    const mem = this.m.memory;
    mem.check(keyAddr, this.keySize, 'read');
    mem.check(valueAddr, this.valueSize, 'read');
    return this.updateCore(this.u8, keyAddr, this.u8, valueAddr, flags, false, cpu);
  }

  override deleteElem(keyAddr: number, cpu: number): number {
    this.m.memory.check(keyAddr, this.keySize, 'read');
    return this.deleteCore(this.u8, keyAddr, cpu);
  }

  /** bpf_for_each_hash_elem: bucket by bucket; the callback may delete what it is given. */
  override forEachElem(
    cpu: number,
    visit: (keyAddr: number, valueAddr: number) => boolean,
  ): number {
    const w = this.w;
    let n = 0;
    for (let i = 0; i < this.nBuckets; i++) {
      for (let l = w[this.bucketAddr(i) >> 2]; (l & 1) === 0; ) {
        const next = w[l >> 2];
        n++;
        if (visit(l + HTAB_ELEM_OFF.key, this.valueAddrOf(l, cpu))) return n;
        l = next;
      }
    }
    return n;
  }

  // ---- syscall side -----------------------------------------------------------------

  /** The userspace view of element `l`'s value into `out` at `at` (all CPUs for per-CPU maps). */
  private valueOut(l: number, out: Uint8Array, at: number, flags: number, cpu: number): void {
    if (this.percpu) {
      this.copyPercpuOut(this.pptrOf(l), out.subarray(at, at + this.valueSizeUser));
      return;
    }
    const src = l + this.valueOff;
    if (flags & BPF_F_LOCK) {
      withValueLock(this.m.memory, src + this.spinLockOff, cpu, () =>
        this.copyValueOut(src, out, at),
      );
    } else {
      this.copyValueOut(src, out, at);
    }
  }

  override sysLookup(key: Uint8Array, value: Uint8Array, flags: number): void {
    const l = this.find(key, 0);
    if (l === 0) throw this.missing(key);
    this.valueOut(l, value, 0, flags, this.sysCpu());
  }

  override sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): void {
    const err = this.updateCore(key, 0, value, 0, flags, true, this.sysCpu());
    if (err !== 0) throw this.updateError(err, key, flags);
  }

  override sysDelete(key: Uint8Array): void {
    if (this.deleteCore(key, 0, this.sysCpu()) !== 0) throw this.missing(key);
  }

  /** htab_map_get_next_key: the next in the key's bucket, else the first of a later bucket. */
  override sysGetNextKey(key: Uint8Array | null, next: Uint8Array): void {
    const w = this.w;
    let i = 0;
    if (key !== null) {
      const hash = this.hashOf(key, 0);
      const l = this.lookupRaw(hash & this.mask, hash, key, 0);
      if (l !== 0) {
        const n = w[l >> 2];
        if ((n & 1) === 0) {
          this.keyOut(n, next, 0);
          return;
        }
        i = (hash & this.mask) + 1;
      }
    }
    for (; i < this.nBuckets; i++) {
      const first = w[this.bucketAddr(i) >> 2];
      if ((first & 1) === 0) {
        this.keyOut(first, next, 0);
        return;
      }
    }
    throw new ErrnoError('ENOENT', `no key follows in ${this.describe}`);
  }

  /** __htab_map_lookup_and_delete_elem. */
  override sysLookupAndDelete(key: Uint8Array | null, value: Uint8Array, flags: number): void {
    if (key === null)
      throw new ErrnoError('EINVAL', `lookup_and_delete on ${this.describe} needs a key`);
    const k = key;
    const cpu = this.sysCpu();
    const hash = this.hashOf(k, 0);
    const index = hash & this.mask;
    let l = 0;
    this.lockBucket(index, cpu);
    try {
      l = this.lookupRaw(index, hash, k, 0);
      if (l !== 0) {
        this.valueOut(l, value, 0, flags, cpu);
        this.unlink(l);
      }
    } finally {
      this.unlockBucket(index, cpu);
    }
    if (l === 0) throw this.missing(k);
    this.freeHtabElem(l, cpu);
  }

  /**
   * __htab_map_lookup_and_delete_batch: whole buckets from bucket `in_batch`
   * (a u32; 0 without one) while they fit in `count`; ENOSPC when the first
   * bucket alone does not; ENOENT after the last bucket. `outBatch` is the
   * bucket to resume from.
   */
  override sysLookupBatch(args: BatchArgs, andDelete: boolean): BatchResult {
    const elemFlags = args.elemFlags ?? 0;
    if (elemFlags & ~BPF_F_LOCK) {
      throw new ErrnoError('EINVAL', `batch elem_flags 0x${elemFlags.toString(16)}`);
    }
    const maxCount = args.count;
    if (maxCount === 0) return { count: 0 };
    let batch = 0;
    if (args.inBatch) {
      if (args.inBatch.length < 4) throw new ErrnoError('EINVAL', 'in_batch is shorter than a u32');
      batch = new DataView(args.inBatch.buffer, args.inBatch.byteOffset).getUint32(0, true);
    }
    if (batch >= this.nBuckets) {
      return { count: 0, error: new ErrnoError('ENOENT', `bucket ${batch} is past the last`) };
    }
    const w = this.w;
    const cpu = this.sysCpu();
    const ks = this.keySize;
    const vs = this.valueSizeUser;
    let total = 0;
    let error: ErrnoError | undefined;
    for (;;) {
      let bucketCnt = 0;
      let toFree = 0;
      this.lockBucket(batch, cpu);
      try {
        for (let l = w[this.bucketAddr(batch) >> 2]; (l & 1) === 0; l = w[l >> 2]) bucketCnt++;
        if (bucketCnt > maxCount - total) {
          if (total === 0) {
            error = new ErrnoError(
              'ENOSPC',
              `bucket ${batch} holds ${bucketCnt} elements, more than count ${maxCount}`,
            );
          }
          break;
        }
        let at = total;
        for (let l = w[this.bucketAddr(batch) >> 2]; (l & 1) === 0; ) {
          const next = w[l >> 2];
          this.keyOut(l, args.keys, at * ks);
          this.valueOut(l, args.values!, at * vs, elemFlags, cpu);
          if (andDelete) {
            this.unlink(l);
            w[(l + HTAB_ELEM_OFF.pprev) /* batch_flink */ >> 2] = toFree;
            toFree = l;
          }
          at++;
          l = next;
        }
      } finally {
        this.unlockBucket(batch, cpu);
      }
      while (toFree !== 0) {
        const l = toFree;
        toFree = w[(l + HTAB_ELEM_OFF.pprev) /* batch_flink */ >> 2];
        this.freeHtabElem(l, cpu);
      }
      total += bucketCnt;
      batch++;
      if (batch >= this.nBuckets) {
        error = new ErrnoError('ENOENT', `the walk of ${this.describe} is over`);
        break;
      }
    }
    const outBatch = new Uint8Array(4);
    new DataView(outBatch.buffer).setUint32(0, batch, true);
    return { count: total, outBatch, error };
  }

  private keyOut(l: number, out: Uint8Array, at: number): void {
    out.set(this.u8.subarray(l + HTAB_ELEM_OFF.key, l + HTAB_ELEM_OFF.key + this.keySize), at);
  }

  private keyText(key: Uint8Array): string {
    const shown = Math.min(this.keySize, 16);
    let hex = '';
    for (let i = 0; i < shown; i++) hex += key[i].toString(16).padStart(2, '0');
    return `key ${hex}${shown < this.keySize ? '…' : ''}`;
  }

  private missing(key: Uint8Array): ErrnoError {
    return new ErrnoError('ENOENT', `${this.keyText(key)} is not in ${this.describe}`);
  }

  /** The ErrnoError of an update's negative errno. */
  protected updateError(err: number, key: Uint8Array, flags: number): ErrnoError {
    switch (-err) {
      case EEXIST:
        return new ErrnoError(
          'EEXIST',
          `${this.keyText(key)} is in ${this.describe} (BPF_NOEXIST)`,
        );
      case ENOENT:
        return new ErrnoError(
          'ENOENT',
          `${this.keyText(key)} is not in ${this.describe} (BPF_EXIST)`,
        );
      case E2BIG:
        return new ErrnoError('E2BIG', `${this.describe} is full: max_entries ${this.maxEntries}`);
      case ENOMEM:
        return new ErrnoError('ENOMEM', `no memory for a new element of ${this.describe}`);
      default:
        return new ErrnoError('EINVAL', `update flags 0x${flags.toString(16)} on ${this.describe}`);
    }
  }

  /** Frees the per-CPU values, elements, free list, spares, buckets and header. */
  override free(): void {
    const m = this.m;
    const w = this.w;
    if (this.prealloc) {
      if (this.elems !== 0) {
        if (this.percpu) {
          for (let i = 0; i < this.maxEntries; i++) {
            const p = this.pptrOf(this.elems + i * this.elemSize);
            if (p !== 0) m.percpu.free(p);
          }
        }
        bpfMapAreaFree(m, this.elems);
      }
      this.destroyFreeElems();
    } else if (this.buckets !== 0) {
      for (let i = 0; i < this.nBuckets; i++) {
        for (let l = w[this.bucketAddr(i) >> 2]; (l & 1) === 0; ) {
          const next = w[l >> 2];
          if (this.percpu) m.percpu.free(this.pptrOf(l));
          m.kheap.kfree(l);
          l = next;
        }
      }
    }
    if (this.extraElems !== 0) m.percpu.free(this.extraElems);
    if (this.buckets !== 0) bpfMapAreaFree(m, this.buckets);
    bpfMapAreaFree(m, this.addr);
  }

  /** pcpu_freelist_destroy (bpf_lru_destroy for the LRU maps). */
  protected destroyFreeElems(): void {
    this.freeList?.destroy();
  }
}
