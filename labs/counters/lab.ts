/**
 * Lab counters: make a per-CPU statistics struct exact when it is updated
 * from preemptible task context and from the timer interrupt handler. The
 * tests: exact with no interrupts; against the handler with a tick at every
 * instruction position (tickInterval 30..69, one task per CPU, which covers
 * every place a tick can split the update); with two tasks per CPU under
 * PCT and random schedules; no DEBUG_PREEMPT report; the cost of a task
 * update in instructions; and exact in parallel mode.
 *
 * @example
 * await gradeLab(countersLab, '/home/me/counters');
 */

import { ErrnoError, runScenario } from 'percpu-emu';
import { type Lab, labFolder, type Submission, type TestOutcome } from '../grader/lab.ts';
import {
  failureOf,
  holdsInParallel,
  holdsUnder,
  labRunCommand,
  MAX_STEPS,
  type RunCheck,
} from '../grader/schedules.ts';
import { countersScenario, ITERATIONS } from './harness.ts';
import { COUNTERS_SCENARIOS, TICK_SWEEP } from './scenarios.ts';

const RECIPE = new URL(
  `./recipe${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
).href;

/** Instructions a task update may cost: stats_task_update's own, its exit included. */
export const COST_BUDGET = 10;

const noDebugPreempt: RunCheck = (r) =>
  r.machine.debugPreemptReports === 0
    ? undefined
    : `${r.machine.debugPreemptReports} DEBUG_PREEMPT reports, the first: ${r.reports
        .find((x) => x.kind === 'debug_preempt')
        ?.lines.slice(0, 2)
        .join(' / ')}`;

/** Every tick position: one run per tick interval, round robin, each must hold. */
async function everyTickPosition(s: Submission): Promise<TestOutcome> {
  for (const t of TICK_SWEEP) {
    const r = await holdsUnder(s, `tick-${t}`, { strategy: 'rr', runs: 1 });
    if (!r.ok) return { ...r, detail: `tick every ${t} instructions, ${r.detail}` };
  }
  return { ok: true, detail: `${TICK_SWEEP.length} tick intervals held` };
}

/**
 * The instructions one task update costs: one task on one CPU with no
 * interrupt, minus the same run with empty functions, per update. The
 * update must be exact under PCT too, or a cheap wrong update would score.
 */
async function cost(s: Submission): Promise<TestOutcome> {
  const exact = await holdsUnder(s, 'two-tasks', { strategy: 'pct', runs: 20 });
  if (!exact.ok) return { ...exact, detail: `not exact, so not measured: ${exact.detail}` };
  const steps = (stub: boolean) => {
    const scenario = countersScenario(s.dir, { tasksPerCpu: 1, tickInterval: 1e9, cpus: 1, stub });
    const r = runScenario(scenario, { strategy: 'rr', maxSteps: MAX_STEPS });
    // The empty baseline counts nothing: only the student's run is judged.
    const failure = stub ? undefined : failureOf(r);
    if (failure !== undefined) throw new ErrnoError('EINVAL', failure);
    return r.engine.steps;
  };
  const perUpdate = (steps(false) - steps(true)) / ITERATIONS + 2;
  return {
    ok: perUpdate <= COST_BUDGET,
    detail: `measured ${perUpdate.toFixed(1)} instructions per task update, the function's exit included (budget ${COST_BUDGET})`,
    replay: perUpdate <= COST_BUDGET ? undefined : labRunCommand(s, 'quiet', '--strategy rr'),
  };
}

export const countersLab: Lab = {
  name: 'counters',
  title: 'Per-CPU counters',
  folder: labFolder(import.meta.url, 'counters'),
  studentFiles: ['stats.s'],
  scenarios: COUNTERS_SCENARIOS,
  tests: [
    {
      name: 'stats exact with no timer interrupt',
      points: 10,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'quiet', { strategy: 'rr', runs: 1 }),
    },
    {
      name: `stats exact against the timer handler at every tick position (${TICK_SWEEP.length} intervals)`,
      points: 20,
      mode: 'deterministic',
      run: everyTickPosition,
    },
    {
      name: 'stats exact with two tasks per CPU under PCT (100 schedules)',
      points: 20,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'two-tasks', { strategy: 'pct', runs: 100 }),
    },
    {
      name: 'stats exact with two tasks per CPU under random schedules (100)',
      points: 10,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'two-tasks', { strategy: 'random', runs: 100 }),
    },
    {
      name: 'no DEBUG_PREEMPT report (smp_processor_id() in preemptible code)',
      points: 15,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'two-tasks', { strategy: 'pct', runs: 5 }, noDebugPreempt),
    },
    {
      name: `a task update costs at most ${COST_BUDGET} instructions`,
      points: 15,
      mode: 'deterministic',
      run: cost,
    },
    {
      name: 'stats exact in parallel mode (3 runs)',
      points: 10,
      mode: 'parallel',
      run: (s) => holdsInParallel(s, RECIPE, 'two-tasks', 3),
    },
  ],
};
