/**
 * Lab rss-cpumap: software RSS with an XDP program and a CPUMAP, in C.
 * Every frame arrives on CPU 0; the student's `xdp_steer` must spread the
 * flows over CPUs 1-3 while keeping each flow's frames in order (one flow,
 * one CPU), drop and count malformed frames, and keep per-CPU statistics
 * exact in the cpumap program `rx_stats` that runs in each target CPU's
 * kthread. The tests: everything accounted for, balance, order under PCT
 * and random schedules, statistics exact (random schedules find the lost
 * updates of a shared counter), statistics per CPU, malformed frames, and
 * all of it again with rings of 8 under a burst, where frames are dropped
 * (counted, never lost). Deterministic mode only: parallel mode does not
 * run the network layer yet.
 *
 * @example
 * await gradeLab(rssCpumapLab, '/home/me/rss-cpumap');
 */

import { type Lab, labFolder, type Submission, type TestOutcome } from '../grader/lab.ts';
import { holdsUnder, type Sweep } from '../grader/schedules.ts';
import { clangMissing } from './harness.ts';
import { RSS_SCENARIOS } from './scenarios.ts';

/** holdsUnder, or a FAIL saying clang is missing (nothing can be graded without it). */
function graded(name: string, sweep: Sweep) {
  return (s: Submission): TestOutcome | Promise<TestOutcome> => {
    const missing = clangMissing();
    return missing === null ? holdsUnder(s, name, sweep) : { ok: false, detail: missing };
  };
}

export const rssCpumapLab: Lab = {
  name: 'rss-cpumap',
  title: 'RSS with a cpumap',
  folder: labFolder(import.meta.url, 'rss-cpumap'),
  studentFiles: ['steer.bpf.c'],
  scenarios: RSS_SCENARIOS,
  tests: [
    {
      name: 'steer.bpf.c builds, loads, and every frame is accounted for',
      points: 10,
      mode: 'deterministic',
      run: graded('accounted', { strategy: 'rr', runs: 1 }),
    },
    {
      name: 'balance: CPUs 1-3 each get 10%..60% of the frames',
      points: 15,
      mode: 'deterministic',
      run: graded('balance', { strategy: 'rr', runs: 1 }),
    },
    {
      name: 'order: every flow in order under PCT (40 schedules)',
      points: 20,
      mode: 'deterministic',
      run: graded('order', { strategy: 'pct', runs: 40 }),
    },
    {
      name: 'order: every flow in order under random schedules (40)',
      points: 10,
      mode: 'deterministic',
      run: graded('order', { strategy: 'random', runs: 40 }),
    },
    {
      name: 'statistics exact under random schedules (60)',
      points: 15,
      mode: 'deterministic',
      run: graded('stats', { strategy: 'random', runs: 60 }),
    },
    {
      name: "statistics per CPU: each CPU's rx_packets is its stack's (PCT, 10 schedules)",
      points: 10,
      mode: 'deterministic',
      run: graded('percpu-stats', { strategy: 'pct', runs: 10 }),
    },
    {
      name: 'malformed frames dropped in XDP and counted',
      points: 10,
      mode: 'deterministic',
      run: graded('malformed', { strategy: 'rr', runs: 1 }),
    },
    {
      name: 'rings of 8 under a burst: drops counted, order and statistics exact (PCT, 30 schedules)',
      points: 10,
      mode: 'deterministic',
      run: graded('pressure', { strategy: 'pct', runs: 30 }),
    },
  ],
};
