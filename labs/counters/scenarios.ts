/**
 * Lab counters' named scenarios: what the tests run and what `percpu-emu lab
 * run counters <name>` replays. `tick-<n>` puts the timer interrupt every n
 * instructions, with one task per CPU, so that the sweep over n puts a tick
 * at every instruction of the update (from 30: the handler's own
 * instructions count towards the next tick).
 *
 * @example
 * COUNTERS_SCENARIOS['two-tasks'].build(dir);
 */

import type { LabScenario } from '../grader/lab.ts';
import { countersScenario } from './harness.ts';

/** The tick intervals of the every-tick-position sweep. */
export const TICK_SWEEP = Array.from({ length: 40 }, (_, i) => i + 30);

export const COUNTERS_SCENARIOS: Record<string, LabScenario> = {
  quiet: {
    description: 'one task per CPU, no timer interrupt during the run',
    build: (dir) => countersScenario(dir, { tasksPerCpu: 1, tickInterval: 1_000_000 }),
  },
  'two-tasks': {
    description: 'two tasks per CPU and the timer handler every 37 instructions',
    build: (dir) => countersScenario(dir, { tasksPerCpu: 2, tickInterval: 37 }),
  },
  ...Object.fromEntries(
    TICK_SWEEP.map((t) => [
      `tick-${t}`,
      {
        description: `one task per CPU and the timer handler every ${t} instructions`,
        build: (dir: string) => countersScenario(dir, { tasksPerCpu: 1, tickInterval: t }),
      },
    ]),
  ),
};
