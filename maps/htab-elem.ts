/**
 * The memory layout of the hash maps (kernel/bpf/hashtab.c), with guest
 * pointers of 32 bits:
 *
 *     struct bucket {                       // 16 bytes, as the kernel's
 *       struct hlist_nulls_head head;       // u32 first: an element, or the nulls marker
 *       u32 __pad;
 *       struct raw_spinlock raw_lock;       // segments/raw-spinlock.ts
 *     };
 *     struct htab_elem {
 *       union {
 *         struct hlist_nulls_node hash_node;               // u32 next; u32 pprev
 *         struct { u32 padding; union { struct pcpu_freelist_node fnode; u32 batch_flink; }; };
 *       };
 *       union { u32 ptr_to_pptr; struct bpf_lru_node lru_node; };   // 12 bytes
 *       u32 hash;
 *       char key[] __aligned(8);            // then the value at round_up(key_size, 8),
 *     };                                    // or for per-CPU maps its per-CPU pointer (8 bytes)
 *     struct bpf_htab {
 *       struct bpf_map map;
 *       u32 buckets, elems, freelist, extra_elems, count, n_buckets, elem_size, hashrnd;
 *       struct bpf_lru lru;                 // LRU maps only, 64-aligned
 *     };
 *
 * As in the kernel, a free-list node's `next` is the hash node's `pprev`, so
 * a deleted element keeps its `next` link until it is reused: a walk that
 * stood on it (get_next_key, for_each) can still move on.
 *
 * A bucket list ends in a "nulls" marker, `(bucket index << 1) | 1`, instead
 * of 0 (include/linux/list_nulls.h); element addresses are 8-aligned, so
 * bit 0 tells a marker from an element.
 *
 * @example
 * htabElemSize(8, 8, false); // 24 + 8 + 8 = 40 bytes
 */

import { alignUp, array, struct, u32, u64 } from '../segments/ctype.ts';
import { rawSpinlockType } from '../segments/raw-spinlock.ts';
import { bpfLruNodeType } from './bpf-lru-node.ts';
import { bpfMapHeader } from './bpf-map.ts';

/** `struct bucket`. */
export const bucketType = struct('bucket', [
  ['head', u32],
  ['__pad', u32],
  ['raw_lock', rawSpinlockType],
]);

/** `struct bpf_htab` without its LRU (which follows at HTAB_LRU_OFF in LRU maps). */
export const bpfHtabType = struct('bpf_htab', [
  ['map', bpfMapHeader],
  ['buckets', u32],
  ['elems', u32],
  /** Per-CPU pointer of the pcpu_freelist heads (preallocated, non-LRU). */
  ['freelist', u32],
  /** Per-CPU pointer of each CPU's spare element (preallocated HASH). */
  ['extra_elems', u32],
  /** Elements in a BPF_F_NO_PREALLOC map (atomic_t count). */
  ['count', u32],
  ['n_buckets', u32],
  ['elem_size', u32],
  ['hashrnd', u32],
]);

/** Where `struct bpf_lru` sits in an LRU map's `bpf_htab` (a cache line of its own). */
export const HTAB_LRU_OFF = alignUp(bpfHtabType.size, 64);

/**
 * `struct htab_elem` in its hash-list view. The kernel's unions share these
 * words: a free-list node (`fnode`, whose `next` is its first word) and
 * `batch_flink` are at `pprev`, `ptr_to_pptr` is at `lru_node`; users name
 * the member they mean beside `HTAB_ELEM_OFF.pprev` / `.lru_node`.
 */
export const htabElemType = struct('htab_elem', [
  ['next', u32],
  ['pprev', u32],
  ['lru_node', bpfLruNodeType],
  ['hash', u32],
  /** `char key[] __aligned(8)`; the value follows at round_up(key_size, 8). */
  ['key', array(u64, 0)],
]);
const HTAB_ELEM_OFF = htabElemType.off;

/** Offsets in `struct bucket`. */
export const BUCKET_SIZE = bucketType.size;

/** LIST_POISON2 (without POISON_POINTER_DELTA): what hlist_nulls_del_rcu leaves in pprev. */
export const LIST_POISON2 = 0x122;

/** The nulls marker ending bucket `index`'s list. */
export const nullsMarker = (index: number): number => ((index << 1) | 1) >>> 0;

/** is_a_nulls: true for a list end rather than an element. */
export const isNulls = (ptr: number): boolean => (ptr & 1) === 1;

/** get_nulls_value: the bucket index a nulls marker names. */
export const nullsValue = (ptr: number): number => ptr >>> 1;

/**
 * elem_size: the header, the key rounded up to 8, then the value rounded up
 * to 8 or, for per-CPU maps, a pointer slot of 8.
 *
 * @example
 * htabElemSize(4, 8, true); // 24 + 8 + 8
 */
export function htabElemSize(keySize: number, valueSize: number, percpu: boolean): number {
  return HTAB_ELEM_OFF.key + alignUp(keySize, 8) + (percpu ? 8 : alignUp(valueSize, 8));
}
