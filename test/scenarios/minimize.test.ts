import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../scenarios/load-scenario.ts';
import { minimize } from '../../scenarios/minimize.ts';
import { runScenario } from '../../scenarios/run-scenario.ts';

describe('schedule minimization (minimize.ts)', () => {
  for (const name of ['lost-update-racy', 'irq-rmw-racy']) {
    it(`shrinks ${name}'s failing PCT schedules to <= 2 forced preemptions that still break the invariant`, async () => {
      const s = await loadScenario(name);
      for (const seed of [1, 2, 3]) {
        const failing = runScenario(s, { strategy: 'pct', seed });
        expect(failing.ok).toBe(false);
        const m = minimize(s, failing);
        expect(m.preemptions).toBeLessThanOrEqual(2);
        expect(m.preemptions).toBeLessThanOrEqual(m.original.preemptions);
        expect(m.migrations).toBeLessThanOrEqual(m.original.migrations);
        // Never a schedule that passes: its replay string breaks the same invariant.
        const again = runScenario(s, { replay: m.replay });
        expect(again.verdicts.find((v) => v.name === m.invariant)?.ok).toBe(false);
        expect(again.verdicts).toEqual(m.result.verdicts);
        expect(m.original.replay).toBe(failing.replay);
      }
    });
  }

  it('refuses a run that broke nothing', async () => {
    const s = await loadScenario('lost-update-fixed');
    expect(() => minimize(s, runScenario(s, { seed: 1 }))).toThrow(/EINVAL: .* broke no invariant/);
  });
});
