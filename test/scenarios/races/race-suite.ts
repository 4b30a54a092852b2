/**
 * The shared shape of the race tests: a racy scenario PCT must catch on
 * stated seeds, and fixed variants that must hold over many seeds.
 */

import { expect, it } from 'vitest';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import type { Scenario } from '../../../scenarios/scenario.ts';

/** Seeds 1..n on which PCT finds the bug. */
export function pctCatches(s: Scenario, n: number): number[] {
  const caught: number[] = [];
  for (let seed = 1; seed <= n; seed++) {
    if (!runScenario(s, { strategy: 'pct', seed }).ok) caught.push(seed);
  }
  return caught;
}

/** Seeds `from + 1 .. from + seeds` (under `strategy`) on which the scenario's invariants failed. */
export function failingSeeds(
  s: Scenario,
  strategy: 'pct' | 'random',
  seeds: number,
  from = 0,
): number[] {
  const failed: number[] = [];
  for (let seed = from + 1; seed <= from + seeds; seed++) {
    const r = runScenario(s, { strategy, seed });
    if (!r.ok) failed.push(seed);
  }
  return failed;
}

/** Seeds 1..seeds under `strategy`: those that failed, and how many distinct schedules they ran. */
export function explored(
  s: Scenario,
  strategy: 'pct' | 'random',
  seeds: number,
): { failed: number[]; schedules: number } {
  const failed: number[] = [];
  const schedules = new Set<string>();
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runScenario(s, { strategy, seed });
    if (!r.ok) failed.push(seed);
    schedules.add(r.engine.replay);
  }
  return { failed, schedules: schedules.size };
}

export function fixedHolds(s: Scenario): void {
  it(`${s.name} holds its invariants over 1000 PCT seeds, at least 900 of them distinct schedules`, () => {
    const { failed, schedules } = explored(s, 'pct', 1000);
    expect(failed).toEqual([]);
    expect(schedules).toBeGreaterThanOrEqual(900);
  });
  it(`${s.name} holds its invariants over 200 random seeds`, () => {
    expect(failingSeeds(s, 'random', 200)).toEqual([]);
  });
  it(`${s.name} makes no DEBUG_PREEMPT, oops or lockup report`, () => {
    const r = runScenario(s, { strategy: 'pct', seed: 1 });
    expect(r.machine.debugPreemptReports).toBe(0);
    expect(r.reports).toEqual([]);
  });
}
