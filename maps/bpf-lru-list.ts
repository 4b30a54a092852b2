/**
 * The LRU lists behind BPF_MAP_TYPE_LRU_HASH and LRU_PERCPU_HASH
 * (kernel/bpf/bpf_lru_list.c). The hash table embeds a `bpf_lru_node` in
 * every preallocated element; this module decides which element a new key
 * gets, evicting old keys through the hash table's `del_from_htab` callback
 * when no free element is left. Everything lives in emulated memory.
 *
 * Structures (guest pointers are u32; a list_head is `{ next, prev }`):
 *
 *     struct bpf_lru_list {                 // 72 bytes
 *       struct list_head lists[3];          // ACTIVE, INACTIVE, FREE
 *       u32 counts[2];                      // ACTIVE, INACTIVE
 *       u32 next_inactive_rotation;         // a list_head: a node or the INACTIVE head
 *       u8 __pad[28];
 *       struct raw_spinlock lock;           // ____cacheline_aligned_in_smp: at 64
 *     };
 *     struct bpf_lru_locallist {            // 28 bytes, one per CPU (alloc_percpu)
 *       struct list_head lists[2];          // LOCAL_FREE, LOCAL_PENDING
 *       u16 next_steal;
 *       struct raw_spinlock lock;
 *     };
 *     struct bpf_common_lru { struct bpf_lru_list lru_list; u32 local_list; };
 *     struct bpf_lru {                      // placed by the caller (the hash table)
 *       struct bpf_common_lru common_lru;   // BPF_F_NO_COMMON_LRU: unused
 *       u32 percpu_lru;                     // the kernel's union with common_lru: its own word here
 *       s32 hash_offset; u32 nr_scans; u32 target_free; u8 percpu;
 *     };
 *
 * A list's head end is the most recent; scans start at the tail (the oldest).
 *
 * Common LRU (the default). One global `bpf_lru_list` under the global lock,
 * and per CPU a `bpf_lru_locallist` under its own lock. `popFree` on CPU c:
 *   1. under c's local lock, take the first node of c's LOCAL_FREE list;
 *   2. if there is none, refill it under the global lock as well
 *      (bpf_lru_list_pop_free_to_local): flush c's LOCAL_PENDING nodes into
 *      the global ACTIVE (ref set) or INACTIVE (ref clear) list; rotate
 *      (below); move up to `target_free` nodes from the global FREE list; if
 *      short, shrink (below) for the rest;
 *   3. a node found is added to c's LOCAL_PENDING list with `cpu = c`, the
 *      hash written at `node + hash_offset` and the ref bit cleared;
 *   4. otherwise steal, round robin from c's `next_steal` (initially c
 *      itself) over all CPUs, each under that CPU's local lock: its first
 *      LOCAL_FREE node, else the oldest LOCAL_PENDING node that
 *      `del_from_htab` accepts, unreferenced ones first; `next_steal` becomes
 *      the CPU after the last one tried. The stolen node becomes pending on c.
 * `target_free = clamp(nr_elems / num_possible_cpus / 2, 1, LOCAL_FREE_TARGET)`,
 * set by populate (the kernel's formula since it stopped using a fixed 128).
 * `pushFree` of a pending node moves it to its owner CPU's LOCAL_FREE list
 * (under that CPU's local lock); of any other node, to the global FREE list
 * (under the global lock).
 *
 * Per-CPU LRU (BPF_F_NO_COMMON_LRU). One `bpf_lru_list` per CPU
 * (alloc_percpu), each under its own lock, and no local lists. populate
 * spreads the elements evenly, `cpu` marking the owner; `popFree` on CPU c
 * rotates c's list, shrinks it by PERCPU_FREE_TARGET when its FREE list is
 * empty, and moves the first FREE node to INACTIVE; it never looks at
 * another CPU's list. `pushFree` returns a node to its owner's FREE list.
 *
 * Rotation (under the list's lock), nr_scans nodes at most per pass
 * (LOCAL_NR_SCANS 128, PERCPU_NR_SCANS 4):
 *   - ACTIVE, only when INACTIVE has fewer nodes than ACTIVE: from the tail,
 *     a referenced node goes back to the ACTIVE head, an unreferenced one to
 *     the INACTIVE head;
 *   - INACTIVE, always: walking towards the head from
 *     `next_inactive_rotation` (wrapping once round), referenced nodes move
 *     to the ACTIVE head and the others stay; the walk resumes next time
 *     where this one stopped.
 * Every move between lists clears the ref bit.
 * Shrinking: from the INACTIVE tail, referenced nodes move to ACTIVE and
 * unreferenced ones that `del_from_htab` accepts move to the free list, until
 * enough are freed or nr_scans nodes were looked at. If none was freed, one
 * node is evicted ignoring the ref bit, from the INACTIVE tail, or from the
 * ACTIVE tail when INACTIVE is empty.
 *
 * Locks and contexts. Each list and its counters are touched only under the
 * lock the kernel takes: the global lock (common), a CPU's local-list lock,
 * or a CPU's list lock (per-CPU LRU); the global lock nests inside a local
 * one. The kernel takes them with interrupts off (raw_spin_lock_irqsave);
 * here a helper or kernel function runs whole, so interrupts are the
 * caller's business. `delFromHtab` runs with the LRU locks held, as in the
 * kernel (it may take the hash table's bucket locks, which nest inside).
 * `populate` takes no lock: it runs at map creation, before anyone else can
 * see the map. The ref bit is written without any lock. `popFree`,
 * `pushFree` and `setRef` allocate nothing.
 *
 * Parallel mode: all state is in the SharedArrayBuffer, so a worker thread
 * makes its own handle with {@link BpfLru.attach}; locks made with
 * `concurrent: true` spin instead of reporting a held lock.
 *
 * @example
 * const lru = BpfLru.init(m, lruAddr, { percpu: false, hashOffset: 12, delFromHtab });
 * lru.populate(elems, 8, 32, 1024);
 * const node = lru.popFree(cpu, hash); // 0 when nothing can be freed
 * lru.setRef(node);                    // a program's lookup
 * lru.pushFree(node, cpu);             // delete
 */

