/**
 * The worker thread of one emulated CPU. The main thread (runner.ts) drives
 * it through comlink: `boot` rebuilds the machine over the shared memory
 * (attach.ts) and takes CPU `cpu`; `run` runs that CPU's loop (cpu-loop.ts)
 * in slices, giving the event loop a turn between slices so `stop`, `stats`
 * and `registers` are answered while it runs. An exception in the loop is an
 * emulator bug: the worker stops the whole machine, and returns the crash,
 * naming the CPU and what it was running, with the reports gathered so far.
 *
 * Loaded through worker-entry.mjs, which registers tsx first.
 *
 * @example
 * const cpu = wrap<CpuWorkerApi>(nodeEndpoint(worker));
 * await cpu.boot(request);
 * const result = await cpu.run({ maxSteps: 1e7, sliceMs: 20 });
 */

import { parentPort } from 'node:worker_threads';
import { expose } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ErrnoError } from '../../segments/errno.ts';
import { setThreadsShareMemory } from '../../segments/raw-spinlock.ts';
import type { CpuState } from '../cpu-state.ts';
import { emulatorCrash } from '../emulator-crash.ts';
import type { MachineRecipe } from '../machine.ts';
import { symbolizePc } from '../oops.ts';
import { type AttachedMachine, attachMachine, viewRemoteCpus } from './attach.ts';
import { type LoopEnd, runCpuParallel } from './cpu-loop.ts';
import { StopRequested } from './mailbox.ts';
import type {
  BootRequest,
  CpuCrash,
  CpuRunResult,
  CpuStats,
  RecipeLoader,
  RunRequest,
} from './protocol.ts';

interface Booted {
  readonly attached: AttachedMachine;
  readonly c: CpuState;
}

let booted: Booted | null = null;

function current(): Booted {
  if (booted === null) throw new ErrnoError('EAGAIN', 'this CPU worker has not booted a machine');
  return booted;
}

async function loadRecipe(req: BootRequest): Promise<MachineRecipe> {
  if (req.recipe.loader !== undefined) {
    await ((await import(req.recipe.loader)) as RecipeLoader).prepareLoader(req.recipe.module);
  }
  const mod = (await import(req.recipe.module)) as Record<string, MachineRecipe | undefined>;
  const name = req.recipe.exportName ?? 'default';
  const recipe = mod[name];
  if (recipe === undefined || typeof recipe.setup !== 'function') {
    throw new ErrnoError('EINVAL', `${req.recipe.module} has no machine recipe '${name}'`);
  }
  return recipe;
}

const api = {
  /** Rebuilds the machine over the shared buffer and takes CPU `req.cpu`. */
  async boot(req: BootRequest): Promise<void> {
    booted = null;
    const recipe = await loadRecipe(req);
    const attached = attachMachine(recipe, req.options, req.buffer, req.dirtyEnd);
    if (attached.layout !== req.layout) {
      throw new ErrnoError(
        'EINVAL',
        `CPU ${req.cpu}'s worker rebuilt a different machine: its setup is not deterministic`,
      );
    }
    const m = attached.machine;
    if (req.cpu < 0 || req.cpu >= m.nrCpus) {
      throw new ErrnoError('EINVAL', `CPU ${req.cpu} is not one of the machine's ${m.nrCpus}`);
    }
    viewRemoteCpus(m, req.cpu);
    const c = m.cpus[req.cpu];
    c.cpu.concurrent = true;
    booted = { attached, c };
  },

  /** Runs this CPU until the machine finishes or stops; never throws. */
  async run(req: RunRequest): Promise<CpuRunResult> {
    const { attached, c } = current();
    const { machine: m, ctl, liveTasks } = attached;
    let end: LoopEnd | 'crashed' = 'slice';
    let crash: CpuCrash | undefined;
    let started = performance.now();
    try {
      ctl.arriveAndWait(c.id);
      started = performance.now();
      while (end === 'slice') {
        end = runCpuParallel(m, c, ctl, liveTasks, req);
        if (end === 'slice') await new Promise((resolve) => setImmediate(resolve));
      }
      if (end === 'max-steps') ctl.requestStop();
    } catch (e) {
      if (e instanceof StopRequested) {
        // Stopped while waiting for the scheduler lock (another CPU crashed or hangs holding it).
        end = 'stopped';
      } else {
        end = 'crashed';
        crash = emulatorCrash(m, c, e);
        ctl.markCrashed(c.id);
      }
    }
    return {
      cpu: c.id,
      end,
      crash,
      loopMs: performance.now() - started,
      reports: m.reports,
      debugPreemptReports: m.debugPreemptReports,
      stats: api.stats(),
    };
  },

  /** Asks the whole machine to stop (every CPU leaves its loop at its next check). */
  stop(): void {
    current().attached.ctl.requestStop();
  },

  stats(): CpuStats {
    const { attached, c } = current();
    const k = attached.ctl.counters(c.id);
    return {
      cpu: c.id,
      clock: c.clock,
      executed: c.cpu.totalExecuted,
      compiled: c.cpu.compiledExecuted,
      ticks: c.ticks,
      switches: Number(c.rq.nrSwitches),
      ipis: k.ipis,
      idleWaits: k.idleWaits,
      lockSpins: k.lockSpins,
      lockWaits: k.lockWaits,
      running: `${c.curr.comm}/${c.curr.pid}`,
    };
  },

  /**
   * smp_call_function_single(to, ..., wait=1) from this CPU, `count` times,
   * between two slices of its loop; returns the mean round trip in µs.
   */
  callFunctionSingle(to: number, count: number): number {
    const { attached, c } = current();
    if (to === c.id || to < 0 || to >= attached.machine.nrCpus) {
      throw new ErrnoError('EINVAL', `CPU ${c.id} cannot call a function on CPU ${to}`);
    }
    const t0 = performance.now();
    for (let k = 0; k < count; k++) attached.ctl.smpCallFunctionSingle(c.id, to);
    return ((performance.now() - t0) * 1000) / count;
  },

  /** The running task's registers, as an oops prints them (idle and native tasks have none). */
  registers(): string[] {
    const { c } = current();
    const task = c.curr;
    const head = `CPU: ${c.id} PID: ${task.pid} Comm: ${task.comm}`;
    if (task.ctx === null) return [head, `(${task.body.kind} task: no guest registers)`];
    const ctx = task.ctx;
    const hex = (r: number) => BigInt.asUintN(64, ctx.reg(r)).toString(16).padStart(16, '0');
    const lines = [head];
    for (let r = 0; r <= 10; r += 3) {
      lines.push(
        [r, r + 1, r + 2]
          .filter((x) => x <= 10)
          .map((x) => `R${x}: ${hex(x)}`.padStart(21))
          .join(' '),
      );
    }
    lines.push(`PC: ${symbolizePc(ctx.program, ctx.pc)}`);
    return lines;
  },
};

export type CpuWorkerApi = typeof api;

if (parentPort !== null) {
  // Other CPUs' workers take the same locks: spin on a held lock instead of calling it a deadlock.
  setThreadsShareMemory(true);
  expose(api, nodeEndpoint(parentPort));
}
