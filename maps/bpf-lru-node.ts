/**
 * The LRU node embedded in every element of an LRU hash map
 * (kernel/bpf/bpf_lru_list.h): a list link plus the owning CPU, the list
 * the node is on, and the reference bit that program lookups set.
 *
 *     struct list_head   { u32 next; u32 prev; }              // 8 bytes
 *     struct bpf_lru_node { struct list_head list; u16 cpu; u8 type; u8 ref; }  // 12 bytes
 *
 * Guest pointers are 32-bit here, so a list_head is two u32 (the layout
 * percpu/chunk.ts uses for its chunk lists). `list` is the first field: a
 * node's address is its list link's address, and container_of is the
 * identity.
 *
 * `type` names the list the node is on (`enum bpf_lru_list_type`): ACTIVE,
 * INACTIVE and FREE are the lists of a `bpf_lru_list`; LOCAL_FREE and
 * LOCAL_PENDING those of a CPU's `bpf_lru_locallist` (common LRU only).
 * `cpu` is the CPU whose local pending list the node was added to (common
 * LRU) or whose LRU list owns it (BPF_F_NO_COMMON_LRU).
 *
 * `ref` is an approximation of access frequency, set without any lock
 * (bpf_lru_node_set_ref) and cleared whenever the node moves between lists
 * under the list's lock.
 *
 * @example
 * bpfLruNodeSetRef(memory, node);
 * readLruNodeType(memory, node) === BPF_LRU_LIST_T.INACTIVE;
 */

import { struct, u8, u16 } from '../segments/ctype.ts';
import { listHeadType } from '../segments/list.ts';
import type { PhysicalMemory } from '../segments/memory.ts';

const LIST_HEAD_OFF = listHeadType.off;

/** `enum bpf_lru_list_type`: the list a node is on, by the kernel's numbers. */
export const BPF_LRU_LIST_T = {
  ACTIVE: 0,
  INACTIVE: 1,
  FREE: 2,
  LOCAL_FREE: 3,
  LOCAL_PENDING: 4,
} as const;

export type BpfLruListTypeName = keyof typeof BPF_LRU_LIST_T;
export type BpfLruListType = (typeof BPF_LRU_LIST_T)[BpfLruListTypeName];

/** NR_BPF_LRU_LIST_T: the lists of a `bpf_lru_list` (ACTIVE, INACTIVE, FREE). */
export const NR_BPF_LRU_LIST_T = 3;
/** NR_BPF_LRU_LIST_COUNT: the lists of a `bpf_lru_list` that keep a count (ACTIVE, INACTIVE). */
export const NR_BPF_LRU_LIST_COUNT = 2;
/** NR_BPF_LRU_LOCAL_LIST_T: the lists of a `bpf_lru_locallist` (LOCAL_FREE, LOCAL_PENDING). */
export const NR_BPF_LRU_LOCAL_LIST_T = 2;
/** BPF_LOCAL_LIST_T_OFFSET: the first local list type. */
export const BPF_LOCAL_LIST_T_OFFSET = NR_BPF_LRU_LIST_T;

/** `struct bpf_lru_node`, 12 bytes, 4-aligned. */
export const bpfLruNodeType = struct('bpf_lru_node', [
  ['list', listHeadType],
  ['cpu', u16],
  ['type', u8],
  ['ref', u8],
]);
const BPF_LRU_NODE_OFF = bpfLruNodeType.off;

/** Byte offsets of the node's fields. */
export const LRU_NODE_PREV = BPF_LRU_NODE_OFF.list + LIST_HEAD_OFF.prev;

/** `BPF_LRU_LIST_T_<NAME>` or `BPF_LRU_LOCAL_LIST_T_<NAME>` for a type number. */
export function lruListTypeName(type: number): string {
  for (const [name, n] of Object.entries(BPF_LRU_LIST_T)) {
    if (n === type) {
      return n >= BPF_LOCAL_LIST_T_OFFSET
        ? `BPF_LRU_LOCAL_LIST_T_${name.slice('LOCAL_'.length)}`
        : `BPF_LRU_LIST_T_${name}`;
    }
  }
  return `type ${type}`;
}

/**
 * bpf_lru_node_set_ref: marks the node referenced, writing only when the bit
 * is clear (no lock: the bit is a hint). What a program's lookup on an LRU
 * map does; a syscall lookup does not.
 *
 * @example
 * bpfLruNodeSetRef(memory, elem + nodeOffset);
 */
export function bpfLruNodeSetRef(memory: PhysicalMemory, node: number): void {
  const bytes = memory.u8;
  if (bytes[node + BPF_LRU_NODE_OFF.ref] === 0) bytes[node + BPF_LRU_NODE_OFF.ref] = 1;
}

/**
 * The node's `type`: which list it is on (a {@link BPF_LRU_LIST_T} value).
 *
 * @example
 * readLruNodeType(memory, node); // 2 (FREE) right after populate
 */
export function readLruNodeType(memory: PhysicalMemory, node: number): number {
  return memory.read8(node + BPF_LRU_NODE_OFF.type);
}

/**
 * The node's `cpu`.
 *
 * @example
 * readLruNodeCpu(memory, node); // the CPU that popped it (common LRU)
 */
export function readLruNodeCpu(memory: PhysicalMemory, node: number): number {
  return memory.read16(node + BPF_LRU_NODE_OFF.cpu);
}

/**
 * The node's `ref` bit, 0 or 1.
 *
 * @example
 * readLruNodeRef(memory, node); // 1 after bpfLruNodeSetRef
 */
export function readLruNodeRef(memory: PhysicalMemory, node: number): number {
  return memory.read8(node + BPF_LRU_NODE_OFF.ref);
}
