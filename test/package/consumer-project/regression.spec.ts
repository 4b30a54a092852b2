// A user's regression test: explore the racy counter until it breaks, then
// check that its replay string reproduces the same failure.
import { explore, runScenario } from 'percpu-emu';
import { expect, it } from 'vitest';
import { counter } from './counter.ts';

it('finds the lost update and replays it', () => {
  const found = explore(counter(false), { runs: 50 });
  expect(found.failure, 'a schedule that loses an update').toBeDefined();
  const replay = found.failure?.replay ?? '';
  expect(replay).toMatch(/^v\d+\./);
  const again = runScenario(counter(false), { replay });
  expect(again.ok).toBe(false);
  expect(again.verdicts.map((v) => v.detail)).toEqual(found.failure?.verdicts.map((v) => v.detail));
});

it('the fixed counter holds', () => {
  expect(explore(counter(true), { runs: 20 }).failure).toBeUndefined();
});
