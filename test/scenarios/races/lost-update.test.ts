import { describe, expect, it } from 'vitest';
import { lostUpdate } from '../../../scenarios/races/lost-update.ts';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import { fixedHolds, pctCatches } from './race-suite.ts';

describe('race 1: lost update of a per-CPU counter by two tasks on one CPU', () => {
  const racy = lostUpdate('racy');

  it('PCT catches it on every seed in 1..20', () => {
    expect(pctCatches(racy, 20)).toHaveLength(20);
  });

  it('loses increments: the counter ends below 400 and only on CPU 0', () => {
    const v = runScenario(racy, { strategy: 'pct', seed: 1 }).verdicts[1];
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(/^sum = (\d+) \(per CPU: \1, 0\), expected 400$/);
  });

  it('DEBUG_PREEMPT reports the this_cpu_ptr made while preemptible', () => {
    const r = runScenario(racy, { strategy: 'pct', seed: 1 });
    expect(r.reports[0].lines[0]).toMatch(
      /^BUG: using smp_processor_id\(\) in preemptible \[00000000\] code: inc[01]\/[12]$/,
    );
    // this_cpu_ptr follows the two-slot lddw: loop+2 slots; loop runs to the end, 10 slots.
    expect(r.reports[0].lines[1]).toMatch(/^caller is loop\+0x10\/0x50$/);
  });

  fixedHolds(lostUpdate('fixed'));
});
