/**
 * Runs a scenario once on a fresh machine under the deterministic engine and
 * judges its invariants. Then, when every task has finished, the machine
 * shuts down: the scenario's map fds are closed, and the per-CPU
 * allocations still live are reported as leaks (kmemleak's `unreferenced
 * percpu object` reports, kind `leak`). The same scenario, options and seed
 * give the same result, trace included; `result.replay` reproduces it with
 * `replay`.
 *
 * @example
 * const r = runScenario(scenario, { strategy: 'pct', seed: 3 });
 * r.ok;      // every invariant held
 * r.replay;  // 'v2....': runScenario(scenario, { replay: r.replay }) runs it again
 */

import { type EngineResult, runDeterministic, type Strategy } from '../preempt/engine.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { bootRecipe } from '../preempt/machine.ts';
import type { Report } from '../preempt/reports.ts';
import { pct } from '../preempt/strategies/pct.ts';
import { random } from '../preempt/strategies/random.ts';
import { replay } from '../preempt/strategies/replay.ts';
import { roundRobin } from '../preempt/strategies/round-robin.ts';
import { ErrnoError } from '../segments/errno.ts';
import {
  decodeReplay,
  encodeReplay,
  type ScenarioFingerprint,
  scenarioFingerprint,
} from './replay-string.ts';
import { allTasksExited, type Scenario, type Verdict } from './scenario.ts';

export type StrategyName = 'rr' | 'random' | 'pct';

export interface RunScenarioOptions {
  cpus?: number;
  strategy?: StrategyName;
  seed?: number;
  /** PCT depth d. */
  depth?: number;
  /** PCT steps k. */
  steps?: number;
  /** Round-robin quantum. */
  quantum?: number;
  /**
   * Replays a run from its replay string (scenarios/replay-string.ts) instead
   * of running a strategy; EINVAL when it was recorded on another scenario.
   */
  replay?: string;
  maxSteps?: number;
  /** Wall-clock limit of the run in ms; see EngineOptions.timeoutMs. */
  timeoutMs?: number;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  /** The booted machine the run used, as it ended. */
  readonly machine: Kernel;
  readonly engine: EngineResult;
  readonly verdicts: readonly (Verdict & { readonly name: string })[];
  readonly ok: boolean;
  readonly reports: readonly Report[];
  /** Replays this run: `runScenario(scenario, { replay })`; empty for a parallel run. */
  readonly replay: string;
}

/** The strategy `opts` choose; a replay's schedule is passed already decoded. */
export function makeStrategy(s: Scenario, opts: RunScenarioOptions, schedule?: string): Strategy {
  if (schedule !== undefined) return replay(schedule);
  const seed = opts.seed ?? 1;
  switch (opts.strategy ?? 'pct') {
    case 'rr':
      return roundRobin({ quantum: opts.quantum });
    case 'random':
      return random({ seed });
    case 'pct':
      return pct({ seed, depth: opts.depth ?? s.pct?.depth, steps: opts.steps ?? s.pct?.steps });
  }
  throw new ErrnoError('EINVAL', `unknown strategy '${opts.strategy}': use rr, random or pct`);
}

export function runScenario(s: Scenario, opts: RunScenarioOptions = {}): ScenarioResult {
  return runBootedScenario(bootScenario(s, opts));
}

/** A scenario booted and set up, its strategy chosen, not run yet. */
export interface BootedScenario {
  readonly scenario: Scenario;
  readonly machine: Kernel;
  readonly fingerprint: ScenarioFingerprint;
  readonly strategy: Strategy;
  readonly opts: RunScenarioOptions;
}

/**
 * The first half of runScenario: boots the machine, runs the scenario's
 * `define` and `setup`, and checks a replay string against the scenario.
 * What goes wrong here is the input's fault (EINVAL for a replay string of
 * another scenario); what goes wrong in runBootedScenario is the run's.
 *
 * @example
 * const booted = bootScenario(scenario, { replay });   // throws on a foreign replay string
 * const r = runBootedScenario(booted);
 */
export function bootScenario(s: Scenario, opts: RunScenarioOptions = {}): BootedScenario {
  const machine = bootRecipe(s, opts.cpus === undefined ? {} : { cpus: opts.cpus });
  const fingerprint = scenarioFingerprint(s, machine);
  const schedule = opts.replay === undefined ? undefined : decodeReplay(opts.replay, fingerprint);
  return { scenario: s, machine, fingerprint, strategy: makeStrategy(s, opts, schedule), opts };
}

/** Runs a booted scenario and judges its invariants: the second half of runScenario. */
export function runBootedScenario(booted: BootedScenario): ScenarioResult {
  const { scenario: s, machine, opts } = booted;
  const engine = runDeterministic(machine, booted.strategy, {
    maxSteps: opts.maxSteps,
    timeoutMs: opts.timeoutMs,
  });
  const verdicts = [allTasksExited, ...s.invariants].map((inv) => ({
    name: inv.name,
    ...inv.check(machine),
  }));
  // Shutdown, once every task has finished (a run cut short still uses its
  // objects): the scenario's process exits, closing its map fds, and then
  // kmemleak scans for what nothing freed.
  if (engine.finished) {
    machine.maps.closeAll();
    machine.sanitizer?.reportLeaks();
  }
  return {
    scenario: s,
    machine,
    engine,
    verdicts,
    ok: verdicts.every((v) => v.ok),
    reports: machine.reports,
    replay: encodeReplay(booted.fingerprint, engine.replay),
  };
}
