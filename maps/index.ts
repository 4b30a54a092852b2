/**
 * The maps layer's public surface: creating maps and using them from
 * scenario scripts (libbpf-shaped handles, typed views, the ring buffer
 * consumer, the perf buffer reader), the uapi numbers, and the map types for those who look inside.
 *
 * @example
 * import { BPF_NOEXIST, bpfMapCreate, typedPercpuMap } from '../maps/index.ts';
 */

export { ArrayMap } from './array-map.ts';
export { ArrayOfMapsMap } from './array-of-maps.ts';
export type { BatchArgs, BatchResult } from './batch.ts';
export { BpfMap, type BpfMapAttr } from './bpf-map.ts';
export * from './bpf-uapi.ts';
export { HashMap } from './hash-map.ts';
export { HashOfMapsMap } from './hash-of-maps.ts';
export { LruHashMap } from './lru-hash-map.ts';
export type { MapMemory } from './map-memory.ts';
export { BpfMapMmap, type MmapOptions } from './map-mmap.ts';
export { bpfMapOf, mapAt } from './map-table.ts';
export { PerfBuffer, type PerfBufferCallbacks } from './perf-buffer.ts';
export { BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK, PerfEventArrayMap } from './perf-event-array-map.ts';
export { MAX_TAIL_CALL_CNT, ProgArrayMap } from './prog-array-map.ts';
export { QueueStackMap } from './queue-stack-map.ts';
export { type RingBufferSampleFn, ringBufferAvailData, ringBufferConsume } from './ring-buffer.ts';
export { RingbufMap } from './ringbuf-map.ts';
export {
  type BpfMapCreateOpts,
  BpfMapHandle,
  bpfMapByFd,
  bpfMapByName,
  bpfMapCreate,
  bpfMapGetFdById,
} from './syscall.ts';
export { TypedMap, TypedPercpuMap, typedMap, typedPercpuMap } from './typed-map.ts';
