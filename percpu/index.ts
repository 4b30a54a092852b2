/**
 * The per-CPU layer's public surface: boot of the per-CPU areas, the
 * dynamic allocator (alloc_percpu/free_percpu) and its statistics, the
 * per-CPU sanitizer and its shadow, the op families, and the typed TS API
 * after the Rust-for-Linux series (guards, PerCpuPtr, StaticPerCpu,
 * DynamicPerCpu, PerCpuToken, CheckedPerCpu).
 *
 * @example
 * import { CpuGuard, StaticPerCpu } from '../percpu/index.ts';
 */

export {
  PCPU_CHUNK_REGION_SIZE,
  PCPU_EMPTY_POP_PAGES_HIGH,
  PCPU_EMPTY_POP_PAGES_LOW,
  PercpuAllocator,
  type PercpuAllocOptions,
} from './allocator.ts';
export { fromBits, readValue, toBits, writeValue } from './c-value.ts';
export {
  type BorrowState,
  CheckedPerCpu,
  PerCpuBorrow,
  PerCpuBorrowMut,
} from './checked-per-cpu.ts';
export { CpuGuard } from './cpu-guard.ts';
export {
  DynamicPerCpu,
  type DynamicPerCpuOptions,
  type PercpuAllocatorApi,
  sanitizedPerCpuPtr,
} from './dynamic-per-cpu.ts';
export * from './first-chunk.ts';
export { currentContext, Guard, type GuardKind } from './guard.ts';
export { IrqGuard } from './irq-guard.ts';
export { MigrateGuard } from './migrate-guard.ts';
export * from './per-cpu-areas.ts';
export { type OnCpu, PerCpuPtr } from './per-cpu-ptr.ts';
export { type ElementOf, PerCpuRef, type RefValidity } from './per-cpu-ref.ts';
export { type ExclusiveGuard, PerCpuToken } from './per-cpu-token.ts';
export { formatPercpuStats, meminfoPercpu, percpuStats } from './percpu-stats.ts';
export type { PreemptionModel } from './preemption-model.ts';
export {
  type AccessKind,
  type AccessOrigin,
  type AllocationRecord,
  type Origin,
  PercpuSanitizer,
  type SanitizableAllocator,
  type SanitizerHost,
  type SanitizerOptions,
  type TaskInfo,
} from './sanitizer.ts';
export {
  type PercpuGeometry,
  type PercpuLocation,
  PercpuShadow,
  percpuGeometry,
  SHADOW_FREED,
  SHADOW_LIVE,
  SHADOW_UNALLOCATED,
} from './shadow.ts';
export { StaticPerCpu } from './static-per-cpu.ts';
export * from './this-cpu-ops.ts';
