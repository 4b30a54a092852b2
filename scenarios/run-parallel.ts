/**
 * Runs a scenario in parallel mode: one worker thread per emulated CPU over
 * the shared memory (preempt/parallel/runner.ts), the same scenario file as
 * in deterministic mode, unchanged. The invariants are judged on the final
 * memory as usual. Runs are not reproducible: there is no replay string, and
 * a racy scenario breaks only when the threads happen to interleave badly.
 *
 * Unlike runScenario, the machine runs without the per-CPU sanitizer and no
 * shutdown leak scan follows the run: the sanitizer's shadow is per thread
 * (preempt/parallel/attach.ts).
 *
 * Workers are reused across runs of one ParallelRunner; pass `runner` to
 * run many times (and close it yourself), or leave it out for a one-off run.
 *
 * @example
 * const r = await runScenarioParallel('lost-update-fixed', { cpus: 2 });
 * r.ok; // true
 */

import { pathToFileURL } from 'node:url';
import { ParallelRunner, type ParallelRunResult } from '../preempt/parallel/runner.ts';
import { loadScenario, resolveScenarioPath, SCENARIO_LOADER } from './load-scenario.ts';
import type { ScenarioResult } from './run-scenario.ts';
import { allTasksExited } from './scenario.ts';

/** The parallel runner's own limit when `timeoutMs` is not given (preempt/parallel/runner.ts). */
const DEFAULT_TIMEOUT_MS = 60_000;

export interface ParallelScenarioOptions {
  cpus?: number;
  /** Stop once all CPUs together executed this many instructions. Default 10 million. */
  maxSteps?: number;
  /** Stop after this many ms of wall time. Default 60 s. */
  timeoutMs?: number;
  /** Workers to reuse; a one-off runner (closed at the end) when absent. */
  runner?: ParallelRunner;
}

export interface ParallelScenarioResult extends ScenarioResult {
  readonly parallel: ParallelRunResult;
}

/**
 * Runs the scenario `spec` (a file, or the name of a shipped example) in
 * parallel mode and judges its invariants.
 */
export async function runScenarioParallel(
  spec: string,
  opts: ParallelScenarioOptions = {},
): Promise<ParallelScenarioResult> {
  const path = resolveScenarioPath(spec);
  const scenario = await loadScenario(path);
  const runner = opts.runner ?? new ParallelRunner();
  try {
    const parallel = await runner.run(
      { module: pathToFileURL(path).href, loader: SCENARIO_LOADER },
      {
        machine: opts.cpus === undefined ? {} : { cpus: opts.cpus },
        maxSteps: opts.maxSteps,
        timeoutMs: opts.timeoutMs,
      },
    );
    const machine = parallel.machine;
    const timedOut =
      parallel.end === 'timeout'
        ? { where: 'the run', ms: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS }
        : undefined;
    const verdicts = [allTasksExited, ...scenario.invariants].map((inv) => ({
      name: inv.name,
      ...inv.check(machine),
    }));
    return {
      scenario,
      machine,
      engine: {
        finished: parallel.finished,
        end: parallel.end === 'stopped' ? 'schedule-ended' : parallel.end,
        crash: parallel.crash,
        steps: parallel.steps,
        replay: '',
        strategy: `parallel: ${machine.nrCpus} worker threads, ${parallel.end} after ${Math.round(parallel.wallMs)} ms (not reproducible)`,
      },
      verdicts,
      ok: verdicts.every((v) => v.ok) && parallel.crash === undefined && timedOut === undefined,
      reports: machine.reports,
      replay: '',
      crash: parallel.crash,
      errors: [],
      timedOut,
      parallel,
    };
  } finally {
    if (opts.runner === undefined) await runner.close();
  }
}
