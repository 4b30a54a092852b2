/**
 * The options a machine is built with, their defaults, and their checks.
 * The builder (machine.ts) resolves them once; the booted kernel keeps the
 * resolved set as `k.opts`.
 *
 * @example
 * const opts = resolveMachineOptions({ cpus: 2 }); // every other option at its default
 * opts.tickInterval; // 1000
 */

import { TIERS, type Tier } from '../cpu/wasm/tier.ts';
import { PCPU_CHUNK_REGION_SIZE } from '../percpu/allocator.ts';
import { NR_CPUS } from '../percpu/first-chunk.ts';
import { ErrnoError } from '../segments/errno.ts';

export type DebugPreemptMode = 'warn' | 'fatal' | 'off';

export interface MachineOptions {
  /** Possible CPUs, 1..64. Default 4. */
  cpus?: number;
  /** Physical memory in bytes. Default 64 MiB. */
  memorySize?: number;
  /** Instructions between two timer interrupts of a CPU. Default 1000. */
  tickInterval?: number;
  /** Ticks in a time slice. Default 3. */
  timeSlice?: number;
  /** Ticks between load-balancing passes (SCHED_SOFTIRQ). Default 4. */
  balanceInterval?: number;
  /** DEBUG_PREEMPT: warn, fatal (kill the offending task) or off. Default warn. */
  debugPreempt?: DebugPreemptMode;
  /**
   * The soft-lockup watchdog fires after 2 * watchdogThresh seconds without
   * scheduling. Default 1 (the kernel's is 10): 2 s is 2 M instructions of one
   * CPU, so a stuck CPU is reported within the engine's default budget of 10 M
   * instructions over up to 4 CPUs.
   */
  watchdogThresh?: number;
  /** Emulated nanoseconds per instruction. Default 1000 (so a 1000-instruction tick is 1 ms). */
  nsPerInsn?: number;
  /** Keep a trace in per-CPU ring buffers. Default true. */
  trace?: boolean;
  /** Bytes of trace ring per CPU. Default 256 KiB. */
  traceBytesPerCpu?: number;
  /** Most tasks alive at once. Default 64. */
  maxTasks?: number;
  /** Bytes of `.text` for loaded programs. Default 1 MiB. */
  textSize?: number;
  /** Bytes of memory for per-CPU chunks beyond the first (the vmalloc area's role). Default 8 MiB. */
  percpuChunkRegion?: number;
  /** Bytes of the kernel heap (kmalloc, segments/kmalloc.ts). Default 4 MiB. */
  kmallocHeap?: number;
  /**
   * Bytes of the vmalloc area (segments/vmalloc.ts), for allocations too big
   * for kmalloc. Default a sixteenth of memorySize, at most 16 MiB.
   */
  vmallocSize?: number;
  /**
   * The per-CPU sanitizer (percpu/sanitizer.ts): double and invalid frees,
   * use after free and out-of-bounds accesses to per-CPU memory by guest
   * instructions, kfuncs and the TS API, reported as `kasan` and, at the end
   * of a scenario run, leaks as `leak`. It makes guest accesses below the end
   * of per-CPU memory (per-CPU variables and globals) take the CPU's slow
   * path. Default true.
   */
  sanitizer?: boolean;
  /**
   * Who executes guest programs (cpu/wasm/tier.ts): `interp`, `jit` (each
   * program compiled to WebAssembly, exact at every instruction boundary:
   * the same trace, counts and faults) or `auto` (interpret until a program
   * has run JIT_THRESHOLD instructions). Default `auto`.
   */
  tier?: Tier;
}

/** Every option with its value. */
export type ResolvedMachineOptions = Readonly<Required<MachineOptions>>;

const DEFAULTS: ResolvedMachineOptions = {
  cpus: 4,
  memorySize: 64 << 20,
  tickInterval: 1000,
  timeSlice: 3,
  balanceInterval: 4,
  debugPreempt: 'warn',
  watchdogThresh: 1,
  nsPerInsn: 1000,
  trace: true,
  traceBytesPerCpu: 256 << 10,
  maxTasks: 64,
  textSize: 1 << 20,
  percpuChunkRegion: PCPU_CHUNK_REGION_SIZE,
  kmallocHeap: 4 << 20,
  vmallocSize: 0,
  sanitizer: true,
  tier: 'auto',
};

/** `options` over the defaults, checked: EINVAL naming the option and its value. */
export function resolveMachineOptions(options: MachineOptions = {}): ResolvedMachineOptions {
  const opts = { ...DEFAULTS, ...options };
  const n = opts.cpus;
  if (!Number.isInteger(n) || n < 1 || n > NR_CPUS) {
    throw new ErrnoError('EINVAL', `cpus ${n} is not between 1 and ${NR_CPUS}`);
  }
  for (const key of ['tickInterval', 'timeSlice', 'balanceInterval', 'maxTasks'] as const) {
    const v = opts[key];
    if (!Number.isInteger(v) || v < 1)
      throw new ErrnoError('EINVAL', `${key} ${v} is not a positive integer`);
  }
  for (const key of ['watchdogThresh', 'nsPerInsn'] as const) {
    const v = opts[key];
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
      throw new ErrnoError('EINVAL', `${key} ${v} is not a positive number`);
    }
  }
  if (!['warn', 'fatal', 'off'].includes(opts.debugPreempt)) {
    throw new ErrnoError('EINVAL', `debugPreempt '${opts.debugPreempt}' is not warn, fatal or off`);
  }
  if (!TIERS.includes(opts.tier)) {
    throw new ErrnoError('EINVAL', `tier '${opts.tier}' is not interp, jit or auto`);
  }
  return opts;
}
