/**
 * `npm run bench -- explore`: how many schedules a second `explore()` tries
 * on one core, each a fresh machine booted, set up, run under PCT and
 * judged, for three shipped examples that hold on every seed (so every run
 * goes to its end):
 *
 *  - runs_per_s_lost_update: lost-update-fixed (about 4,000 instructions);
 *  - runs_per_s_stale_pointer: stale-pointer-fixed-guard;
 *  - runs_per_s_packet_stats: packet-stats;
 *  - jobs2_speedup: lost-update-fixed through `explorePool` on 2 threads
 *    (started before the clock) over 1 thread, the same seeds; about 2 on
 *    two free cores, less when other processes share them;
 *  - engine_lost_update: runs/s of the engine alone on lost-update-fixed
 *    (boot, setup and the judging excluded: the machine is booted before
 *    the clock starts), against PCT making one decision per instruction,
 *    the engine before stepwise runs, measured in the same run.
 *
 * Figures are medians of 3 batches; other processes on the host make them
 * noisy.
 *
 * @example
 * // npm run bench -- explore --json
 */

import { runDeterministic } from '../preempt/engine.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { bootRecipe } from '../preempt/machine.ts';
import { pct } from '../preempt/strategies/pct.ts';
import { explore } from '../scenarios/explore.ts';
import { explorePool, SeedThreads } from '../scenarios/explore-pool.ts';
import { loadScenario } from '../scenarios/load-scenario.ts';
import type { Scenario } from '../scenarios/scenario.ts';
import { type BenchReport, type BenchResult, median } from './report.ts';

const BATCHES = 3;

function runsPerSecond(s: Scenario, runs: number): number {
  explore(s, { runs: Math.max(1, runs >> 3) });
  const rates: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const t0 = performance.now();
    const r = explore(s, { runs, firstSeed: 1 + b * runs });
    if (r.failure !== undefined) throw new Error(`${s.name} failed on seed ${r.failure.seed}`);
    rates.push((runs * 1000) / (performance.now() - t0));
  }
  return median(rates);
}

/** Runs/s of the engine alone: machines booted and set up before the clock starts. */
function engineRunsPerSecond(s: Scenario, runs: number, stepwise: boolean): number {
  const rates: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const machines: Kernel[] = [];
    for (let n = 0; n < runs; n++) machines.push(bootRecipe(s));
    const t0 = performance.now();
    machines.forEach((k, n) => {
      const r = runDeterministic(k, pct({ seed: n + 1, ...s.pct, stepwise }));
      if (!r.finished) throw new Error(`${s.name} seed ${n + 1} did not finish`);
    });
    rates.push((runs * 1000) / (performance.now() - t0));
  }
  return median(rates);
}

/** Runs/s of explorePool over `runs` seeds of `spec` on `threads` (or this thread). */
async function poolRunsPerSecond(
  spec: string,
  runs: number,
  threads?: SeedThreads,
): Promise<number> {
  const t0 = performance.now();
  const r = await explorePool(spec, {
    runs,
    ...(threads === undefined ? { jobs: 1 } : { threads }),
  });
  if (r.failure !== undefined) throw new Error(`${spec} failed on seed ${r.failure.seed}`);
  return (runs * 1000) / (performance.now() - t0);
}

export async function run(): Promise<BenchReport> {
  const lost = await loadScenario('lost-update-fixed');
  const results: BenchResult[] = [
    { name: 'runs_per_s_lost_update', value: runsPerSecond(lost, 200), unit: 'runs/s' },
    {
      name: 'runs_per_s_stale_pointer',
      value: runsPerSecond(await loadScenario('stale-pointer-fixed-guard'), 100),
      unit: 'runs/s',
    },
    {
      name: 'runs_per_s_packet_stats',
      value: runsPerSecond(await loadScenario('packet-stats'), 50),
      unit: 'runs/s',
    },
  ];
  const threads = new SeedThreads(2);
  try {
    await poolRunsPerSecond('lost-update-fixed', 20, threads);
    const one = await poolRunsPerSecond('lost-update-fixed', 300);
    const two = await poolRunsPerSecond('lost-update-fixed', 300, threads);
    results.push({
      name: 'jobs2_speedup',
      value: two / one,
      unit: 'x',
      note: `${two.toFixed(0)} vs ${one.toFixed(0)} runs/s`,
    });
  } finally {
    await threads.close();
  }
  const perInsn = engineRunsPerSecond(lost, 30, false);
  const engine = engineRunsPerSecond(lost, 30, true);
  results.push(
    {
      name: 'engine_lost_update',
      value: engine,
      unit: 'runs/s',
      ratio: engine / perInsn,
      baseline: 'PCT deciding every instruction',
    },
    { name: 'engine_lost_update_per_insn', value: perInsn, unit: 'runs/s', ratio: 1 },
  );
  return { suite: 'explore', results };
}
