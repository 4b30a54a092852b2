/**
 * The deterministic engine: all CPUs in one thread, interleaved by a
 * strategy that decides which CPU runs next and for how long, where extra
 * (reschedule) interrupts land, which waiting task migrates where, and how
 * late each timer interrupt arrives after its nominal time (a multiple of
 * the tick interval on the CPU's own instruction count; exact when the
 * strategy has no `tickDelay`). Nothing else is a source of choice, so the same machine, options and strategy seed give the
 * same run, trace included, byte for byte; the schedule log replays it.
 *
 * Robustness: an exception while a decision is applied is an emulator bug
 * (guest faults never throw: they are oopses). The run stops there with the
 * crash report parallel mode makes (emulator-crash.ts) and returns what it
 * gathered, its schedule log included, so the replay string reproduces the
 * crash. A wall-clock `timeoutMs` ends the run between two decisions.
 *
 * @example
 * const result = runDeterministic(machine, pct({ seed: 7, depth: 3 }));
 * result.replay; // 'v1.2.AQ...': runDeterministic(sameMachine, replay(result.replay))
 */

import { ErrnoError } from '../segments/errno.ts';
import type { CpuState } from './cpu-state.ts';
import {
  crashReport,
  describeRunning,
  type EmulatorCrash,
  emulatorCrash,
} from './emulator-crash.ts';
import { runCpuSteps } from './execution.ts';
import { raiseIrq } from './interrupts.ts';
import type { Kernel } from './kernel.ts';
import { type Decision, ScheduleLog } from './schedule-log.ts';
import { migrateTask } from './scheduler.ts';

export interface Strategy {
  /** A short description with its parameters, e.g. `pct(seed=7, depth=3)`. */
  readonly name: string;
  /** The next decision, or null to stop (a replay that ran out). */
  decide(k: Kernel): Decision | null;
  /** After a `stepwise` run: how many of its steps were taken (it may end early). */
  ranSteps?(steps: number): void;
  /**
   * When `cpu` programs its next timer interrupt: how many instructions
   * after its nominal time it arrives (0 or more). Without it, ticks come
   * exactly every tick interval of the CPU's own clock.
   */
  tickDelay?(k: Kernel, cpu: number): number;
}

export interface EngineOptions {
  /** Stop after this many emulated instructions (all CPUs). Default 10 million. */
  maxSteps?: number;
  /** Stop after this many ms of wall time, checked between decisions. Default: no limit. */
  timeoutMs?: number;
}

/**
 * Why a run ended: every task finished, the step budget was spent, the
 * strategy stopped deciding (a replay ran out), the wall-clock limit passed,
 * or an emulator exception stopped the machine.
 */
export type EngineEnd = 'finished' | 'max-steps' | 'schedule-ended' | 'timeout' | 'crashed';

export interface EngineResult {
  /** Every task that keeps a run going has exited. */
  readonly finished: boolean;
  readonly end: EngineEnd;
  /** The emulator exception that stopped the run (also reported in `k.reports`). */
  readonly crash?: EmulatorCrash;
  readonly steps: number;
  /** Replays this run exactly: `replay(result.replay)`. */
  readonly replay: string;
  readonly strategy: string;
}

