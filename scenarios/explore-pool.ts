/**
 * `explore` on many threads: the seeds are cut into ranges that a piscina
 * pool of worker threads runs (explore-worker.ts), each range in order up
 * to its first failure. The answer is the one a single thread gives: the
 * lowest failing seed among those tried, so ranges below the best failure
 * so far always finish and ranges above it are not started. The failing
 * seed is then run again here for its whole result (machine, trace,
 * replay string), which is the same run.
 *
 * @example
 * const r = await explorePool('lost-update-racy', { runs: 500, jobs: 2 });
 * r.failure?.seed; // the same as explore(scenario, { runs: 500 }).failure?.seed
 */

import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { ErrnoError } from '../segments/errno.ts';
import { type ExploreOptions, type ExploreResult, explore } from './explore.ts';
import type { SeedRange, SeedRangeResult } from './explore-worker.ts';
import { loadScenario } from './load-scenario.ts';
import { reportCount } from './report.ts';
import { runScenario, type ScenarioResult } from './run-scenario.ts';

export interface ExplorePoolOptions extends Omit<ExploreOptions, 'fails' | 'onRun'> {
  /** Worker threads. Default: the host's cores (or `threads`' count); 1 runs in this thread. */
  jobs?: number;
  /** Threads started before (`new SeedThreads(n)`), kept open after: many explorations, one start-up. */
  threads?: SeedThreads;
  /** A kernel report fails a run too (the CLI's rule). Default false: only `!r.ok`. */
  failOnReports?: boolean;
  /** Called as ranges finish: seeds done so far and failures seen so far. */
  onProgress?: (done: number, failures: number) => void;
}

/** Seeds per range: small enough to share the work out, large enough to keep messages rare. */
function rangeSize(runs: number, jobs: number): number {
  return Math.max(1, Math.min(64, Math.ceil(runs / (jobs * 8))));
}

// Built JavaScript (dist/) starts the built worker; the sources go through an entry that registers tsx.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = FROM_SOURCE
  ? new URL('./explore-worker-entry.mjs', import.meta.url)
  : new URL('./explore-worker.js', import.meta.url);

/**
 * A pool of exploring threads (piscina), for several `explorePool` calls in
 * a row; `close()` ends them.
 */
export class SeedThreads {
  private readonly pool: Piscina<SeedRange, SeedRangeResult>;

  constructor(readonly jobs: number) {
    if (!Number.isInteger(jobs) || jobs < 1)
      throw new ErrnoError('EINVAL', `jobs ${jobs} must be an integer >= 1`);
    this.pool = new Piscina<SeedRange, SeedRangeResult>({
      filename: WORKER.href,
      minThreads: jobs,
      maxThreads: jobs,
      ...(FROM_SOURCE ? { execArgv: [...process.execArgv, '--conditions=percpu-emu-source'] } : {}),
    });
  }

  run(range: SeedRange): Promise<SeedRangeResult> {
    return this.pool.run(range);
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

export async function explorePool(
  spec: string,
  opts: ExplorePoolOptions = {},
): Promise<ExploreResult> {
  const jobs = opts.jobs ?? opts.threads?.jobs ?? availableParallelism();
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new ErrnoError('EINVAL', `jobs ${jobs} must be an integer >= 1`);
  const scenario = await loadScenario(spec);
  const { jobs: _jobs, threads, failOnReports, onProgress, ...runOpts } = opts;
  const fails = (r: ScenarioResult) => !r.ok || (failOnReports === true && reportCount(r) > 0);
  const runs = opts.runs ?? 100;
  const first = opts.firstSeed ?? 1;
  if (jobs === 1) {
    let failures = 0;
    return explore(scenario, {
      ...runOpts,
      fails,
      onRun: (seed, r) => {
        if (fails(r)) failures++;
        onProgress?.(seed - first + 1, failures);
      },
    });
  }
  const { runs: _runs, firstSeed: _first, ...scenarioOpts } = runOpts;
  const pool = threads ?? new SeedThreads(jobs);
  const size = rangeSize(runs, jobs);
  let best = Number.POSITIVE_INFINITY;
  let done = 0;
  let failures = 0;
  let next = first;
  const end = first + runs;
  const worker = async (): Promise<void> => {
    while (next < end && next < best) {
      const from = next;
      const to = Math.min(end, from + size);
      next = to;
      const r = await pool.run({
        spec,
        opts: scenarioOpts,
        from,
        to,
        failOnReports: failOnReports === true,
      });
      if (r.refused !== undefined) throw new ErrnoError(r.refused.errno, r.refused.detail);
      done += r.ran;
      if (r.failed >= 0) {
        failures++;
        best = Math.min(best, r.failed);
      }
      onProgress?.(done, failures);
    }
  };
  try {
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    if (threads === undefined) await pool.close();
  }
  if (best === Number.POSITIVE_INFINITY) return { runs };
  const result = runScenario(scenario, { ...scenarioOpts, seed: best });
  if (!fails(result)) {
    throw new Error(`seed ${best} failed in a worker thread and held in the main thread`);
  }
  return { runs: best - first + 1, failure: { ...result, seed: best } };
}
