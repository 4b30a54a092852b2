import { describe, expect, it } from 'vitest';
import { irqRmw } from '../../../scenarios/races/irq-rmw.ts';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import { fixedHolds, pctCatches } from './race-suite.ts';

describe('race 3: __this_cpu read-modify-write against the timer interrupt', () => {
  const racy = irqRmw('racy');

  it('PCT catches it on every seed in 1..20', () => {
    expect(pctCatches(racy, 20)).toHaveLength(20);
  });

  it('loses interrupt increments on each CPU, though preemption is off', () => {
    const r = runScenario(racy, { strategy: 'rr' });
    expect(r.ok).toBe(false);
    for (const m of r.verdicts[1].detail.matchAll(/CPU \d: (\d+) vs (\d+) \+ (\d+)/g)) {
      expect(BigInt(m[1])).toBeLessThan(BigInt(m[2]) + BigInt(m[3]));
    }
  });

  it('DEBUG_PREEMPT stays silent: the __this_cpu ops run with preemption off', () => {
    expect(runScenario(racy, { strategy: 'pct', seed: 1 }).machine.debugPreemptReports).toBe(0);
  });

  fixedHolds(irqRmw('fixed-this-cpu-add'));
  fixedHolds(irqRmw('fixed-irq-save'));
});
