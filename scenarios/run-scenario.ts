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
 * r.replay;  // 'v1.2....': runScenario(scenario, { replay: r.replay }) runs it again
 */

import { type EngineResult, runDeterministic, type Strategy } from '../preempt/engine.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { bootRecipe } from '../preempt/machine.ts';
import { tracePercpuVariables } from '../preempt/percpu-access-trace.ts';
import type { Report } from '../preempt/reports.ts';
import { pct } from '../preempt/strategies/pct.ts';
import { random } from '../preempt/strategies/random.ts';
import { replay } from '../preempt/strategies/replay.ts';
import { roundRobin } from '../preempt/strategies/round-robin.ts';
import type { TraceEventGroup } from '../preempt/trace/events.ts';
import { ErrnoError } from '../segments/errno.ts';
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
  /** Replays a schedule string instead of running a strategy. */
  replay?: string;
  maxSteps?: number;
  /** The trace event groups to record (`--events`); default the tracer's. */
  traceEvents?: readonly TraceEventGroup[];
  /** Per-CPU variables whose every access is traced (`--trace-percpu`); adds the `percpu` group. */
  tracePercpu?: readonly string[];
  /** Bytes of trace ring per CPU, over the scenario's (a timeline wants the whole run). */
  traceBytesPerCpu?: number;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  /** The booted machine the run used, as it ended. */
  readonly machine: Kernel;
  readonly engine: EngineResult;
  readonly verdicts: readonly (Verdict & { readonly name: string })[];
  readonly ok: boolean;
  readonly reports: readonly Report[];
  readonly replay: string;
}

export function makeStrategy(s: Scenario, opts: RunScenarioOptions): Strategy {
  if (opts.replay !== undefined) return replay(opts.replay);
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

/** Applies the trace options to a booted kernel, before its run. */
function selectTraceEvents(k: Kernel, opts: RunScenarioOptions): void {
  const percpu = opts.tracePercpu ?? [];
  if (opts.traceEvents === undefined && percpu.length === 0) return;
  if (k.tracer === null) throw new ErrnoError('EINVAL', 'the scenario turned tracing off');
  const groups = new Set(opts.traceEvents ?? k.tracer.selectedGroups);
  if (percpu.length > 0) groups.add('percpu');
  k.tracer.select([...groups]);
  if (groups.has('percpu')) tracePercpuVariables(k, percpu);
}

export function runScenario(s: Scenario, opts: RunScenarioOptions = {}): ScenarioResult {
  const machine = bootRecipe(s, {
    ...(opts.cpus === undefined ? {} : { cpus: opts.cpus }),
    ...(opts.traceBytesPerCpu === undefined ? {} : { traceBytesPerCpu: opts.traceBytesPerCpu }),
  });
  selectTraceEvents(machine, opts);
  const engine = runDeterministic(machine, makeStrategy(s, opts), { maxSteps: opts.maxSteps });
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
    replay: engine.replay,
  };
}
