import { describe, expect, it } from 'vitest';
import { hashCounter } from '../../../scenarios/races/hash-counter.ts';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import { failingSeeds, fixedHolds, pctCatches } from './race-suite.ts';

describe('race 5: counters in a shared HASH, preempt_disable but no atomic', () => {
  const racy = hashCounter('racy');

  it('the random strategy catches it on every seed in 1..20, PCT on some', () => {
    expect(failingSeeds(racy, 'random', 20)).toHaveLength(20);
    expect(pctCatches(racy, 10)).toEqual([3, 5, 6, 7]);
  });

  it('loses increments of flows although preemption was off', () => {
    const r = runScenario(racy, { strategy: 'random', seed: 1 });
    expect(r.verdicts[1].detail).toMatch(/^per flow: .*expected 50 each$/);
    expect(r.verdicts[1].ok).toBe(false);
    expect(r.machine.debugPreemptReports).toBe(0);
  });

  fixedHolds(hashCounter('fixed'));
});
