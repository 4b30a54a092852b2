import { describe, expect, it } from 'vitest';
import { percpuMapCounter } from '../../../scenarios/races/percpu-map-counter.ts';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import { fixedHolds, pctCatches } from './race-suite.ts';

describe('race 4: a PERCPU_ARRAY counter with a preemptible read-add-write', () => {
  const racy = percpuMapCounter('racy');

  it('PCT catches it on 19 of seeds 1..20', () => {
    // Measured: all but seed 5 (where the timer ticks land is drawn from the seed too).
    expect(pctCatches(racy, 20)).toHaveLength(19);
  });

  it('loses increments: the sum over CPUs ends below 400', () => {
    const v = runScenario(racy, { strategy: 'pct', seed: 1 }).verdicts[1];
    expect(v.ok).toBe(false);
    const [, sum] = /^sum = (\d+) /.exec(v.detail)!;
    expect(Number(sum)).toBeLessThan(400);
  });

  it('leaves no leak once the scenario’s map fds are closed at exit', () => {
    const r = runScenario(racy, { strategy: 'pct', seed: 1 });
    expect(r.reports.filter((x) => x.kind === 'leak' || x.kind === 'kasan')).toEqual([]);
  });

  fixedHolds(percpuMapCounter('fixed'));
});
