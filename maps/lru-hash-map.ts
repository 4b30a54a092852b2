/**
 * BPF_MAP_TYPE_LRU_HASH and BPF_MAP_TYPE_LRU_PERCPU_HASH (kernel/bpf/hashtab.c
 * htab_lru_*): the hash table of maps/hash-map.ts whose preallocated
 * elements are handed out by the LRU of maps/bpf-lru-list.ts instead of a
 * free list. The LRU's node is the element's `lru_node`, and its eviction
 * callback (htab_lru_map_delete_node) unlinks the element from its bucket.
 *
 * - An update first pops a node from the LRU on the updating CPU (evicting
 *   the least recently used elements when none is free; nothing evictable:
 *   ENOMEM), then takes the bucket lock and checks the flags; the new node
 *   goes back to the LRU on error, the replaced element on success. A
 *   per-CPU update with BPF_EXIST pops nothing and writes in place.
 * - Program lookups set the node's ref bit (so rotation keeps the element);
 *   syscall lookups, walks and batches do not.
 * - BPF_F_NO_COMMON_LRU: one LRU list per CPU; max_entries is rounded up to
 *   a multiple of the CPU count so that each list gets the same share.
 *
 * Locks: the LRU's locks are never taken with a bucket lock held; the LRU
 * takes a bucket lock inside its own when it evicts.
 *
 * @example
 * const h = bpfMapCreate(m, 'LRU_HASH', 'conns', 8, 8, 1024);
 * h.updateElem(u64b(1), u64b(100)); // may evict the least recently used key
 */

import { ERRNO, ErrnoError } from '../segments/errno.ts';
import { BpfLru } from './bpf-lru-list.ts';
import type { BpfMapAttr } from './bpf-map.ts';
import { BPF_EXIST, BPF_F_NO_COMMON_LRU } from './bpf-uapi.ts';
import { badUpdateFlags, checkFlags, HashMap } from './hash-map.ts';
import { HTAB_LRU_OFF, htabElemType } from './htab-elem.ts';
import type { MapMemory } from './map-memory.ts';

const HTAB_ELEM_OFF = htabElemType.off;

const { EINVAL, ENOMEM } = ERRNO;

/**
 * An LRU_HASH or LRU_PERCPU_HASH map. Made by bpfMapCreate through MAP_TYPES.
 *
 * @example
 * const map = bpfMapCreate(m, 'LRU_HASH', 'l', 8, 8, 64).map as LruHashMap;
 * map.lru?.listNodes(BPF_LRU_LIST_T.LOCAL_PENDING, 0); // nodes CPU 0 handed out
 */
export class LruHashMap extends HashMap {
  /** The map's LRU (set once the elements are populated). */
  lru: BpfLru | null = null;

  /** htab_map_alloc for LRU_HASH and LRU_PERCPU_HASH. */
  static override create(m: MapMemory, attr: BpfMapAttr, id: number): LruHashMap {
    return HashMap.build(m, attr, (a, addr) => new LruHashMap(m, a, id, addr));
  }

  protected override get hasExtraElems(): boolean {
    return false;
  }

  /** bpf_lru_init and bpf_lru_populate over the preallocated elements. */
  protected override initFreeElems(num: number): void {
    this.lru = BpfLru.init(this.m, this.addr + HTAB_LRU_OFF, {
      percpu: (this.mapFlags & BPF_F_NO_COMMON_LRU) !== 0,
      hashOffset: HTAB_ELEM_OFF.hash - HTAB_ELEM_OFF.lru_node,
      delFromHtab: (node, cpu) => this.deleteNode(node, cpu),
    });
    this.lru.populate(this.elems, HTAB_ELEM_OFF.lru_node, this.elemSize, num);
  }

  protected override destroyFreeElems(): void {
    this.lru?.destroy();
  }

  /** htab_lru_push_free: the element's node back to the LRU. */
  protected override freeHtabElem(l: number, cpu: number): void {
    this.lru!.pushFree(l + HTAB_ELEM_OFF.lru_node, cpu);
  }

  protected override markRef(l: number): void {
    this.lru!.setRef(l + HTAB_ELEM_OFF.lru_node);
  }

  /**
   * htab_lru_map_delete_node: the LRU evicts the element holding `node` if
   * it is still in its bucket. Runs under the LRU's locks.
   */
  private deleteNode(node: number, cpu: number): boolean {
    const target = node - HTAB_ELEM_OFF.lru_node;
    const index = this.w[(target + HTAB_ELEM_OFF.hash) >> 2] & this.mask;
    let found = false;
    this.lockBucket(index, cpu);
    try {
      for (let l = this.w[this.bucketAddr(index) >> 2]; (l & 1) === 0; l = this.w[l >> 2]) {
        if (l === target) {
          this.unlink(l);
          found = true;
          break;
        }
      }
    } finally {
      this.unlockBucket(index, cpu);
    }
    return found;
  }

  /** prealloc_lru_pop: a node from the LRU for `hash`, its key written; 0 when none. */
  private popLruElem(ksrc: Uint8Array, kat: number, hash: number, cpu: number): number {
    const node = this.lru!.popFree(cpu, hash);
    if (node === 0) return 0;
    const l = node - HTAB_ELEM_OFF.lru_node;
    this.putKey(l, ksrc, kat);
    return l;
  }

  /**
   * htab_lru_map_update_elem (LRU_HASH) and __htab_lru_percpu_map_update_elem
   * (LRU_PERCPU_HASH): 0 or a negative errno.
   */
  protected override updateCore(
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
    const lru = this.lru!;
    let fresh = 0;
    if (!this.percpu || flags !== BPF_EXIST) {
      fresh = this.popLruElem(ksrc, kat, hash, cpu);
      if (fresh === 0) return -ENOMEM;
      if (!this.percpu) this.putValue(fresh + this.valueOff, vsrc, vat);
    }
    let ret = 0;
    let old = 0;
    this.lockBucket(index, cpu);
    try {
      old = this.lookupRaw(index, hash, ksrc, kat);
      ret = checkFlags(old, flags);
      if (ret === 0) {
        if (!this.percpu) {
          this.addHead(fresh, index);
          if (old !== 0) {
            lru.setRef(fresh + HTAB_ELEM_OFF.lru_node);
            this.unlink(old);
          }
        } else if (old !== 0) {
          lru.setRef(old + HTAB_ELEM_OFF.lru_node);
          this.pcpuCopyValue(this.pptrOf(old), vsrc, vat, onAllCpus, cpu);
        } else {
          this.pcpuInitValue(this.pptrOf(fresh), vsrc, vat, onAllCpus, cpu);
          this.addHead(fresh, index);
          fresh = 0;
        }
      }
    } finally {
      this.unlockBucket(index, cpu);
    }
    if (!this.percpu) {
      if (ret !== 0) this.freeHtabElem(fresh, cpu);
      else if (old !== 0) this.freeHtabElem(old, cpu);
    } else if (fresh !== 0) {
      this.freeHtabElem(fresh, cpu);
    }
    return ret;
  }

  protected override updateError(err: number, key: Uint8Array, flags: number): ErrnoError {
    if (err === -ENOMEM) {
      return new ErrnoError('ENOMEM', `the LRU of ${this.describe} has no element it can free`);
    }
    return super.updateError(err, key, flags);
  }
}
