import { describe, expect, it } from 'vitest';
import { percpuMapCounter } from '../../../scenarios/races/percpu-map-counter.ts';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import { fixedHolds, pctCatches } from './race-suite.ts';

describe('race 4: a PERCPU_ARRAY counter with a preemptible read-add-write', () => {
  const racy = percpuMapCounter('racy');

  it('PCT catches it on every seed in 1..20', () => {
    expect(pctCatches(racy, 20)).toHaveLength(20);
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
