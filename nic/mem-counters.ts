/**
 * Statistics kept in emulated memory: a block of f64 slots from kzalloc,
 * one per counter, behind accessors of the counter's name. Parallel mode
 * rebuilds the machine in every worker over the same memory, so a counter
 * in a JS field would be each worker's own; in memory every CPU, and the
 * main thread judging the invariants after the run, reads the same number.
 * Each counter has one writer (the CPU whose queue, softnet_data or
 * kthread it counts), as the kernel's per-CPU and per-queue statistics do,
 * so plain stores suffice; an f64 counts exactly up to 2^53.
 *
 * A class declares its counters as fields (`declare packets: number`),
 * holds its block in `slots`, and gets the accessors from
 * `defineCounters` once, at module load. Built over a plain Float64Array
 * (`new Stats()`), the same class is a scratch sum outside memory.
 *
 * Context: any; the block must outlive every reader (the stack's objects
 * are never freed while the kernel lives).
 *
 * @example
 * class QueueStats { declare packets: number; constructor(readonly slots = new Float64Array(1)) {} }
 * defineCounters(QueueStats, ['packets']);
 * const s = new QueueStats(counterBlock(k, 1));
 * s.packets++; // an f64 in emulated memory
 */

import { ErrnoError } from '../segments/errno.ts';
import type { KernelHeap } from '../segments/kmalloc.ts';
import type { PhysicalMemory } from '../segments/memory.ts';

/** What a counter block is allocated from. */
export interface CounterMemory {
  readonly memory: PhysicalMemory;
  readonly kheap: KernelHeap;
}

/** `n` zeroed f64 counters in emulated memory (kzalloc, 8-byte aligned). */
export function counterBlock(k: CounterMemory, n: number): Float64Array {
  const addr = k.kheap.kzalloc(8 * n);
  if (addr === 0 || addr % 8 !== 0)
    throw new ErrnoError('ENOMEM', `no memory for ${n} network counters`);
  return new Float64Array(k.memory.buffer, addr, n);
}

/** Gives `cls` an accessor per name over `this.slots[i]`. */
export function defineCounters(cls: { prototype: object }, names: readonly string[]): void {
  names.forEach((name, i) => {
    Object.defineProperty(cls.prototype, name, {
      get(this: { slots: Float64Array }): number {
        return this.slots[i];
      },
      set(this: { slots: Float64Array }, v: number) {
        this.slots[i] = v;
      },
      enumerable: true,
      configurable: false,
    });
  });
}

/** kfree of a block counterBlock gave. */
export function freeCounterBlock(k: CounterMemory, slots: Float64Array): void {
  k.kheap.kfree(slots.byteOffset);
}
