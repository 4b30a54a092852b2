/**
 * Lab stale-pointer's named scenarios: what the tests run and what
 * `percpu-emu lab run stale-pointer <name>` replays.
 *
 * @example
 * await STALE_SCENARIOS.migrate.build(dir);
 */

import type { LabScenario } from '../grader/lab.ts';
import { staleScenario } from './harness.ts';

export const STALE_SCENARIOS: Record<string, LabScenario> = {
  pinned: {
    description: 'part A with every task pinned to its CPU',
    build: (dir) => staleScenario(dir, { part: 'a', pinned: true }),
  },
  migrate: {
    description: 'part A, tasks free to migrate',
    build: (dir) => staleScenario(dir, { part: 'a', pinned: false }),
  },
  tokens: {
    description: 'part B (PerCpuToken), tasks free to migrate',
    build: (dir) => staleScenario(dir, { part: 'b', pinned: false }),
  },
};
