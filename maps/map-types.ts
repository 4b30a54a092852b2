/**
 * The map types and their constructors: for each `enum bpf_map_type` this
 * emulator implements, the type's alloc_check and alloc (the kernel's
 * `bpf_map_ops.map_alloc_check` and `map_alloc`), and whether its values
 * may hold a `bpf_spin_lock` (map_check_btf).
 *
 * maps/' own types are in MAP_TYPES. Types implemented by a layer above
 * (CPUMAP, DEVMAP and DEVMAP_HASH, with the network stack in nic/) are
 * registered on a kernel by that layer when it sets itself up there
 * (`registerMapType(k, ...)`), and live in the kernel's `ext.mapTypes`
 * slot: a kernel without a network stack has no CPUMAP, whatever was
 * imported.
 *
 * @example
 * mapTypeOps(k, BPF_MAP_TYPE.ARRAY)?.create(k, attr, id);
 */

import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import { ArrayMap } from './array-map.ts';
import { ArrayOfMapsMap } from './array-of-maps.ts';
import type { BpfMap, BpfMapAttr } from './bpf-map.ts';
import { BPF_MAP_TYPE, mapTypeName } from './bpf-uapi.ts';
import { HashMap } from './hash-map.ts';
import { HashOfMapsMap } from './hash-of-maps.ts';
import { LruHashMap } from './lru-hash-map.ts';
import type { MapMemory } from './map-memory.ts';
import { PerfEventArrayMap } from './perf-event-array-map.ts';
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
  [
    BPF_MAP_TYPE.PERF_EVENT_ARRAY,
    { allocCheck: PerfEventArrayMap.allocCheck, create: PerfEventArrayMap.create },
  ],
  [BPF_MAP_TYPE.HASH, { allocCheck: HashMap.allocCheck, create: HashMap.create, spinLock: true }],
  [BPF_MAP_TYPE.PERCPU_HASH, { allocCheck: HashMap.allocCheck, create: HashMap.create }],
  [BPF_MAP_TYPE.LRU_HASH, { allocCheck: HashMap.allocCheck, create: LruHashMap.create }],
  [BPF_MAP_TYPE.LRU_PERCPU_HASH, { allocCheck: HashMap.allocCheck, create: LruHashMap.create }],
  [BPF_MAP_TYPE.QUEUE, { allocCheck: QueueStackMap.allocCheck, create: QueueStackMap.create }],
  [BPF_MAP_TYPE.STACK, { allocCheck: QueueStackMap.allocCheck, create: QueueStackMap.create }],
  [
    BPF_MAP_TYPE.ARRAY_OF_MAPS,
    { allocCheck: ArrayOfMapsMap.allocCheck, create: ArrayOfMapsMap.create },
  ],
  [
    BPF_MAP_TYPE.HASH_OF_MAPS,
    { allocCheck: HashOfMapsMap.allocCheck, create: HashOfMapsMap.create },
  ],
  [BPF_MAP_TYPE.RINGBUF, { allocCheck: RingbufMap.allocCheck, create: RingbufMap.create }],
]);

declare module '../preempt/kernel.ts' {
  interface KernelExtensions {
    /** Map types registered on this kernel by the layers above (registerMapType). */
    mapTypes?: Map<number, MapTypeOps>;
  }
}

/**
 * The types layers above maps/ implement: known to the loader when it
 * opens an object, creatable on a kernel once their layer registered them.
 */
export const LAYERED_MAP_TYPES: readonly number[] = [
  BPF_MAP_TYPE.CPUMAP,
  BPF_MAP_TYPE.DEVMAP,
  BPF_MAP_TYPE.DEVMAP_HASH,
];

/**
 * Adds a map type implemented by a layer above maps/ to kernel `k`: the
 * layer calls it when it sets itself up on `k` (nic/'s network stack
 * registers CPUMAP, DEVMAP and DEVMAP_HASH). EEXIST for a type `k`
 * already has.
 *
 * @example
 * registerMapType(k, BPF_MAP_TYPE.CPUMAP, { allocCheck: CpuMap.allocCheck, create: CpuMap.create });
 */
export function registerMapType(k: Kernel, type: number, ops: MapTypeOps): void {
  k.ext.mapTypes ??= new Map();
  const types = k.ext.mapTypes;
  if (MAP_TYPES.has(type) || types.has(type)) {
    throw new ErrnoError('EEXIST', `map type ${mapTypeName(type)} is registered already`);
  }
  types.set(type, ops);
}

/** The constructors of map type `type` on kernel `k`, or undefined when `k` has none. */
export function mapTypeOps(k: Kernel, type: number): MapTypeOps | undefined {
  return MAP_TYPES.get(type) ?? k.ext.mapTypes?.get(type);
}

/** True for the map types some layer of this emulator implements (what an object may use). */
export function isImplementedMapType(type: number): boolean {
  return MAP_TYPES.has(type) || LAYERED_MAP_TYPES.includes(type);
}
