/**
 * The parallel runner: one worker thread per emulated CPU over one shared
 * memory, driven from the main thread through comlink (DESIGN §5).
 *
 * A run: the main thread builds the machine from a recipe (a scenario
 * module) over a new SharedArrayBuffer; each CPU's worker, one after the
 * other, rebuilds the same machine over the same buffer (attach.ts); then
 * all run at once (cpu-loop.ts) until every task has exited, the step budget
 * is spent, `stop()` is called, or the timeout passes. The main thread's
 * machine sees the final memory directly, so invariants are checked on it;
 * the workers' reports are merged into it by time.
 *
 * Robustness: an exception inside a worker (an emulator bug) stops every
 * CPU and comes back as `crash`, naming the CPU and what it was running,
 * with what was gathered. A worker that dies, or does not stop within
 * `graceMs` of a stop (a timeout, or a native step that never yields), is
 * terminated and replaced on the next run. `close()` terminates every
 * worker; no worker outlives it.
 *
 * Workers are reused from run to run (starting one costs most of a second:
 * tsx compiles the machine in each).
 *
 * @example
 * const runner = new ParallelRunner();
 * try {
 *   const r = await runner.run({ module: pathToFileURL('scenarios/examples/lost-update-fixed.ts').href });
 *   r.end; // 'finished'
 * } finally {
 *   await runner.close();
 * }
 */

import { Worker } from 'node:worker_threads';
import { type Remote, releaseProxy, wrap } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ErrnoError } from '../../segments/errno.ts';
import { PhysicalMemory } from '../../segments/memory.ts';
import { crashReport } from '../emulator-crash.ts';
import type { Kernel } from '../kernel.ts';
import type { MachineOptions, MachineRecipe } from '../machine.ts';
import type { Report } from '../reports.ts';
import { type AttachedMachine, attachMachine, viewRemoteCpus } from './attach.ts';
import type { ParallelControl } from './mailbox.ts';
import type { CpuCrash, CpuRunResult, CpuStats, RecipeLoader, RecipeRef } from './protocol.ts';
import type { CpuWorkerApi } from './worker.ts';

export interface ParallelRunOptions {
  /** Machine options over the recipe's (e.g. `cpus`). */
  readonly machine?: MachineOptions;
  /** Stop once all CPUs together executed this many instructions. Default 10 million. */
  readonly maxSteps?: number;
  /** Stop the run after this many ms of wall time. Default 60 s. */
  readonly timeoutMs?: number;
  /** After a stop, terminate workers that have not answered within this many ms. Default 2 s. */
  readonly graceMs?: number;
  /** A worker answers messages (stats, stop) between slices of this many ms. Default 20. */
  readonly sliceMs?: number;
}

export type ParallelEnd = 'finished' | 'stopped' | 'max-steps' | 'crashed' | 'timeout';

export interface ParallelRunResult {
  /** The main thread's machine over the final shared memory, with every CPU's reports. */
  readonly machine: Kernel;
  readonly end: ParallelEnd;
  /** Every task that keeps the run going exited. */
  readonly finished: boolean;
  /** Instructions executed or idled by all CPUs. */
  readonly steps: number;
  /** The first exception inside a worker, if one threw or died. */
  readonly crash?: CpuCrash;
  /** Per CPU: how its worker ended, and its statistics. */
  readonly cpus: readonly CpuRunResult[];
  readonly wallMs: number;
}

/** A CPU's worker thread, its comlink proxy, and a promise that rejects when the thread dies. */
interface CpuWorker {
  readonly thread: Worker;
  readonly api: Remote<CpuWorkerApi>;
  readonly died: Promise<never>;
  alive: boolean;
}

// Built JavaScript (dist/) starts the built worker; the TypeScript sources go
// through worker-entry.mjs, which registers tsx first.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_ENTRY = FROM_SOURCE
  ? new URL('./worker-entry.mjs', import.meta.url)
  : new URL('./worker.js', import.meta.url);
// A source worker resolves a scenario's `import ... from 'percpu-emu'` to the
// sources too (the package's percpu-emu-source condition), not to dist/: one
// copy of each class, so a LoadedProgram made in the scenario is one here.
const WORKER_OPTIONS = FROM_SOURCE
  ? { execArgv: [...process.execArgv, '--conditions=percpu-emu-source'] }
  : {};

function startWorker(): CpuWorker {
  const thread = new Worker(WORKER_ENTRY, WORKER_OPTIONS);
  let w: CpuWorker;
  const died = new Promise<never>((_resolve, reject) => {
    thread.once('error', (e) => {
      w.alive = false;
      reject(e);
    });
    thread.once('exit', (code) => {
      w.alive = false;
      reject(new ErrnoError('EFAULT', `the worker thread exited with code ${code}`));
    });
  });
  died.catch(() => {});
  w = { thread, api: wrap<CpuWorkerApi>(nodeEndpoint(thread)), died, alive: true };
  return w;
}

