/**
 * Lab kalloc: per-CPU free lists with stealing, xv6's "kalloc" lock lab
 * transposed to a per-CPU machine. The tests: the allocator is correct (no
 * page lost or handed out twice, only pool pages) on one CPU, under PCT and
 * random schedules on 2 and 4 CPUs, and in parallel mode; it takes its
 * per-CPU pointers with preemption off; and its locks are not contended, as
 * the machine's spinlock statistics count it (kalloctest's #test-and-set).
 *
 * @example
 * await gradeLab(kallocLab, '/home/me/kalloc');
 */

import { runScenario } from 'percpu-emu';
import { type Lab, labFolder, type Submission, type TestOutcome } from '../grader/lab.ts';
import {
  failureOf,
  holdsInParallel,
  holdsUnder,
  MAX_STEPS,
  type RunCheck,
} from '../grader/schedules.ts';
import { lockStat } from './harness.ts';
import { KALLOC_SCENARIOS } from './scenarios.ts';

const RECIPE = new URL(
  `./recipe${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
).href;

const noDebugPreempt: RunCheck = (r) =>
  r.machine.debugPreemptReports === 0
    ? undefined
    : `${r.machine.debugPreemptReports} DEBUG_PREEMPT reports: ${r.reports.find((x) => x.kind === 'debug_preempt')?.lines[0]}`;

/**
 * Contention: the allocator's spins per acquisition, over all its locks and
 * the given schedules, must stay at most `limit`. Each run must also hold.
 */
async function contention(
  s: Submission,
  runs: { strategy: 'rr' | 'random'; seed: number }[],
  limit: number,
): Promise<TestOutcome> {
  const scenario = await KALLOC_SCENARIOS.stress.build(s.dir);
  let spins = 0;
  let acquisitions = 0;
  let table = '';
  for (const run of runs) {
    const r = runScenario(scenario, {
      strategy: run.strategy,
      seed: run.seed,
      quantum: run.seed,
      maxSteps: MAX_STEPS,
    });
    const failure = failureOf(r);
    if (failure !== undefined)
      return { ok: false, detail: `${run.strategy} ${run.seed}: ${failure}` };
    const ls = lockStat(r.machine);
    spins += ls.spins;
    acquisitions += ls.acquisitions;
    table ||= ls.table;
  }
  const ratio = acquisitions === 0 ? 0 : spins / acquisitions;
  return {
    ok: ratio <= limit,
    detail: `measured ${spins} spins over ${acquisitions} acquisitions = ${ratio.toFixed(3)} per acquisition (at most ${limit}); the first run's locks:\n${table}`,
  };
}

const seeds = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

export const kallocLab: Lab = {
  name: 'kalloc',
  title: 'Per-CPU free lists with stealing',
  folder: labFolder(import.meta.url, 'kalloc'),
  studentFiles: ['kalloc.s'],
  scenarios: KALLOC_SCENARIOS,
  tests: [
    {
      name: 'kalloc and kfree on one CPU',
      points: 10,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'one-cpu', { strategy: 'rr', runs: 1 }),
    },
    {
      name: 'no page lost or handed out twice under PCT (60 schedules)',
      points: 15,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'stress', { strategy: 'pct', runs: 60, steps: 6000 }),
    },
    {
      name: 'no page lost or handed out twice under random schedules (100)',
      points: 15,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'stress', { strategy: 'random', runs: 100 }),
    },
    {
      name: 'no page lost or handed out twice on 4 CPUs under PCT (20 schedules)',
      points: 10,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'stress-4', { strategy: 'pct', runs: 20, steps: 8000 }),
    },
    {
      name: 'per-CPU pointers taken with preemption off (no DEBUG_PREEMPT report)',
      points: 5,
      mode: 'deterministic',
      run: (s) =>
        holdsUnder(s, 'stress', { strategy: 'pct', runs: 10, steps: 6000 }, noDebugPreempt),
    },
    {
      name: 'lock contention under round robin (quantum 3..13)',
      points: 20,
      mode: 'deterministic',
      run: (s) =>
        contention(
          s,
          [3, 5, 7, 11, 13].map((q) => ({ strategy: 'rr', seed: q })),
          0.05,
        ),
    },
    {
      name: 'lock contention under random schedules (20)',
      points: 15,
      mode: 'deterministic',
      run: (s) =>
        contention(
          s,
          seeds(20).map((seed) => ({ strategy: 'random', seed })),
          0.6,
        ),
    },
    {
      name: 'no page lost or handed out twice in parallel mode (3 runs)',
      points: 10,
      mode: 'parallel',
      run: (s) => holdsInParallel(s, RECIPE, 'stress', 3),
    },
  ],
};