import { alignUp, array, s32, struct, u8, u16, u32 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { ListRegion, listHeadType } from '../segments/list.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import { RawSpinlock, rawSpinlockType } from '../segments/raw-spinlock.ts';
import {
  BPF_LOCAL_LIST_T_OFFSET,
  type BPF_LRU_LIST_T,
  type BpfLruListType,
  bpfLruNodeType,
  lruListTypeName,
  NR_BPF_LRU_LIST_COUNT,
  NR_BPF_LRU_LIST_T,
  NR_BPF_LRU_LOCAL_LIST_T,
} from './bpf-lru-node.ts';

const BPF_LRU_NODE_OFF = bpfLruNodeType.off;

/** Free nodes a CPU's refill moves from the global list at most. */
export const LOCAL_FREE_TARGET = 128;
/** Nodes a rotation or shrink pass of the common LRU looks at, at most. */
export const LOCAL_NR_SCANS = LOCAL_FREE_TARGET;
/** Nodes a per-CPU LRU shrink frees at most. */
export const PERCPU_FREE_TARGET = 4;
/** Nodes a rotation or shrink pass of a per-CPU LRU looks at, at most. */
export const PERCPU_NR_SCANS = PERCPU_FREE_TARGET;
/** SMP_CACHE_BYTES on x86-64: where ____cacheline_aligned_in_smp puts a list's lock. */
export const SMP_CACHE_BYTES = 64;

const listFields = [
  ['lists', array(listHeadType, NR_BPF_LRU_LIST_T)],
  ['counts', array(u32, NR_BPF_LRU_LIST_COUNT)],
  ['next_inactive_rotation', u32],
] as const;
const listFieldsSize = struct('bpf_lru_list_fields', listFields).size;

/** `struct bpf_lru_list`: one LRU's three lists, counts and lock (the lock a cache line in). */
export const bpfLruListType = struct('bpf_lru_list', [
  ...listFields,
  ['__pad', array(u8, alignUp(listFieldsSize, SMP_CACHE_BYTES) - listFieldsSize)],
  ['lock', rawSpinlockType],
]);
const BPF_LRU_LIST_OFF = bpfLruListType.off;

/** `struct bpf_lru_locallist`: a CPU's free and pending lists (common LRU). */
export const bpfLruLocallistType = struct('bpf_lru_locallist', [
  ['lists', array(listHeadType, NR_BPF_LRU_LOCAL_LIST_T)],
  ['next_steal', u16],
  ['lock', rawSpinlockType],
]);
const BPF_LRU_LOCALLIST_OFF = bpfLruLocallistType.off;

/** `struct bpf_common_lru`: the global list and the per-CPU pointer of the local lists. */
export const bpfCommonLruType = struct('bpf_common_lru', [
  ['lru_list', bpfLruListType],
  ['local_list', u32],
]);
const BPF_COMMON_LRU_OFF = bpfCommonLruType.off;

/** `struct bpf_lru`, which the hash table embeds (4-aligned; 64 keeps the lock on its own line). */
export const bpfLruType = struct('bpf_lru', [
  ['common_lru', bpfCommonLruType],
  ['percpu_lru', u32],
  ['hash_offset', s32],
  ['nr_scans', u32],
  ['target_free', u32],
  ['percpu', u8],
]);
const BPF_LRU_OFF = bpfLruType.off;

// Hot-path constants, module-local (segments/ctype.ts, "Module-local constants").
const HEAD_SIZE = listHeadType.size;
const LRU_LIST = BPF_LRU_OFF.common_lru + BPF_COMMON_LRU_OFF.lru_list;
const LRU_LOCAL_LIST = BPF_LRU_OFF.common_lru + BPF_COMMON_LRU_OFF.local_list;

const ACTIVE = 0;
const INACTIVE = 1;
const FREE = 2;
const LOCAL_FREE = 3;
const LOCAL_PENDING = 4;
/** Offsets of a local list's heads in `bpf_lru_locallist` (LOCAL_LIST_IDX(t) * sizeof(list_head)). */
const LOC_FREE_HEAD = (LOCAL_FREE - BPF_LOCAL_LIST_T_OFFSET) * HEAD_SIZE;
const LOC_PENDING_HEAD = (LOCAL_PENDING - BPF_LOCAL_LIST_T_OFFSET) * HEAD_SIZE;

/**
 * The hash table's eviction callback (htab_lru_map_delete_node): removes the
 * element holding `node` from its bucket and returns true, or returns false
 * when the element is not in the table. Called with LRU locks held; `cpu` is
 * the CPU doing the pop, for the bucket locks it takes.
 */
export type DelFromHtab = (node: number, cpu: number) => boolean;

/** What the LRU needs of the kernel (a booted kernel, or any MapMemory, is one). */
export interface BpfLruHost {
  readonly memory: PhysicalMemory;
  readonly nrCpus: number;
  readonly percpu: {
    alloc(size: number, align: number): number | null;
    free(ptr: number | null): void;
  };
  readonly areas: { readonly offsets: readonly number[] };
}

export interface BpfLruOptions {
  /** BPF_F_NO_COMMON_LRU: one LRU list per CPU instead of the common one. */
  percpu: boolean;
  /** Where pop_free writes the element's u32 hash, relative to the node (a multiple of 4). */
  hashOffset: number;
  /** The hash table's eviction callback. */
  delFromHtab: DelFromHtab;
  /** Locks spin when held (worker threads) instead of reporting a deadlock. */
  concurrent?: boolean;
}

export class BpfLru {
  /** Bytes of `struct bpf_lru` at the caller's address. */
  static readonly size = bpfLruType.size;

  readonly memory: PhysicalMemory;
  readonly nrCpus: number;
  /** BPF_F_NO_COMMON_LRU. */
  readonly percpu: boolean;
  /** Bytes from a node to its element's u32 hash. */
  readonly hashOffset: number;
  /** LOCAL_NR_SCANS or PERCPU_NR_SCANS. */
  readonly nrScans: number;
  /** The per-CPU pointer of the local lists (common) or of the lists (per-CPU LRU). */
  readonly pcpuPtr: number;
  private readonly host: BpfLruHost;
  private readonly w: Int32Array;
  private readonly h: Uint16Array;
  private readonly b: Uint8Array;
  private readonly del: DelFromHtab;
  /** The nodes' links: the elements may be anywhere in memory (attach knows no buffer). */
  private readonly lists: ListRegion;
  /** Per CPU: the bpf_lru_list its pops use (the global one for every CPU when common). */
  private readonly listOf: number[];
  private readonly listLock: RawSpinlock[];
  /** Per CPU: its bpf_lru_locallist (common LRU; empty otherwise). */
  private readonly localOf: number[];
  private readonly localLock: RawSpinlock[];

  /**
   * bpf_lru_init: writes an empty LRU at `addr` (BpfLru.size bytes,
   * 4-aligned) and allocates the per-CPU part with alloc_percpu: each CPU's
   * local lists (common) or its LRU list (per-CPU). ENOMEM when alloc_percpu
   * fails, EINVAL for a misaligned address or hash offset.
   *
   * @example
   * const lru = BpfLru.init(m, m.map.reserve('lru', BpfLru.size, 64).start, {
   *   percpu: false, hashOffset: 12, delFromHtab: (node) => htab.deleteNode(node),
   * });
   */
  static init(host: BpfLruHost, addr: number, opts: BpfLruOptions): BpfLru {
    const { memory } = host;
    if (addr % 4 !== 0) {
      throw new ErrnoError('EINVAL', `struct bpf_lru at 0x${addr.toString(16)} is not 4-aligned`);
    }
    if (!Number.isInteger(opts.hashOffset) || opts.hashOffset % 4 !== 0) {
      throw new ErrnoError('EINVAL', `hash offset ${opts.hashOffset} is not a multiple of 4`);
    }
    memory.fill(addr, bpfLruType.size);
    const pcpu = opts.percpu
      ? host.percpu.alloc(bpfLruListType.size, SMP_CACHE_BYTES)
      : host.percpu.alloc(bpfLruLocallistType.size, bpfLruLocallistType.align);
    if (pcpu === null) {
      const what = opts.percpu ? 'the per-CPU LRU lists' : 'the LRU local lists';
      throw new ErrnoError('ENOMEM', `alloc_percpu failed for ${what} of ${host.nrCpus} CPUs`);
    }
    memory.write32(addr + (opts.percpu ? BPF_LRU_OFF.percpu_lru : LRU_LOCAL_LIST), pcpu);
    memory.write32(addr + BPF_LRU_OFF.hash_offset, opts.hashOffset);
    memory.write32(addr + BPF_LRU_OFF.nr_scans, opts.percpu ? PERCPU_NR_SCANS : LOCAL_NR_SCANS);
    memory.write8(addr + BPF_LRU_OFF.percpu, opts.percpu ? 1 : 0);
    const lru = new BpfLru(host, addr, opts.delFromHtab, opts.concurrent === true);
    if (opts.percpu) {
      for (let cpu = 0; cpu < host.nrCpus; cpu++) lru.listInit(lru.listOf[cpu]);
    } else {
      for (let cpu = 0; cpu < host.nrCpus; cpu++) lru.locallistInit(lru.localOf[cpu], cpu);
      lru.listInit(addr + LRU_LIST);
    }
    return lru;
  }

  /**
   * A new handle on an LRU already initialised at `addr` (a worker thread's
   * view of the same memory), with the hash table's callback for this thread.
   *
   * @example
   * const mine = BpfLru.attach(workerHost, lru.addr, delFromHtab, { concurrent: true });
   */
  static attach(
    host: BpfLruHost,
    addr: number,
    delFromHtab: DelFromHtab,
    opts: { concurrent?: boolean } = {},
  ): BpfLru {
    return new BpfLru(host, addr, delFromHtab, opts.concurrent === true);
  }

  private constructor(
    host: BpfLruHost,
    /** Address of `struct bpf_lru`. */
    readonly addr: number,
    delFromHtab: DelFromHtab,
    concurrent: boolean,
  ) {
    const { memory, nrCpus } = host;
    this.host = host;
    this.memory = memory;
    this.nrCpus = nrCpus;
    this.w = new Int32Array(memory.buffer);
    this.h = new Uint16Array(memory.buffer);
    this.b = memory.u8;
    this.del = delFromHtab;
    this.lists = new ListRegion(memory, {
      name: 'bpf_lru_list',
      start: memory.lowLimit,
      end: memory.size,
      entrySize: bpfLruNodeType.size,
    });
    this.percpu = memory.read8(addr + BPF_LRU_OFF.percpu) !== 0;
    this.hashOffset = memory.read32(addr + BPF_LRU_OFF.hash_offset) | 0;
    this.nrScans = memory.read32(addr + BPF_LRU_OFF.nr_scans);
    this.pcpuPtr = memory.read32(addr + (this.percpu ? BPF_LRU_OFF.percpu_lru : LRU_LOCAL_LIST));
    const offsets = host.areas.offsets;
    const lockOpts = { concurrent };
    this.listOf = [];
    this.listLock = [];
    this.localOf = [];
    this.localLock = [];
    if (this.percpu) {
      for (let cpu = 0; cpu < nrCpus; cpu++) {
        const l = this.pcpuPtr + offsets[cpu];
        this.listOf.push(l);
        this.listLock.push(new RawSpinlock(memory, l + BPF_LRU_LIST_OFF.lock, lockOpts));
      }
    } else {
      const global = addr + LRU_LIST;
      const lock = new RawSpinlock(memory, global + BPF_LRU_LIST_OFF.lock, lockOpts);
      for (let cpu = 0; cpu < nrCpus; cpu++) {
        const loc = this.pcpuPtr + offsets[cpu];
        this.listOf.push(global);
        this.listLock.push(lock);
        this.localOf.push(loc);
        this.localLock.push(new RawSpinlock(memory, loc + BPF_LRU_LOCALLIST_OFF.lock, lockOpts));
      }
    }
  }

  /** `target_free`: nodes a refill moves to a CPU's local free list (common LRU; set by populate). */
  get targetFree(): number {
    return this.w[(this.addr + BPF_LRU_OFF.target_free) >> 2];
  }

  // ---- node and list helpers (caller holds the list's lock) ------------------------

  private countInc(l: number, type: number): void {
    if (type < NR_BPF_LRU_LIST_COUNT) this.w[((l + BPF_LRU_LIST_OFF.counts) >> 2) + type]++;
  }

  private countDec(l: number, type: number): void {
    if (type < NR_BPF_LRU_LIST_COUNT) this.w[((l + BPF_LRU_LIST_OFF.counts) >> 2) + type]--;
  }

  /** If `node` is where the next inactive rotation starts, start it one nearer the head instead. */
  private skipRotationPast(l: number, node: number): void {
    const nir = (l + BPF_LRU_LIST_OFF.next_inactive_rotation) >> 2;
    if (this.w[nir] === node) this.w[nir] = this.lists.prev(node, l + INACTIVE * HEAD_SIZE);
  }

  /** __bpf_lru_node_move_to_free: off l's ACTIVE/INACTIVE/FREE list onto `freeHead`. */
  private moveToFree(l: number, node: number, freeHead: number, tgtFreeType: number): void {
    this.skipRotationPast(l, node);
    this.countDec(l, this.b[node + BPF_LRU_NODE_OFF.type]);
    this.b[node + BPF_LRU_NODE_OFF.type] = tgtFreeType;
    this.lists.move(node, freeHead);
  }

  /** __bpf_lru_node_move_in: from a local list onto l's list `tgtType`, ref cleared. */
  private moveIn(l: number, node: number, tgtType: number): void {
    this.countInc(l, tgtType);
    this.b[node + BPF_LRU_NODE_OFF.type] = tgtType;
    this.b[node + BPF_LRU_NODE_OFF.ref] = 0;
    this.lists.move(node, l + tgtType * HEAD_SIZE);
  }

  /** __bpf_lru_node_move: between or within l's lists, onto the front of `tgtType`, ref cleared. */
  private move(l: number, node: number, tgtType: number): void {
    const type = this.b[node + BPF_LRU_NODE_OFF.type];
    if (type !== tgtType) {
      this.countDec(l, type);
      this.countInc(l, tgtType);
      this.b[node + BPF_LRU_NODE_OFF.type] = tgtType;
    }
    this.b[node + BPF_LRU_NODE_OFF.ref] = 0;
    this.skipRotationPast(l, node);
    this.lists.move(node, l + tgtType * HEAD_SIZE);
  }

  /** __bpf_lru_list_rotate_active: from the ACTIVE tail, referenced to ACTIVE, others to INACTIVE. */
  private rotateActive(l: number): void {
    const active = l + ACTIVE * HEAD_SIZE;
    const first = this.lists.next(active, active);
    let i = 0;
    for (let node = this.lists.prev(active, active); node !== active; ) {
      const older = this.lists.prev(node, active);
      this.move(l, node, this.b[node + BPF_LRU_NODE_OFF.ref] !== 0 ? ACTIVE : INACTIVE);
      if (++i === this.nrScans || node === first) break;
      node = older;
    }
  }

  /**
   * __bpf_lru_list_rotate_inactive: from next_inactive_rotation towards the
   * head, wrapping once, referenced nodes to ACTIVE; resumes where it stopped.
   */
  private rotateInactive(l: number): void {
    const inactive = l + INACTIVE * HEAD_SIZE;
    if (this.lists.empty(inactive)) return;
    const nir = (l + BPF_LRU_LIST_OFF.next_inactive_rotation) >> 2;
    let last = this.lists.next(this.w[nir] >>> 0, inactive);
    if (last === inactive) last = this.lists.next(last, inactive);
    let cur = this.w[nir];
    let next = inactive;
    let i = 0;
    while (i < this.nrScans) {
      if (cur === inactive) {
        cur = this.lists.prev(cur, inactive);
        continue;
      }
      next = this.lists.prev(cur, inactive);
      if (this.b[cur + BPF_LRU_NODE_OFF.ref] !== 0) this.move(l, cur, ACTIVE);
      if (cur === last) break;
      cur = next;
      i++;
    }
    this.w[nir] = next;
  }

  /** __bpf_lru_list_rotate: ACTIVE when INACTIVE is the smaller, INACTIVE always. */
  private rotate(l: number): void {
    const counts = (l + BPF_LRU_LIST_OFF.counts) >> 2;
    if (this.w[counts + INACTIVE] < this.w[counts + ACTIVE]) this.rotateActive(l);
    this.rotateInactive(l);
  }

  /**
   * __bpf_lru_list_shrink_inactive: from the INACTIVE tail, referenced nodes
   * to ACTIVE, unreferenced ones the hash table gives up onto `freeHead`.
   */
  private shrinkInactive(
    l: number,
    tgtNshrink: number,
    freeHead: number,
    tgtFreeType: number,
    cpu: number,
  ): number {
    const inactive = l + INACTIVE * HEAD_SIZE;
    let nshrinked = 0;
    let i = 0;
    for (let node = this.lists.prev(inactive, inactive); node !== inactive; ) {
      const older = this.lists.prev(node, inactive);
      if (this.b[node + BPF_LRU_NODE_OFF.ref] !== 0) {
        this.move(l, node, ACTIVE);
      } else if (this.del(node, cpu)) {
        this.moveToFree(l, node, freeHead, tgtFreeType);
        if (++nshrinked === tgtNshrink) break;
      }
      if (++i === this.nrScans) break;
      node = older;
    }
    return nshrinked;
  }

  /**
   * __bpf_lru_list_shrink: shrinkInactive, else evict one node ignoring the
   * ref bit, from the INACTIVE tail or, when INACTIVE is empty, the ACTIVE tail.
   */
  private shrink(
    l: number,
    tgtNshrink: number,
    freeHead: number,
    tgtFreeType: number,
    cpu: number,
  ): number {
    const nshrinked = this.shrinkInactive(l, tgtNshrink, freeHead, tgtFreeType, cpu);
    if (nshrinked !== 0) return nshrinked;
    const inactive = l + INACTIVE * HEAD_SIZE;
    const force = !this.lists.empty(inactive) ? inactive : l + ACTIVE * HEAD_SIZE;
    for (let node = this.lists.prev(force, force), n = 0; node !== force; ) {
      this.lists.bound(++n, force);
      const older = this.lists.prev(node, force);
      if (this.del(node, cpu)) {
        this.moveToFree(l, node, freeHead, tgtFreeType);
        return 1;
      }
      node = older;
    }
    return 0;
  }

  // ---- common LRU ------------------------------------------------------------------

  /** __local_list_flush: the pending nodes, oldest first, onto l's ACTIVE (ref) or INACTIVE. */
  private localListFlush(l: number, loc: number): void {
    const pending = loc + LOC_PENDING_HEAD;
    for (let node = this.lists.prev(pending, pending), n = 0; node !== pending; ) {
      this.lists.bound(++n, pending);
      const older = this.lists.prev(node, pending);
      this.moveIn(l, node, this.b[node + BPF_LRU_NODE_OFF.ref] !== 0 ? ACTIVE : INACTIVE);
      node = older;
    }
  }

  /** bpf_lru_list_push_free: onto l's FREE list, under l's lock. */
  private listPushFree(l: number, lock: RawSpinlock, node: number, cpu: number): void {
    const type = this.b[node + BPF_LRU_NODE_OFF.type];
    if (type >= BPF_LOCAL_LIST_T_OFFSET) throw this.badFree(node, type);
    lock.lock(cpu);
    this.move(l, node, FREE);
    lock.unlock(cpu);
  }

  /**
   * bpf_lru_list_pop_free_to_local: refills `loc`'s free list from the global
   * list under the global lock. Caller holds `loc`'s lock.
   */
  private popFreeToLocal(loc: number, cpu: number): void {
    const l = this.listOf[cpu];
    const lock = this.listLock[cpu];
    const localFree = loc + LOC_FREE_HEAD;
    const targetFree = this.targetFree;
    lock.lock(cpu);
    try {
      this.localListFlush(l, loc);
      this.rotate(l);
      const free = l + FREE * HEAD_SIZE;
      let nfree = 0;
      for (let node = this.lists.next(free, free); node !== free; ) {
        const newer = this.lists.next(node, free);
        this.moveToFree(l, node, localFree, LOCAL_FREE);
        if (++nfree === targetFree) break;
        node = newer;
      }
      if (nfree < targetFree) this.shrink(l, targetFree - nfree, localFree, LOCAL_FREE, cpu);
    } finally {
      lock.unlock(cpu);
    }
  }

  /** __local_list_add_pending: `node` becomes `cpu`'s pending node for `hash`. Caller holds `loc`'s lock. */
  private localAddPending(loc: number, cpu: number, node: number, hash: number): void {
    this.w[(node + this.hashOffset) >> 2] = hash;
    this.h[(node + BPF_LRU_NODE_OFF.cpu) >> 1] = cpu;
    this.b[node + BPF_LRU_NODE_OFF.type] = LOCAL_PENDING;
    this.b[node + BPF_LRU_NODE_OFF.ref] = 0;
    this.lists.add(node, loc + LOC_PENDING_HEAD);
  }

  /** __local_list_pop_free: the first node of `loc`'s free list, unlinked, or 0. */
  private localPopFree(loc: number): number {
    const head = loc + LOC_FREE_HEAD;
    const node = this.lists.first(head);
    if (node !== 0) this.lists.del(node);
    return node;
  }

  /**
   * __local_list_pop_pending: the oldest pending node the hash table gives
   * up, unreferenced ones first, unlinked; or 0.
   */
  private localPopPending(loc: number, cpu: number): number {
    const pending = loc + LOC_PENDING_HEAD;
    for (let force = 0; force < 2; force++) {
      let n = 0;
      for (let node = this.lists.prev(pending, pending); node !== pending; ) {
        this.lists.bound(++n, pending);
        if ((force === 1 || this.b[node + BPF_LRU_NODE_OFF.ref] === 0) && this.del(node, cpu)) {
          this.lists.del(node);
          return node;
        }
        node = this.lists.prev(node, pending);
      }
    }
    return 0;
  }

  /** bpf_common_lru_pop_free. */
  private commonPopFree(cpu: number, hash: number): number {
    const loc = this.localOf[cpu];
    const locLock = this.localLock[cpu];
    let node: number;
    locLock.lock(cpu);
    try {
      node = this.localPopFree(loc);
      if (node === 0) {
        this.popFreeToLocal(loc, cpu);
        node = this.localPopFree(loc);
      }
      if (node !== 0) this.localAddPending(loc, cpu, node, hash);
    } finally {
      locLock.unlock(cpu);
    }
    if (node !== 0) return node;

    const nextSteal = (loc + BPF_LRU_LOCALLIST_OFF.next_steal) >> 1;
    const firstSteal = this.h[nextSteal];
    let steal = firstSteal;
    do {
      const stealLoc = this.localOf[steal];
      const stealLock = this.localLock[steal];
      stealLock.lock(cpu);
      try {
        node = this.localPopFree(stealLoc);
        if (node === 0) node = this.localPopPending(stealLoc, cpu);
      } finally {
        stealLock.unlock(cpu);
      }
      steal = steal + 1 === this.nrCpus ? 0 : steal + 1;
    } while (node === 0 && steal !== firstSteal);
    this.h[nextSteal] = steal;

    if (node !== 0) {
      locLock.lock(cpu);
      this.localAddPending(loc, cpu, node, hash);
      locLock.unlock(cpu);
    }
    return node;
  }

  /** bpf_common_lru_push_free. */
  private commonPushFree(node: number, cpu: number): void {
    const type = this.b[node + BPF_LRU_NODE_OFF.type];
    if (type === FREE || type === LOCAL_FREE) throw this.badFree(node, type);
    if (type === LOCAL_PENDING) {
      const owner = this.h[(node + BPF_LRU_NODE_OFF.cpu) >> 1];
      const lock = this.localLock[owner];
      lock.lock(cpu);
      if (this.b[node + BPF_LRU_NODE_OFF.type] === LOCAL_PENDING) {
        this.b[node + BPF_LRU_NODE_OFF.type] = LOCAL_FREE;
        this.b[node + BPF_LRU_NODE_OFF.ref] = 0;
        this.lists.move(node, this.localOf[owner] + LOC_FREE_HEAD);
        lock.unlock(cpu);
        return;
      }
      lock.unlock(cpu);
    }
    this.listPushFree(this.listOf[0], this.listLock[0], node, cpu);
  }

  // ---- per-CPU LRU -----------------------------------------------------------------

  /** bpf_percpu_lru_pop_free: from `cpu`'s own list only. */
  private percpuPopFree(cpu: number, hash: number): number {
    const l = this.listOf[cpu];
    const lock = this.listLock[cpu];
    const free = l + FREE * HEAD_SIZE;
    let node = 0;
    lock.lock(cpu);
    try {
      this.rotate(l);
      if (this.lists.empty(free)) this.shrink(l, PERCPU_FREE_TARGET, free, FREE, cpu);
      if (!this.lists.empty(free)) {
        node = this.lists.first(free);
        this.w[(node + this.hashOffset) >> 2] = hash;
        this.b[node + BPF_LRU_NODE_OFF.ref] = 0;
        this.move(l, node, INACTIVE);
      }
    } finally {
      lock.unlock(cpu);
    }
    return node;
  }

  /** bpf_percpu_lru_push_free: back onto the owner CPU's FREE list. */
  private percpuPushFree(node: number, cpu: number): void {
    const owner = this.h[(node + BPF_LRU_NODE_OFF.cpu) >> 1];
    const lock = this.listLock[owner];
    lock.lock(cpu);
    this.move(this.listOf[owner], node, FREE);
    lock.unlock(cpu);
  }

  // ---- API ---------------------------------------------------------------------------

  /**
   * bpf_lru_pop_free on CPU `cpu` (raw_smp_processor_id of the caller): a
   * free node for a new element with hash `hash`, evicting old elements
   * through `delFromHtab` when needed; 0 when none can be had. Common LRU:
   * the node is now pending on `cpu`. Per-CPU LRU: it is on `cpu`'s
   * INACTIVE list. Either way its ref bit is clear and the hash is written
   * at `node + hashOffset`. Takes the LRU locks; allocates nothing.
   *
   * @example
   * const node = lru.popFree(cpu, hash);
   * if (node === 0) return -ERRNO.ENOMEM; // what htab_lru_map_update_elem returns
   */
  popFree(cpu: number, hash: number): number {
    if (cpu >>> 0 >= this.nrCpus || cpu !== (cpu | 0)) this.checkCpu(cpu);
    return this.percpu ? this.percpuPopFree(cpu, hash) : this.commonPopFree(cpu, hash);
  }

  /**
   * bpf_lru_push_free: gives back the node of an element removed from the
   * hash table, from CPU `cpu`. Common LRU: a pending node goes to its owner
   * CPU's local free list, any other to the global FREE list. Per-CPU LRU:
   * to its owner's FREE list. `cpu` only names the lock holder. Pushing a
   * free node is the kernel's WARN_ON_ONCE: EINVAL here. Takes the LRU
   * locks; allocates nothing.
   *
   * @example
   * lru.pushFree(elem + nodeOffset, cpu); // after unlinking elem from its bucket
   */
  pushFree(node: number, cpu: number): void {
    if (this.percpu) this.percpuPushFree(node, cpu);
    else this.commonPushFree(node, cpu);
  }

  /**
   * bpf_lru_node_set_ref: marks the node referenced (a program's lookup).
   * No lock.
   *
   * @example
   * lru.setRef(elem + nodeOffset);
   */
  setRef(node: number): void {
    if (this.b[node + BPF_LRU_NODE_OFF.ref] === 0) this.b[node + BPF_LRU_NODE_OFF.ref] = 1;
  }

  /**
   * bpf_lru_populate: threads the nodes at `buf + nodeOffset + i *
   * elemSize` (i < nrElems) onto the FREE lists. Common LRU: all on the
   * global FREE list, and `target_free = clamp(nrElems / nrCpus / 2, 1,
   * LOCAL_FREE_TARGET)`. Per-CPU LRU: nrElems / nrCpus consecutive elements
   * per CPU, CPU 0 first, each node's `cpu` set; nrElems must be a positive
   * multiple of nrCpus (the hash table rounds max_entries up to one). No
   * lock: map creation only.
   *
   * @example
   * lru.populate(elems, 8, 32, maxEntries);
   */
  populate(buf: number, nodeOffset: number, elemSize: number, nrElems: number): void {
    this.checkPopulate(buf, nodeOffset, elemSize, nrElems);
    if (this.percpu) {
      const pcpuEntries = nrElems / this.nrCpus;
      let node = buf + nodeOffset;
      for (let cpu = 0; cpu < this.nrCpus; cpu++) {
        const free = this.listOf[cpu] + FREE * HEAD_SIZE;
        for (let k = 0; k < pcpuEntries; k++, node += elemSize) {
          this.h[(node + BPF_LRU_NODE_OFF.cpu) >> 1] = cpu;
          this.b[node + BPF_LRU_NODE_OFF.type] = FREE;
          this.b[node + BPF_LRU_NODE_OFF.ref] = 0;
          this.lists.add(node, free);
        }
      }
      return;
    }
    const free = this.listOf[0] + FREE * HEAD_SIZE;
    for (let i = 0, node = buf + nodeOffset; i < nrElems; i++, node += elemSize) {
      this.b[node + BPF_LRU_NODE_OFF.type] = FREE;
      this.b[node + BPF_LRU_NODE_OFF.ref] = 0;
      this.lists.add(node, free);
    }
    const target = Math.floor(Math.floor(nrElems / this.nrCpus) / 2);
    this.w[(this.addr + BPF_LRU_OFF.target_free) >> 2] = Math.min(
      Math.max(target, 1),
      LOCAL_FREE_TARGET,
    );
  }

  /**
   * bpf_lru_destroy: frees the per-CPU part (the elements are the hash
   * table's). The handle is unusable afterwards.
   *
   * @example
   * lru.destroy();
   */
  destroy(): void {
    this.host.percpu.free(this.pcpuPtr);
  }

  // ---- inspection (reports, tests; reads through checked accessors) -----------------

  /**
   * The address of the `bpf_lru_list` that CPU `cpu` pops from: the global
   * one (common LRU, any `cpu`) or `cpu`'s own.
   *
   * @example
   * lru.lruListAddr(0) === lru.addr; // common LRU
   */
  lruListAddr(cpu = 0): number {
    this.checkCpu(cpu);
    return this.listOf[cpu];
  }

  /**
   * The address of CPU `cpu`'s `bpf_lru_locallist` (common LRU only).
   *
   * @example
   * lru.localListAddr(1);
   */
  localListAddr(cpu: number): number {
    this.checkCpu(cpu);
    if (this.percpu) {
      throw new ErrnoError('EINVAL', 'a BPF_F_NO_COMMON_LRU LRU has no local lists');
    }
    return this.localOf[cpu];
  }

  /**
   * The nodes on a list, head (newest) to tail (oldest): ACTIVE, INACTIVE or
   * FREE of the list CPU `cpu` pops from (see lruListAddr), or LOCAL_FREE or
   * LOCAL_PENDING of `cpu`'s local lists. Allocates; not for hot paths.
   *
   * @example
   * lru.listNodes(BPF_LRU_LIST_T.LOCAL_PENDING, 2); // CPU 2's pending nodes
   */
  listNodes(type: BpfLruListType, cpu = 0): number[] {
    const head =
      type >= BPF_LOCAL_LIST_T_OFFSET
        ? this.localListAddr(cpu) + (type - BPF_LOCAL_LIST_T_OFFSET) * HEAD_SIZE
        : this.lruListAddr(cpu) + type * HEAD_SIZE;
    return this.lists.entries(head);
  }

  /**
   * `counts[type]` of the list CPU `cpu` pops from (ACTIVE or INACTIVE).
   *
   * @example
   * lru.count(BPF_LRU_LIST_T.INACTIVE);
   */
  count(type: typeof BPF_LRU_LIST_T.ACTIVE | typeof BPF_LRU_LIST_T.INACTIVE, cpu = 0): number {
    return this.memory.read32(this.lruListAddr(cpu) + BPF_LRU_LIST_OFF.counts + 4 * type);
  }

  /**
   * Where the next inactive rotation of CPU `cpu`'s list starts: a node, or
   * 0 for the INACTIVE list head (start at the tail).
   *
   * @example
   * lru.nextInactiveRotation(); // 0 after init
   */
  nextInactiveRotation(cpu = 0): number {
    const l = this.lruListAddr(cpu);
    const at = this.memory.read32(l + BPF_LRU_LIST_OFF.next_inactive_rotation);
    return at === l + INACTIVE * HEAD_SIZE ? 0 : at;
  }

  /**
   * CPU `cpu`'s `next_steal`: where its next steal starts (common LRU).
   *
   * @example
   * lru.nextSteal(1); // 1 after init
   */
  nextSteal(cpu: number): number {
    return this.memory.read16(this.localListAddr(cpu) + BPF_LRU_LOCALLIST_OFF.next_steal);
  }

  /**
   * The lock guarding the list CPU `cpu` pops from (common: the global
   * lock) or, with `local`, CPU `cpu`'s local-list lock.
   *
   * @example
   * lru.lock(0).locked; // false between operations
   */
  lock(cpu = 0, local = false): RawSpinlock {
    if (local) this.localListAddr(cpu);
    else this.checkCpu(cpu);
    return local ? this.localLock[cpu] : this.listLock[cpu];
  }

  // ---- rare paths ------------------------------------------------------------------

  /** bpf_lru_list_init: empty lists, zero counts, rotation at the INACTIVE head, lock free. */
  private listInit(l: number): void {
    for (let t = 0; t < NR_BPF_LRU_LIST_T; t++) this.lists.init(l + t * HEAD_SIZE);
    for (let t = 0; t < NR_BPF_LRU_LIST_COUNT; t++)
      this.w[((l + BPF_LRU_LIST_OFF.counts) >> 2) + t] = 0;
    this.w[(l + BPF_LRU_LIST_OFF.next_inactive_rotation) >> 2] = l + INACTIVE * HEAD_SIZE;
    RawSpinlock.init(this.memory, l + BPF_LRU_LIST_OFF.lock);
  }

  /** bpf_lru_locallist_init: empty lists, next_steal = cpu, lock free. */
  private locallistInit(loc: number, cpu: number): void {
    for (let t = 0; t < NR_BPF_LRU_LOCAL_LIST_T; t++) this.lists.init(loc + t * HEAD_SIZE);
    this.h[(loc + BPF_LRU_LOCALLIST_OFF.next_steal) >> 1] = cpu;
    RawSpinlock.init(this.memory, loc + BPF_LRU_LOCALLIST_OFF.lock);
  }

  private checkPopulate(buf: number, nodeOffset: number, elemSize: number, nrElems: number): void {
    const ints: [string, number][] = [
      ['buffer', buf],
      ['node offset', nodeOffset],
      ['element size', elemSize],
      ['element count', nrElems],
    ];
    for (const [what, v] of ints) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new ErrnoError('EINVAL', `${what} ${v} is not a non-negative integer`);
      }
    }
    if ((buf + nodeOffset) % 4 !== 0 || elemSize % 4 !== 0) {
      throw new ErrnoError(
        'EINVAL',
        `nodes at 0x${(buf + nodeOffset).toString(16)} every ${elemSize} bytes are not 4-aligned`,
      );
    }
    if (nodeOffset + bpfLruNodeType.size > elemSize) {
      throw new ErrnoError(
        'EINVAL',
        `a node at offset ${nodeOffset} does not fit in an element of ${elemSize} bytes`,
      );
    }
    if (this.percpu && (nrElems === 0 || nrElems % this.nrCpus !== 0)) {
      throw new ErrnoError(
        'EINVAL',
        `${nrElems} elements do not spread evenly over ${this.nrCpus} CPUs (BPF_F_NO_COMMON_LRU)`,
      );
    }
    if (nrElems === 0) return;
    this.memory.check(buf, elemSize * nrElems, 'write');
    const first = buf + nodeOffset;
    const last = first + (nrElems - 1) * elemSize;
    this.memory.check(first + this.hashOffset, 4, 'write');
    this.memory.check(last + this.hashOffset, 4, 'write');
  }

  private checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.nrCpus) {
      throw new ErrnoError('EINVAL', `CPU ${cpu} is not between 0 and ${this.nrCpus - 1}`);
    }
  }

  private badFree(node: number, type: number): ErrnoError {
    return new ErrnoError(
      'EINVAL',
      `bpf_lru_push_free of node 0x${node.toString(16)}, which is on ${lruListTypeName(type)}`,
    );
  }
}
