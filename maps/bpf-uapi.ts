/**
 * The numbers of the BPF map uapi (include/uapi/linux/bpf.h) that maps and
 * their users share: map types, map_flags at creation, and the flags of
 * update and lookup.
 *
 * @example
 * BPF_MAP_TYPE.PERCPU_ARRAY; // 6
 * mapTypeName(6);            // 'BPF_MAP_TYPE_PERCPU_ARRAY'
 */

/** `enum bpf_map_type`: the types this emulator implements, by their kernel numbers. */
export const BPF_MAP_TYPE = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  CPUMAP: 16,
  QUEUE: 22,
  STACK: 23,
  DEVMAP_HASH: 25,
  RINGBUF: 27,
} as const;

export type BpfMapTypeName = keyof typeof BPF_MAP_TYPE;
export type BpfMapType = (typeof BPF_MAP_TYPE)[BpfMapTypeName];

/** `BPF_MAP_TYPE_<NAME>` for a type number, or `type <n>` for one we do not know. */
export function mapTypeName(type: number): string {
  for (const [name, n] of Object.entries(BPF_MAP_TYPE))
    if (n === type) return `BPF_MAP_TYPE_${name}`;
  return `type ${type}`;
}

/** map_flags of BPF_MAP_CREATE. */
export const BPF_F_NO_PREALLOC = 1 << 0;
export const BPF_F_NO_COMMON_LRU = 1 << 1;
export const BPF_F_NUMA_NODE = 1 << 2;
export const BPF_F_RDONLY = 1 << 3;
export const BPF_F_WRONLY = 1 << 4;
export const BPF_F_ZERO_SEED = 1 << 6;
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_WRONLY_PROG = 1 << 8;
export const BPF_F_MMAPABLE = 1 << 10;
export const BPF_F_PRESERVE_ELEMS = 1 << 11;
export const BPF_F_INNER_MAP = 1 << 12;

/** The access flags every map type accepts (bpf_map_flags_access_ok). */
export const BPF_F_ACCESS_MASK =
  BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;

/** Flags of map_update_elem. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;

/** BPF_OBJ_NAME_LEN: a map name is at most 15 characters. */
export const BPF_OBJ_NAME_LEN = 16;
