/**
 * What a map type uses of the kernel: emulated memory and its allocators
 * (alloc_percpu for per-CPU values, kmalloc and vmalloc for headers,
 * buckets and elements), the per-CPU areas, and which CPU is running. The
 * booted kernel (preempt/kernel.ts) is one; a map type needs nothing else,
 * so it does not see the scheduler.
 *
 * @example
 * ArrayMap.create(k, attr, id); // k: a Kernel, used as MapMemory
 */

import type { PercpuAllocator } from '../percpu/allocator.ts';
import type { PerCpuAreas } from '../percpu/per-cpu-areas.ts';
import type { KernelHeap } from '../segments/kmalloc.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import type { Vmalloc } from '../segments/vmalloc.ts';

export interface MapMemory {
  readonly memory: PhysicalMemory;
  readonly nrCpus: number;
  readonly areas: PerCpuAreas;
  readonly percpu: PercpuAllocator;
  readonly kheap: KernelHeap;
  readonly vmalloc: Vmalloc;
  /** The CPU executing the caller; null for host code, which takes map locks as CPU 0. */
  readonly current: { readonly id: number } | null;
}
