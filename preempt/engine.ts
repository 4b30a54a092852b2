/**
 * The deterministic engine: all CPUs in one thread, interleaved by a
 * strategy that decides which CPU runs next and for how long, where extra
 * (reschedule) interrupts land and which waiting task migrates where. Timer
 * interrupts come from each CPU's own instruction count. Nothing else is a
 * source of choice, so the same machine, options and strategy seed give the
 * same run, trace included, byte for byte; the schedule log replays it.
 *
 * @example
 * const result = runDeterministic(machine, pct({ seed: 7, depth: 3 }));
 * result.replay; // 'v1.2.AQ...': runDeterministic(sameMachine, replay(result.replay))
 */

import { ErrnoError } from '../segments/errno.ts';
import { raiseIrq } from './interrupts.ts';
import type { Kernel } from './kernel.ts';
import { type Decision, ScheduleLog } from './schedule-log.ts';
import { migrateTask } from './scheduler.ts';

export interface Strategy {
  /** A short description with its parameters, e.g. `pct(seed=7, depth=3)`. */
  readonly name: string;
  /** The next decision, or null to stop (a replay that ran out). */
  decide(k: Kernel): Decision | null;
}

export interface EngineOptions {
  /** Stop after this many emulated instructions (all CPUs). Default 10 million. */
  maxSteps?: number;
  /**
   * Stop once this many ms of wall-clock time have passed, checked between
   * decisions (a run cut short this way is not reproducible). No limit by default.
   */
  timeoutMs?: number;
}

export interface EngineResult {
  /** Every task that keeps a run going has exited. */
  readonly finished: boolean;
  readonly steps: number;
  /** Replays this run exactly: `replay(result.replay)`. */
  readonly replay: string;
  readonly strategy: string;
  /** The run was stopped by `timeoutMs`. */
  readonly timedOut?: boolean;
}

export function runDeterministic(
  k: Kernel,
  strategy: Strategy,
  opts: EngineOptions = {},
): EngineResult {
  const maxSteps = opts.maxSteps ?? 10_000_000;
  const log = new ScheduleLog(k.nrCpus);
  const deadline = opts.timeoutMs === undefined ? Infinity : performance.now() + opts.timeoutMs;
  let timedOut = false;
  while (!k.finished && k.steps < maxSteps) {
    if (performance.now() > deadline) {
      timedOut = true;
      break;
    }
    const d = strategy.decide(k);
    if (d === null) break;
    const used = apply(k, d);
    // A run is logged by what it used: a hardirq handler may carry it past its
    // quantum, and merged runs replay exactly only when counted this way.
    log.record(d.kind === 'run' ? { kind: 'run', cpu: d.cpu, quantum: used } : d);
  }
  const result = {
    finished: k.finished,
    steps: k.steps,
    replay: log.encode(),
    strategy: strategy.name,
  };
  return timedOut ? { ...result, timedOut } : result;
}

/** Applies one decision; returns the instructions a run used (0 otherwise). */
export function apply(k: Kernel, d: Decision): number {
  if (d.cpu < 0 || d.cpu >= k.nrCpus)
    throw new ErrnoError('EINVAL', `decision names CPU ${d.cpu} of ${k.nrCpus}`);
  switch (d.kind) {
    case 'run':
      return k.runCpu(d.cpu, d.quantum);
    case 'kick':
      raiseIrq(k.cpus[d.cpu], 'reschedule');
      return 0;
    case 'migrate': {
      const task = k.tasks.get(d.pid);
      if (task !== undefined) migrateTask(k, task, d.cpu);
      return 0;
    }
  }
}