/** Waits for a worker's answer, or rejects if its thread dies first. */
function call<T>(w: CpuWorker, answer: Promise<T>): Promise<T> {
  return Promise.race([answer, w.died]);
}

async function loadRecipe(ref: RecipeRef): Promise<MachineRecipe> {
  if (ref.loader !== undefined) {
    await ((await import(ref.loader)) as RecipeLoader).prepareLoader(ref.module);
  }
  const mod = (await import(ref.module)) as Record<string, MachineRecipe | undefined>;
  const recipe = mod[ref.exportName ?? 'default'];
  if (recipe === undefined || typeof recipe.setup !== 'function') {
    throw new ErrnoError(
      'EINVAL',
      `${ref.module} has no machine recipe '${ref.exportName ?? 'default'}'`,
    );
  }
  return recipe;
}

export class ParallelRunner {
  private pool: CpuWorker[] = [];
  private running: {
    ctl: ParallelControl;
    workers: CpuWorker[];
    /** Set by stop(): a run still booting stops as soon as it starts. */
    stopRequested: boolean;
    /** Settles when the run's workers have all answered or been terminated. */
    settled: Promise<unknown>;
    /** Once running: stops every CPU and terminates workers that do not stop in time. */
    stopAndReap?: () => void;
  } | null = null;
  private closed = false;

  /** Worker threads alive in the pool (for tests that check none leaked). */
  get liveWorkers(): number {
    return this.pool.filter((w) => w.alive).length;
  }

  /** Runs the machine of `ref` with one worker per CPU; see ParallelRunOptions. */
  async run(ref: RecipeRef, opts: ParallelRunOptions = {}): Promise<ParallelRunResult> {
    const recipe = await loadRecipe(ref);
    if (this.closed) throw new ErrnoError('EBADF', 'the parallel runner is closed');
    if (this.running !== null) throw new ErrnoError('EBUSY', 'a parallel run is in progress');
    // The sanitizer's shadow is per thread, so parallel machines run without it.
    const options = { ...opts.machine, sanitizer: false };
    const memorySize = options.memorySize ?? recipe.machine?.memorySize ?? 64 << 20;
    const buffer = PhysicalMemory.allocate(memorySize);
    const main = attachMachine(recipe, options, buffer, 0);
    viewRemoteCpus(main.machine, -1);
    const workers = this.take(main.machine.nrCpus);
    const running = {
      ctl: main.ctl,
      workers,
      stopRequested: false,
      settled: Promise.resolve() as Promise<unknown>,
    };
    const boot = async () => {
      for (let cpu = 0; cpu < workers.length; cpu++) {
        const request = {
          recipe: ref,
          options,
          buffer,
          dirtyEnd: main.dirtyEnd,
          cpu,
          layout: main.layout,
        };
        await call(workers[cpu], workers[cpu].api.boot(request));
      }
      return this.runBooted(main, workers, running, opts);
    };
    const result = boot();
    running.settled = result.catch(() => {});
    this.running = running;
    try {
      return await result;
    } finally {
      this.running = null;
      this.pool = this.pool.filter((w) => w.alive);
    }
  }

  /** Asks the run in progress to stop; its `run` resolves with end 'stopped'. */
  stop(): void {
    const r = this.running;
    if (r === null) return;
    r.stopRequested = true;
    if (r.stopAndReap !== undefined) r.stopAndReap();
    else r.ctl.requestStop();
  }

  /** Statistics of every CPU of the run in progress, from its worker (answered between slices). */
  async stats(): Promise<CpuStats[]> {
    const r = this.running;
    if (r === null) throw new ErrnoError('EAGAIN', 'no parallel run is in progress');
    return Promise.all(r.workers.map((w) => call(w, w.api.stats())));
  }

  /** The running task's registers on `cpu`, from its worker. */
  async registers(cpu: number): Promise<string[]> {
    const r = this.running;
    if (r === null) throw new ErrnoError('EAGAIN', 'no parallel run is in progress');
    const w = r.workers[cpu];
    if (w === undefined) throw new ErrnoError('EINVAL', `no CPU ${cpu} in this run`);
    return call(w, w.api.registers());
  }

  /**
   * IPI round trips during a run: CPU `from` sends `count` call-function
   * IPIs to CPU `to`, each waiting for the answer; the mean in µs.
   */
  async ipiRoundTrip(from: number, to: number, count: number): Promise<number> {
    const r = this.running;
    if (r === null) throw new ErrnoError('EAGAIN', 'no parallel run is in progress');
    const w = r.workers[from];
    if (w === undefined) throw new ErrnoError('EINVAL', `no CPU ${from} in this run`);
    return call(w, w.api.callFunctionSingle(to, count));
  }

  /**
   * Stops the run in progress (its `run` resolves with end 'stopped'), then
   * terminates every worker. The runner cannot be used afterwards.
   */
  async close(): Promise<void> {
    this.closed = true;
    const running = this.running;
    if (running !== null) {
      this.stop();
      await running.settled;
    }
    const pool = this.pool;
    this.pool = [];
    await Promise.all(
      pool.map(async (w) => {
        w.api[releaseProxy]();
        await w.thread.terminate();
      }),
    );
  }

