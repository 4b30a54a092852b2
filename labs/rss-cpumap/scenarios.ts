/**
 * Lab rss-cpumap's named scenarios: one per test, each the harness with
 * that test's invariants, so `percpu-emu lab run rss-cpumap <name>
 * --replay ...` replays a failing schedule with exactly what the test
 * checked.
 *
 * @example
 * RSS_SCENARIOS.order.build(dir);
 */

import type { LabScenario } from '../grader/lab.ts';
import { type RssCheck, type RssOptions, rssScenario } from './harness.ts';

/** Frames per emulated second: CPU 0 keeps up, the rings (qsize 64) never fill. */
const RATE = 8000;

const scenario = (description: string, o: RssOptions): LabScenario => ({
  description,
  build: (dir) => rssScenario(dir, o),
});

const steady = (name: string, invariants: RssCheck[]): RssOptions => ({
  name,
  qsize: 64,
  rate: RATE,
  invariants: ['accounted', ...invariants],
});

export const RSS_SCENARIOS: Record<string, LabScenario> = {
  accounted: scenario('steady traffic: every frame accounted for', steady('accounted', [])),
  balance: scenario('steady traffic: frames per target CPU', steady('balance', ['balance'])),
  order: scenario("steady traffic: each flow's order at the stack", steady('order', ['order'])),
  stats: scenario('steady traffic: stats against the stacks', steady('stats', ['stats'])),
  'percpu-stats': scenario(
    "steady traffic: each CPU's stats against its stack",
    steady('percpu-stats', ['percpu-stats']),
  ),
  malformed: scenario('steady traffic with malformed frames', steady('malformed', ['malformed'])),
  pressure: scenario('one burst into rings of 8: drops counted, order and stats still exact', {
    name: 'pressure',
    qsize: 8,
    invariants: ['accounted', 'order', 'stats'],
  }),
};
