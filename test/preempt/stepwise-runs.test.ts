import { describe, expect, it } from 'vitest';
import { runDeterministic, type Strategy } from '../../preempt/engine.ts';
import { bootRecipe } from '../../preempt/machine.ts';
import { pct } from '../../preempt/strategies/pct.ts';
import { loadScenario } from '../../scenarios/load-scenario.ts';

const EXAMPLES = [
  'lost-update-racy',
  'lost-update-fixed',
  'stale-pointer-racy',
  'stale-pointer-fixed-guard',
  'irq-rmw-racy',
  'percpu-alloc',
  'packet-stats',
  'hash-counter-racy',
];

describe('stepwise runs (sched-watch.ts)', () => {
  it('PCT with stepwise runs gives the trace and schedule of one decision per instruction', async () => {
    for (const name of EXAMPLES) {
      const s = await loadScenario(name);
      for (const seed of [1, 2, 7]) {
        const opts = { seed, depth: s.pct?.depth, steps: s.pct?.steps };
        const run = (strategy: Strategy) => {
          const k = bootRecipe(s);
          const r = runDeterministic(k, strategy);
          const verdicts = s.invariants.map((inv) => inv.check(k));
          return { replay: r.replay, steps: r.steps, ftrace: k.tracer?.toFtrace(), verdicts };
        };
        const batched = run(pct(opts));
        const stepped = run(pct({ ...opts, stepwise: false }));
        expect(batched.replay, `${name} seed ${seed}`).toBe(stepped.replay);
        expect(batched.steps).toBe(stepped.steps);
        expect(batched.ftrace).toBe(stepped.ftrace);
        expect(batched.verdicts).toEqual(stepped.verdicts);
      }
    }
  });
});