  /** `n` live workers from the pool, starting new ones as needed. */
  private take(n: number): CpuWorker[] {
    this.pool = this.pool.filter((w) => w.alive);
    while (this.pool.length < n) this.pool.push(startWorker());
    return this.pool.slice(0, n);
  }

  private async runBooted(
    main: AttachedMachine,
    workers: CpuWorker[],
    running: { stopRequested: boolean; stopAndReap?: () => void },
    opts: ParallelRunOptions,
  ): Promise<ParallelRunResult> {
    const { machine: k, ctl } = main;
    const started = performance.now();
    const request = { maxSteps: opts.maxSteps ?? 10_000_000, sliceMs: opts.sliceMs ?? 20 };
    let timedOut = false;
    let grace: NodeJS.Timeout | undefined;
    const terminated = new Set<number>();
    const done = new Set<number>();
    const stopAndReap = () => {
      ctl.requestStop();
      grace ??= setTimeout(() => {
        workers.forEach((w, cpu) => {
          if (!done.has(cpu)) {
            terminated.add(cpu);
            void w.thread.terminate();
          }
        });
      }, opts.graceMs ?? 2000);
    };
    running.stopAndReap = stopAndReap;
    // Each boot rewrote the control block: a stop asked for meanwhile is asked again.
    if (running.stopRequested) stopAndReap();
    const timer = setTimeout(() => {
      timedOut = true;
      stopAndReap();
    }, opts.timeoutMs ?? 60_000);
    const results = await Promise.all(
      workers.map(async (w, cpu): Promise<CpuRunResult> => {
        try {
          const r = await call(w, w.api.run(request));
          if (r.end === 'crashed') stopAndReap();
          return r;
        } catch (e) {
          // The thread died (or was terminated after not stopping): stop the others.
          ctl.markCrashed(cpu);
          stopAndReap();
          return lostCpu(k, cpu, terminated.has(cpu), e);
        } finally {
          done.add(cpu);
        }
      }),
    );
    clearTimeout(timer);
    clearTimeout(grace);
    // A timeout or a crash ends a run whatever else happened; a worker terminated
    // for not stopping after stop() is reported, but is not a crash.
    const cause = timedOut
      ? 'timeout'
      : results.some((r) => r.end === 'crashed' && !terminated.has(r.cpu))
        ? 'crashed'
        : undefined;
    return gather(main, results, cause, running.stopRequested, performance.now() - started);
  }
}

/** The result of a CPU whose worker died or was terminated: what memory says it ran. */
function lostCpu(k: Kernel, cpu: number, terminated: boolean, e: unknown): CpuRunResult {
  const c = k.cpus[cpu];
  const running = `${c.curr.comm}/${c.curr.pid}`;
  const message = terminated
    ? `CPU ${cpu}'s worker did not stop in time and was terminated`
    : `CPU ${cpu}'s worker thread died: ${e instanceof Error ? e.message : String(e)}`;
  return {
    cpu,
    end: 'crashed',
    crash: { cpu, running, message, stack: e instanceof Error ? (e.stack ?? '') : '' },
    loopMs: 0,
    reports: [],
    debugPreemptReports: 0,
    stats: {
      cpu,
      clock: 0,
      executed: 0,
      compiled: 0,
      ticks: 0,
      switches: Number(c.rq.nrSwitches),
      ipis: 0,
      idleWaits: 0,
      lockSpins: 0,
      lockWaits: 0,
      running,
    },
  };
}

function gather(
  main: AttachedMachine,
  results: CpuRunResult[],
  cause: 'timeout' | 'crashed' | undefined,
  stopRequested: boolean,
  wallMs: number,
): ParallelRunResult {
  const { machine: k, ctl } = main;
  const crashedCpu = ctl.crashedCpu;
  const crash =
    results.find((r) => r.cpu === crashedCpu && r.crash !== undefined)?.crash ??
    results.find((r) => r.crash !== undefined)?.crash;
  const reports: Report[] = results.flatMap((r) => r.reports);
  if (crash !== undefined) {
    reports.push(crashReport(k, crash, { pid: 0, comm: 'parallel', ts: Number.MAX_SAFE_INTEGER }));
  }
  reports.sort((a, b) => a.ts - b.ts);
  k.reports.push(...reports);
  k.debugPreempt.count = results.reduce((n, r) => n + r.debugPreemptReports, 0);
  const finished = main.liveTasks.every((t) => t.exited);
  k.steps = ctl.steps();
  const maxSteps = !stopRequested && results.some((r) => r.end === 'max-steps');
  const end: ParallelEnd = cause ?? (finished ? 'finished' : maxSteps ? 'max-steps' : 'stopped');
  return { machine: k, end, finished, steps: k.steps, crash, cpus: results, wallMs };
}
