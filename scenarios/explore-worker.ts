/**
 * A thread of the `explore --jobs` pool (explore-pool.ts): runs a range of
 * seeds of one scenario, in order, and stops at the first that fails. It
 * sends back only that seed: the main thread runs it again for the whole
 * result, which is the same run (same seed, same run).
 *
 * @example
 * // piscina runs the default export: await exploreSeeds({ spec: 'lost-update-racy', from: 1, to: 11, ... })
 */

import { type Errno, ErrnoError } from '../segments/errno.ts';
import { loadScenario } from './load-scenario.ts';
import { reportCount } from './report.ts';
import { type RunScenarioOptions, runScenario } from './run-scenario.ts';
import type { Scenario } from './scenario.ts';

/** One range of seeds to try. */
export interface SeedRange {
  /** A scenario file, or the name of a shipped scenario. */
  readonly spec: string;
  readonly opts: Omit<RunScenarioOptions, 'seed' | 'replay' | 'schedule'>;
  /** Seeds from..to-1. */
  readonly from: number;
  readonly to: number;
  /** A kernel report fails a run too (the CLI's rule), not only a broken invariant. */
  readonly failOnReports: boolean;
}

export interface SeedRangeResult {
  /** The first failing seed of the range, or -1. */
  readonly failed: number;
  /** Seeds run (up to and including the failing one). */
  readonly ran: number;
  /** An input error (ErrnoError) the run refused the options with: the main thread throws it again. */
  readonly refused?: { readonly errno: Errno; readonly detail: string };
}

const loaded = new Map<string, Promise<Scenario>>();

export default async function exploreSeeds(range: SeedRange): Promise<SeedRangeResult> {
  let scenario = loaded.get(range.spec);
  if (scenario === undefined) {
    scenario = loadScenario(range.spec);
    loaded.set(range.spec, scenario);
  }
  try {
    const s = await scenario;
    for (let seed = range.from; seed < range.to; seed++) {
      const r = runScenario(s, { ...range.opts, seed });
      if (!r.ok || (range.failOnReports && reportCount(r) > 0))
        return { failed: seed, ran: seed - range.from + 1 };
    }
    return { failed: -1, ran: range.to - range.from };
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    return { failed: -1, ran: 0, refused: { errno: e.errno, detail: e.detail } };
  }
}
