/**
 * Exploring a scenario: run it under many seeds until an invariant fails,
 * and hand back that run with its replay string. This is the regression-test
 * entry point: a test explores N schedules and fails with the string that
 * reproduces the broken one.
 *
 * @example
 * const r = explore(scenario, { runs: 200 });
 * if (r.failure) throw new Error(`invariant broken; replay ${r.failure.replay}`);
 */

import { type RunScenarioOptions, runScenario, type ScenarioResult } from './run-scenario.ts';
import type { Scenario } from './scenario.ts';

export interface ExploreOptions extends Omit<RunScenarioOptions, 'seed' | 'replay' | 'schedule'> {
  /** How many seeds to try. Default 100. */
  runs?: number;
  /** The first seed. Default 1. */
  firstSeed?: number;
  /** Called after each run, e.g. for a progress bar. */
  onRun?: (seed: number, result: ScenarioResult) => void;
  /** Whether a run is the failure to stop at. Default: an invariant failed (`!r.ok`). */
  fails?: (result: ScenarioResult) => boolean;
}

export interface ExploreResult {
  /** Seeds run before stopping. */
  readonly runs: number;
  /** The first failing run, if any. */
  readonly failure?: ScenarioResult & { readonly seed: number };
}

export function explore(s: Scenario, opts: ExploreOptions = {}): ExploreResult {
  const runs = opts.runs ?? 100;
  const first = opts.firstSeed ?? 1;
  for (let k = 0; k < runs; k++) {
    const seed = first + k;
    const result = runScenario(s, { ...opts, seed });
    opts.onRun?.(seed, result);
    if (opts.fails?.(result) ?? !result.ok) return { runs: k + 1, failure: { ...result, seed } };
  }
  return { runs };
}
