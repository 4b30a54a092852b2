/**
 * What the main thread and a CPU's worker say to each other through comlink:
 * the requests of boot and run, the statistics and the end of a run. Only
 * structured-clonable data (the memory is a SharedArrayBuffer, shared, not
 * copied).
 *
 * @example
 * const result: CpuRunResult = await worker.run({ maxSteps: 1e7, sliceMs: 20 });
 */

import type { WasmMemory } from '../../segments/wasm-api.ts';
import type { EmulatorCrash } from '../emulator-crash.ts';
import type { MachineOptions } from '../machine.ts';
import type { Report } from '../reports.ts';
import type { LoopEnd } from './cpu-loop.ts';

/** Where a worker finds the recipe of the machine: a module and one of its exports. */
export interface RecipeRef {
  /** A file URL (or path) of an ES module. */
  readonly module: string;
  /** The export holding the recipe. Default 'default'. */
  readonly exportName?: string;
  /**
   * A file URL of a module whose `prepareLoader(module)` readies a thread to
   * import `module` (module hooks, a TS loader); awaited in every worker
   * before the import. The scenarios layer passes its load-scenario.ts, so
   * that a scenario file loads in the workers wherever it is.
   */
  readonly loader?: string;
}

/** What `RecipeRef.loader` exports. */
export interface RecipeLoader {
  prepareLoader(module: string): Promise<void>;
}

export interface BootRequest {
  readonly recipe: RecipeRef;
  readonly options: MachineOptions;
  /** The machine's memory: a shared WebAssembly memory, so each worker's fast tier runs on it. */
  readonly buffer: SharedArrayBuffer | WasmMemory;
  /** Bytes the previous thread's setup wrote, zeroed before this setup. */
  readonly dirtyEnd: number;
  /** The CPU this worker runs. */
  readonly cpu: number;
  /** The main thread's layout fingerprint; the worker's must equal it. */
  readonly layout: string;
}

export interface RunRequest {
  readonly maxSteps: number;
  readonly sliceMs: number;
}

/** What a worker says about its CPU. */
export interface CpuStats {
  readonly cpu: number;
  /** Instructions executed or idled through (the CPU's clock). */
  readonly clock: number;
  /** Guest instructions executed. */
  readonly executed: number;
  /** How many of them ran as compiled code (the WebAssembly tier). */
  readonly compiled: number;
  readonly ticks: number;
  /** Context switches on this CPU (rq->nr_switches). */
  readonly switches: number;
  readonly ipis: number;
  readonly idleWaits: number;
  /** Times the scheduler lock was found held, and times the CPU then slept on it. */
  readonly lockSpins: number;
  readonly lockWaits: number;
  /** The running task, `comm/pid`. */
  readonly running: string;
}

/** An exception inside a worker: an emulator bug, not a guest fault. */
export type CpuCrash = EmulatorCrash;

export interface CpuRunResult {
  readonly cpu: number;
  readonly end: LoopEnd | 'crashed';
  readonly crash?: CpuCrash;
  /** Wall time this CPU spent in its loop, from the start line to its end, in ms. */
  readonly loopMs: number;
  readonly reports: readonly Report[];
  /** DEBUG_PREEMPT reports on this CPU, including those the rate limit suppressed. */
  readonly debugPreemptReports: number;
  readonly stats: CpuStats;
}
