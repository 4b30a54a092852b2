/**
 * Lab stale-pointer: a per-CPU cache whose users take `this_cpu_ptr` and
 * then may migrate. Part A fixes the race with a CpuGuard (or
 * migrate_disable's MigrateGuard); part B reaches the counter only through
 * the Rust-for-Linux-style PerCpuToken, which cannot exist without a live
 * guard. Deterministic mode only: the tasks are TS and migrate, and the
 * parallel runner binds every TS task to one CPU.
 *
 * @example
 * await gradeLab(stalePointerLab, '/home/me/stale-pointer');
 */

import { type Lab, labFolder } from '../grader/lab.ts';
import { holdsUnder, type RunCheck } from '../grader/schedules.ts';
import { STALE_SCENARIOS } from './scenarios.ts';

const noDebugPreempt: RunCheck = (r) =>
  r.machine.debugPreemptReports === 0
    ? undefined
    : `${r.machine.debugPreemptReports} DEBUG_PREEMPT reports, the first: ${r.reports
        .find((x) => x.kind === 'debug_preempt')
        ?.lines.slice(0, 2)
        .join(' / ')}`;

export const stalePointerLab: Lab = {
  name: 'stale-pointer',
  title: 'Stale per-CPU pointers and migration',
  folder: labFolder(import.meta.url, 'stale-pointer'),
  studentFiles: ['cache.ts'],
  scenarios: STALE_SCENARIOS,
  tests: [
    {
      name: 'part A: exact with every task pinned to its CPU',
      points: 10,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'pinned', { strategy: 'pct', runs: 20 }),
    },
    {
      name: 'part A: exact with migrations under PCT (200 schedules)',
      points: 25,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'migrate', { strategy: 'pct', runs: 200 }),
    },
    {
      name: 'part A: exact with migrations under random schedules (100)',
      points: 15,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'migrate', { strategy: 'random', runs: 100 }),
    },
    {
      name: 'part A: no DEBUG_PREEMPT report',
      points: 10,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'migrate', { strategy: 'pct', runs: 10 }, noDebugPreempt),
    },
    {
      name: 'part B: tokens, exact with migrations under PCT (200 schedules)',
      points: 25,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'tokens', { strategy: 'pct', runs: 200 }, noDebugPreempt),
    },
    {
      name: 'part B: tokens, exact with migrations under random schedules (100)',
      points: 15,
      mode: 'deterministic',
      run: (s) => holdsUnder(s, 'tokens', { strategy: 'random', runs: 100 }, noDebugPreempt),
    },
  ],
};