export function runDeterministic(
  k: Kernel,
  strategy: Strategy,
  opts: EngineOptions = {},
): EngineResult {
  const maxSteps = opts.maxSteps ?? 10_000_000;
  const deadline = performance.now() + (opts.timeoutMs ?? Number.POSITIVE_INFINITY);
  const log = new ScheduleLog(k.nrCpus);
  let end: EngineEnd = 'max-steps';
  let crash: EmulatorCrash | undefined;
  let lastCpu = 0;
  let lookedAt = 0;
  chooseTicks(k, strategy, log);
  try {
    for (let n = 0; ; n++) {
      if (k.finished) {
        end = 'finished';
        break;
      }
      if (k.steps >= maxSteps) break;
      const look =
        (n & (DEADLINE_CHECK_EVERY - 1)) === 0 || k.steps - lookedAt >= DEADLINE_CHECK_STEPS;
      if (look) lookedAt = k.steps;
      if (look && performance.now() >= deadline) {
        end = 'timeout';
        timeoutReport(k, lastCpu, opts.timeoutMs!);
        break;
      }
      let d: Decision | null = null;
      try {
        d = strategy.decide(k);
        if (d === null) {
          end = 'schedule-ended';
          break;
        }
        lastCpu = d.cpu;
        const used =
          d.kind === 'run' && d.stepwise === true
            ? stepwise(k, strategy, d, maxSteps)
            : apply(k, d);
        // A run is logged by what it used: a hardirq handler may carry it past its
        // quantum, and merged runs replay exactly only when counted this way.
        log.record(d.kind === 'run' ? { kind: 'run', cpu: d.cpu, quantum: used } : d);
      } catch (e) {
        // A strategy's ErrnoError is about its input (a replay string for another machine).
        if (d === null ? e instanceof ErrnoError : d.cpu < 0 || d.cpu >= k.nrCpus) throw e;
        // Logged as decided: the replay runs into the same exception at the same instruction.
        if (d !== null) log.record(d);
        const c = k.cpus[lastCpu];
        crash = emulatorCrash(k, c, e);
        k.reports.push(crashReport(k, crash, { pid: c.curr.pid, comm: c.curr.comm, ts: k.now() }));
        end = 'crashed';
        break;
      }
    }
  } finally {
    for (const c of k.cpus) c.tickDelay = null;
  }
  return {
    finished: k.finished,
    end,
    crash,
    steps: k.steps,
    replay: log.encode(),
    strategy: strategy.name,
  };
}

/**
 * Hands the timer's arrival to the strategy: each CPU asks it when it
 * programs a tick, and the answers go into the log. The tick each CPU has
 * pending now moves too.
 */
function chooseTicks(k: Kernel, strategy: Strategy, log: ScheduleLog): void {
  if (strategy.tickDelay === undefined) return;
  const delay = (c: CpuState): number => {
    const d = strategy.tickDelay!(k, c.id);
    if (!Number.isSafeInteger(d) || d < 0)
      throw new ErrnoError('EINVAL', `${strategy.name} chose tick delay ${d} for CPU ${c.id}`);
    log.record({ kind: 'tick', cpu: c.id, delay: d });
    return d;
  };
  for (const c of k.cpus) {
    c.tickDelay = delay;
    if (c.clock < c.tickNominal) c.nextTick = c.tickNominal + delay(c);
  }
}

/** A stepwise run (see Decision): its steps go back to the strategy; returns the instructions used. */
function stepwise(
  k: Kernel,
  strategy: Strategy,
  d: Decision & { kind: 'run' },
  maxSteps: number,
): number {
  const c = k.cpus[d.cpu];
  if (c === undefined) throw new ErrnoError('EINVAL', `decision names CPU ${d.cpu} of ${k.nrCpus}`);
  const start = c.clock;
  strategy.ranSteps?.(runCpuSteps(k, c, d.quantum, maxSteps));
  return c.clock - start;
}

/** Decisions between two looks at the wall clock (a power of two). */
const DEADLINE_CHECK_EVERY = 64;
/** Instructions between two looks at the wall clock at most (stepwise runs are long decisions). */
const DEADLINE_CHECK_STEPS = 4096;

/** The report of a run the wall-clock limit ended: where each CPU was. */
function timeoutReport(k: Kernel, lastCpu: number, timeoutMs: number): void {
  const c = k.cpus[lastCpu] ?? k.cpus[0];
  const lines = [
    `percpu-emu: the time limit (${Math.round(timeoutMs)} ms) passed after ${k.steps} instructions; the run was stopped between two decisions`,
    ...k.cpus.map((x) => `  CPU#${x.id}: ${describeRunning(k, x)}`),
  ];
  k.reports.push({
    kind: 'warning',
    cpu: c.id,
    pid: c.curr.pid,
    comm: c.curr.comm,
    ts: k.now(),
    lines,
  });
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
    case 'tick':
      // A strategy answers tickDelay with these; as a decision it sets the pending tick.
      k.cpus[d.cpu].nextTick = k.cpus[d.cpu].tickNominal + d.delay;
      return 0;
  }
}
