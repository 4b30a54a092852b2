/**
 * The map types and their constructors: for each `enum bpf_map_type` this
 * emulator implements, the type's alloc_check and alloc (the kernel's
 * `bpf_map_ops.map_alloc_check` and `map_alloc`), and whether its values
 * may hold a `bpf_spin_lock` (map_check_btf).
 *
 * @example
 * MAP_TYPES.get(BPF_MAP_TYPE.ARRAY)?.create(m, attr, id);
 */

import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import { ArrayMap } from './array-map.ts';
import type { BpfMap, BpfMapAttr } from './bpf-map.ts';
import { BPF_MAP_TYPE } from './bpf-uapi.ts';
import { HashMap } from './hash-map.ts';
import { LruHashMap } from './lru-hash-map.ts';
import type { MapMemory } from './map-memory.ts';
import { ProgArrayMap } from './prog-array-map.ts';
import { QueueStackMap } from './queue-stack-map.ts';
import { RingbufMap } from './ringbuf-map.ts';

export interface MapTypeOps {
  /** Throws an ErrnoError (EINVAL, E2BIG, ENOTSUPP, ...) for attributes the type refuses. */
  allocCheck(attr: BpfMapAttr, m: MapMemory): void;
  /**
   * Allocates the map in emulated memory; throws ENOMEM when it does not
   * fit. Types of the layers above (cpumap and devmap in nic/) use more of
   * the kernel than its memory.
   */
  create(k: Kernel, attr: BpfMapAttr, id: number): BpfMap;
  /** Values may contain a bpf_spin_lock (BPF_F_LOCK). */
  spinLock?: boolean;
}

export const MAP_TYPES = new Map<number, MapTypeOps>([
  [
    BPF_MAP_TYPE.ARRAY,
    { allocCheck: ArrayMap.allocCheck, create: ArrayMap.create, spinLock: true },
  ],
  [BPF_MAP_TYPE.PERCPU_ARRAY, { allocCheck: ArrayMap.allocCheck, create: ArrayMap.create }],
  [BPF_MAP_TYPE.PROG_ARRAY, { allocCheck: ProgArrayMap.allocCheck, create: ProgArrayMap.create }],
  [BPF_MAP_TYPE.HASH, { allocCheck: HashMap.allocCheck, create: HashMap.create, spinLock: true }],
  [BPF_MAP_TYPE.PERCPU_HASH, { allocCheck: HashMap.allocCheck, create: HashMap.create }],
  [BPF_MAP_TYPE.LRU_HASH, { allocCheck: HashMap.allocCheck, create: LruHashMap.create }],
  [BPF_MAP_TYPE.LRU_PERCPU_HASH, { allocCheck: HashMap.allocCheck, create: LruHashMap.create }],
  [BPF_MAP_TYPE.QUEUE, { allocCheck: QueueStackMap.allocCheck, create: QueueStackMap.create }],
  [BPF_MAP_TYPE.STACK, { allocCheck: QueueStackMap.allocCheck, create: QueueStackMap.create }],
  [BPF_MAP_TYPE.RINGBUF, { allocCheck: RingbufMap.allocCheck, create: RingbufMap.create }],
]);

/**
 * Adds a map type implemented by a layer above maps/ (BPF_MAP_TYPE_CPUMAP,
 * DEVMAP and DEVMAP_HASH live with the network stack, in nic/): the module
 * that implements it registers it when it is imported. EEXIST for a type
 * already known.
 *
 * @example
 * registerMapType(BPF_MAP_TYPE.CPUMAP, { allocCheck: CpuMap.allocCheck, create: CpuMap.create });
 */
export function registerMapType(type: number, ops: MapTypeOps): void {
  if (MAP_TYPES.has(type)) throw new ErrnoError('EEXIST', `map type ${type} is registered already`);
  MAP_TYPES.set(type, ops);
}
