/**
 * Schedule minimization: a failing run's schedule shrunk to one that still
 * breaks the same invariant, with as few forced preemptions (kicks) and
 * migrations and as short a chosen prefix as a greedy search finds. A
 * candidate is a prefix of the failing schedule's decisions (with its
 * tick delays) followed by round-robin to the end of the run; the search
 * first finds the shortest prefix that still fails (bisection), then drops
 * the kicks and migrations left in it one at a time, latest first, keeping
 * each removal that still fails. Every candidate is run, so the answer
 * never passes: at worst it is the original schedule.
 *
 * @example
 * const r = runScenario(lostUpdate('racy'), { seed: 1 });
 * const m = minimize(lostUpdate('racy'), r);
 * m.replay; // a v2 replay string: runScenario(scenario, { replay: m.replay }) fails the same way
 */

import type { Strategy } from '../preempt/engine.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { bootUnsetRecipe } from '../preempt/machine.ts';
import { type Decision, ScheduleLog } from '../preempt/schedule-log.ts';
import { roundRobin } from '../preempt/strategies/round-robin.ts';
import { ErrnoError } from '../segments/errno.ts';
import { decodeReplay, scenarioFingerprint } from './replay-string.ts';
import { type RunScenarioOptions, runScenario, type ScenarioResult } from './run-scenario.ts';
import { allTasksExited, type Scenario } from './scenario.ts';

/** What a schedule does to the machine, as minimization counts it. */
export interface ScheduleCost {
  /** The v2 replay string. */
  readonly replay: string;
  /** Reschedule interrupts the schedule forces (kick decisions). */
  readonly preemptions: number;
  readonly migrations: number;
  /** Context switches the run made (every CPU's rq->nr_switches). */
  readonly switches: number;
}

export interface MinimizeResult extends ScheduleCost {
  /** The invariant both runs break. */
  readonly invariant: string;
  /** The shrunk run. */
  readonly result: ScenarioResult;
  readonly original: ScheduleCost;
  /** Candidate schedules run. */
  readonly tries: number;
}

export interface MinimizeOptions extends Pick<RunScenarioOptions, 'cpus' | 'maxSteps'> {
  /** Candidate runs at most. Default 200. */
  budget?: number;
}

/** `list`, then round-robin; each CPU's tick delays from `list`, then exact ticks. */
function prefixThenRoundRobin(cpus: number, list: readonly Decision[]): Strategy {
  const rest = roundRobin();
  const decisions = list.filter((d) => d.kind !== 'tick');
  const ticks = Array.from({ length: cpus }, (): number[] => []);
  for (const d of list) if (d.kind === 'tick') ticks[d.cpu].push(d.delay);
  const tickAt = new Array<number>(cpus).fill(0);
  let at = 0;
  return {
    name: `prefix(${decisions.length} decisions) then ${rest.name}`,
    decide: (k: Kernel) => (at < decisions.length ? decisions[at++] : rest.decide(k)),
    tickDelay: (_k: Kernel, cpu: number) =>
      tickAt[cpu] < ticks[cpu].length ? ticks[cpu][tickAt[cpu]++] : 0,
  };
}

function costOf(r: ScenarioResult): ScheduleCost {
  const { list } = ScheduleLog.decode(r.engine.replay);
  return {
    replay: r.replay,
    preemptions: list.filter((d) => d.kind === 'kick').length,
    migrations: list.filter((d) => d.kind === 'migrate').length,
    switches: r.machine.cpus.reduce((n, c) => n + Number(c.rq.nrSwitches), 0),
  };
}

/** The invariant a failing run is minimized against: the first broken one the scenario states. */
function targetOf(r: ScenarioResult): string {
  const broken = r.verdicts.filter((v) => !v.ok);
  const own = broken.find((v) => v.name !== allTasksExited.name) ?? broken[0];
  if (own === undefined) {
    throw new ErrnoError(
      'EINVAL',
      `the run of ${r.scenario.name} broke no invariant: nothing to minimize`,
    );
  }
  return own.name;
}

export function minimize(
  s: Scenario,
  failing: ScenarioResult,
  opts: MinimizeOptions = {},
): MinimizeResult {
  const invariant = targetOf(failing);
  const budget = opts.budget ?? 200;
  // The fingerprint of the machine as set up, before the run changed it.
  const fresh = bootUnsetRecipe(s, opts.cpus === undefined ? {} : { cpus: opts.cpus });
  s.setup(fresh);
  const schedule = decodeReplay(failing.replay, scenarioFingerprint(s, fresh));
  const { cpus, list } = ScheduleLog.decode(schedule);
  let tries = 0;
  const attempt = (candidate: readonly Decision[]): ScenarioResult | null => {
    tries++;
    const r = runScenario(s, {
      cpus: opts.cpus,
      maxSteps: opts.maxSteps,
      schedule: prefixThenRoundRobin(cpus, candidate),
    });
    return r.verdicts.some((v) => v.name === invariant && !v.ok) ? r : null;
  };
  let best = list;
  let bestRun = failing;
  // The shortest prefix that still fails (the whole schedule does: it is the run itself).
  let lo = 0;
  let hi = list.length;
  while (lo < hi && tries < budget) {
    const mid = (lo + hi) >> 1;
    const r = attempt(list.slice(0, mid));
    if (r === null) {
      lo = mid + 1;
    } else {
      hi = mid;
      best = list.slice(0, mid);
      bestRun = r;
    }
  }
  // Then each forced preemption and migration left, latest first.
  for (let i = best.length - 1; i >= 0 && tries < budget; i--) {
    if (best[i].kind !== 'kick' && best[i].kind !== 'migrate') continue;
    const candidate = [...best.slice(0, i), ...best.slice(i + 1)];
    const r = attempt(candidate);
    if (r !== null) {
      best = candidate;
      bestRun = r;
    }
  }
  return { invariant, ...costOf(bestRun), result: bestRun, original: costOf(failing), tries };
}
