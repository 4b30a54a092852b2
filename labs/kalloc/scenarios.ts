/**
 * Lab kalloc's named scenarios, each a run of the harness (harness.ts) with
 * the student's kalloc.s: what the tests run and what `percpu-emu lab run
 * kalloc <name>` replays.
 *
 * @example
 * KALLOC_SCENARIOS.stress.build(dir);
 */

import type { LabScenario } from '../grader/lab.ts';
import { kallocScenario } from './harness.ts';

export const KALLOC_SCENARIOS: Record<string, LabScenario> = {
  'one-cpu': {
    description: '2 tasks on 1 CPU allocate and free pages',
    build: (dir) => kallocScenario(dir, { cpus: 1, rounds: 8, workersPerCpu: 2 }),
  },
  stress: {
    description: '2 tasks per CPU on 2 CPUs allocate and free pages; then one allocates all',
    build: (dir) => kallocScenario(dir, { cpus: 2, rounds: 8, workersPerCpu: 2 }),
  },
  'stress-4': {
    description: '2 tasks per CPU on 4 CPUs allocate and free pages; then one allocates all',
    build: (dir) => kallocScenario(dir, { cpus: 4, rounds: 6, workersPerCpu: 2 }),
  },
};
