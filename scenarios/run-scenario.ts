/**
 * Runs a scenario once on a fresh machine under the deterministic engine and
 * judges its invariants. Then, when every task has finished, the machine
 * shuts down: the scenario's map fds are closed, and the per-CPU
 * allocations still live are reported as leaks (kmemleak's `unreferenced
 * percpu object` reports, kind `leak`). The same scenario, options and seed
 * give the same result, trace included; `result.replay` reproduces it with
 * `replay`.
 *
 * Nothing the scenario or its guests do escapes as a JS exception: an
 * emulator bug ends the run with a crash report and `crash` set (the CLI's
 * exit status 3); an exception in the setup, an invariant or a native task
 * is reported with its file, line and stack, and the rest of the report is
 * kept; `timeoutMs` limits the wall time of the whole run, setup and
 * invariants included, and the report then says where it was; such a run
 * has no verdict (`timedOut` says what was stopped, the invariants are
 * judged on the partial state).
 *
 * @example
 * const r = runScenario(scenario, { strategy: 'pct', seed: 3 });
 * r.ok;      // every invariant held
 * r.replay;  // 'v2....': runScenario(scenario, { replay: r.replay }) runs it again
 */

import type { Tier } from '../cpu/wasm/tier.ts';
import { ArrayMap } from '../maps/array-map.ts';
import {
  describeHostCode,
  describeRunning,
  type EmulatorCrash,
} from '../preempt/emulator-crash.ts';
import { type EngineResult, runDeterministic, type Strategy } from '../preempt/engine.ts';
import { withHostTimeLimit } from '../preempt/host-time-limit.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { bootUnsetRecipe } from '../preempt/machine.ts';
import { type TracedVar, tracePercpuVariables } from '../preempt/percpu-access-trace.ts';
import type { Report } from '../preempt/reports.ts';
import { pct } from '../preempt/strategies/pct.ts';
import { random } from '../preempt/strategies/random.ts';
import { replay } from '../preempt/strategies/replay.ts';
import { roundRobin } from '../preempt/strategies/round-robin.ts';
import type { TraceEventGroup } from '../preempt/trace/events.ts';
import {
  type UserCodeError,
  userCodeError,
  userCodeErrorLines,
} from '../preempt/user-code-error.ts';
import { ErrnoError } from '../segments/errno.ts';
import { decodeReplay, encodeReplay, scenarioFingerprint } from './replay-string.ts';
import { allTasksExited, type Invariant, type Scenario, type Verdict } from './scenario.ts';

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
   * Random and PCT: timer interrupts arrive 0..tickJitter instructions after
   * their nominal time, chosen from the seed (default half the tick
   * interval; 0 keeps them exact).
   */
  tickJitter?: number;
  /**
   * Replays a run from its replay string (scenarios/replay-string.ts) instead
   * of running a strategy; EINVAL, before the run, when it was recorded on
   * another scenario, CPU count or definition.
   */
  replay?: string;
  /** A strategy to run instead of `strategy` and `replay` (minimize.ts's candidate schedules). */
  schedule?: Strategy;
  maxSteps?: number;
  /** The trace event groups to record (`--events`); default the tracer's. */
  traceEvents?: readonly TraceEventGroup[];
  /**
   * Per-CPU variables whose every access is traced (`--trace-percpu`): static
   * ones, or PERCPU_ARRAY maps the setup creates (by map name); adds the
   * `percpu` group.
   */
  tracePercpu?: readonly string[];
  /** Bytes of trace ring per CPU, over the scenario's (a timeline wants the whole run). */
  traceBytesPerCpu?: number;
  /** Wall-clock limit of the run in ms: setup, the engine and the invariants. Default: none. */
  timeoutMs?: number;
  /** Who executes guest programs (MachineOptions.tier); the run is the same on each. */
  tier?: Tier;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  /** The booted machine the run used, as it ended. */
  readonly machine: Kernel;
  readonly engine: EngineResult;
  readonly verdicts: readonly (Verdict & { readonly name: string })[];
  readonly ok: boolean;
  readonly reports: readonly Report[];
  /** Replays this run: `runScenario(scenario, { replay })`; empty when none can (parallel mode). */
  readonly replay: string;
  /** The emulator bug that stopped the run, if one did: the CLI exits with status 3. */
  readonly crash?: EmulatorCrash;
  /** Exceptions the scenario's own code threw (setup, invariants), with where. */
  readonly errors: readonly UserCodeError[];
  /**
   * Set when the time limit (`timeoutMs`) stopped the setup, the run or an
   * invariant: what it stopped first. The verdicts are then of the partial
   * state the limit left, and `ok` is false: no verdict.
   */
  readonly timedOut?: TimedOut;
}

/** What the time limit stopped: 'the setup', 'the run' or "invariant 'name'", and the limit. */
export interface TimedOut {
  readonly where: string;
  readonly ms: number;
}

/** The strategy `opts` choose; a replay's schedule (a v1 string) is passed decoded. */
export function makeStrategy(s: Scenario, opts: RunScenarioOptions, schedule?: string): Strategy {
  if (opts.schedule !== undefined) return opts.schedule;
  if (schedule !== undefined) return replay(schedule);
  const seed = opts.seed ?? 1;
  switch (opts.strategy ?? 'pct') {
    case 'rr':
      return roundRobin({ quantum: opts.quantum });
    case 'random':
      return random({ seed, tickJitter: opts.tickJitter });
    case 'pct':
      return pct({
        seed,
        depth: opts.depth ?? s.pct?.depth,
        steps: opts.steps ?? s.pct?.steps,
        tickJitter: opts.tickJitter,
      });
  }
  throw new ErrnoError('EINVAL', `unknown strategy '${opts.strategy}': use rr, random or pct`);
}

/** Applies the trace event groups to a booted kernel, before its setup. */
function selectTraceEvents(k: Kernel, opts: RunScenarioOptions): void {
  const percpu = opts.tracePercpu ?? [];
  if (opts.traceEvents === undefined && percpu.length === 0) return;
  if (k.tracer === null) throw new ErrnoError('EINVAL', 'the scenario turned tracing off');
  const groups = new Set(opts.traceEvents ?? k.tracer.selectedGroups);
  if (percpu.length > 0) groups.add('percpu');
  k.tracer.select([...groups]);
}

/**
 * Traces the accesses to `names` once the setup made its maps: a static
 * per-CPU variable, else a PERCPU_ARRAY of that name (each entry's values,
 * `name[i]`, or `name` for a one-entry map); ENOENT for neither.
 */
function tracePercpu(k: Kernel, names: readonly string[]): void {
  const statics: string[] = [];
  const ranges: TracedVar[] = [];
  for (const name of names) {
    if (k.image.symbols.get(name)?.section === '.data..percpu') {
      statics.push(name);
      continue;
    }
    const map = k.maps
      .entries()
      .map(([, m]) => m)
      .find((m): m is ArrayMap => m instanceof ArrayMap && m.percpu && m.name === name);
    if (map === undefined) {
      throw new ErrnoError('ENOENT', `no per-CPU variable or PERCPU_ARRAY map '${name}'`);
    }
    for (let i = 0; i < map.maxEntries; i++) {
      const entry = map.maxEntries === 1 ? name : `${name}[${i}]`;
      ranges.push({ name: entry, ptr: map.pptr(i), size: map.elemSize });
    }
  }
  tracePercpuVariables(k, statics, ranges);
}

export function runScenario(s: Scenario, opts: RunScenarioOptions = {}): ScenarioResult {
  const deadline = performance.now() + (opts.timeoutMs ?? Number.POSITIVE_INFINITY);
  const left = () => (opts.timeoutMs === undefined ? undefined : deadline - performance.now());
  const machine = bootUnsetRecipe(s, {
    ...(opts.cpus === undefined ? {} : { cpus: opts.cpus }),
    ...(opts.traceBytesPerCpu === undefined ? {} : { traceBytesPerCpu: opts.traceBytesPerCpu }),
    ...(opts.tier === undefined ? {} : { tier: opts.tier }),
  });
  selectTraceEvents(machine, opts);
  const errors: UserCodeError[] = [];
  const setup = limited(machine, 'setup', left(), () => s.setup(machine), errors);
  if (
    setup === 'ok' &&
    (opts.tracePercpu?.length ?? 0) > 0 &&
    machine.tracer?.wants('percpu_access')
  )
    tracePercpu(machine, opts.tracePercpu!);
  // The run depends on what setup made: the replay string must have been recorded on the same.
  const fingerprint = scenarioFingerprint(s, machine);
  const schedule = opts.replay === undefined ? undefined : decodeReplay(opts.replay, fingerprint);
  const strategy = makeStrategy(s, opts, schedule);
  let engine: EngineResult;
  if (setup === 'ok') {
    const ms = left();
    const run = withHostTimeLimit(ms === undefined ? undefined : ms + ENGINE_GRACE_MS, () =>
      runDeterministic(machine, strategy, { maxSteps: opts.maxSteps, timeoutMs: ms }),
    );
    engine = run.done
      ? run.value
      : stoppedInHostCode(machine, strategy, 'the run', opts.timeoutMs!);
  } else {
    engine = notRun(machine, strategy, setup === 'timeout' ? 'timeout' : 'schedule-ended');
  }
  const stopped: string[] = [];
  if (setup === 'timeout') stopped.push('the setup');
  if (engine.end === 'timeout') stopped.push('the run');
  const verdicts = [allTasksExited, ...s.invariants].map((inv) =>
    judge(machine, inv, left(), errors, stopped),
  );
  const timedOut = stopped.length > 0 ? { where: stopped[0], ms: opts.timeoutMs! } : undefined;
  // Shutdown, once every task has finished (a run cut short still uses its
  // objects): the scenario's process exits, closing its map fds, and then
  // kmemleak scans for what nothing freed.
  if (engine.finished) {
    machine.maps.closeAll();
    machine.sanitizer?.reportLeaks();
  }
  // Deflating the schedule costs more than a short run: only a run whose replay is read pays it.
  let replayString: string | undefined;
  return {
    scenario: s,
    machine,
    engine,
    verdicts,
    ok:
      verdicts.every((v) => v.ok) &&
      engine.crash === undefined &&
      timedOut === undefined &&
      errors.length === 0,
    reports: machine.reports,
    get replay() {
      replayString ??= engine.replay === '' ? '' : encodeReplay(fingerprint, engine.replay);
      return replayString;
    },
    crash: engine.crash,
    errors,
    timedOut,
  };
}

/** Past its own deadline, the engine gets this long to stop between two decisions. */
const ENGINE_GRACE_MS = 250;
/** An invariant judged after the time limit passed still gets this long. */
const INVARIANT_MIN_MS = 250;

/**
 * Runs user code `what` within `ms`: 'ok', 'threw' (recorded in `errors`
 * and reported), or 'timeout' (reported with where it was).
 */
function limited(
  k: Kernel,
  what: string,
  ms: number | undefined,
  fn: () => void,
  errors: UserCodeError[],
): 'ok' | 'threw' | 'timeout' {
  try {
    if (withHostTimeLimit(ms, fn).done) return 'ok';
    hostTimeoutReport(k, what, ms!);
    return 'timeout';
  } catch (e) {
    const err = userCodeError(what, e);
    errors.push(err);
    k.reports.push({ ...reportHeader(k), kind: 'warning', lines: userCodeErrorLines(err) });
    return 'threw';
  } finally {
    k.current = null;
  }
}

/**
 * An invariant's verdict; one that throws or does not return fails, saying
 * why (one that does not return is added to `stopped`).
 */
function judge(
  k: Kernel,
  inv: Invariant,
  ms: number | undefined,
  errors: UserCodeError[],
  stopped: string[],
): Verdict & { readonly name: string } {
  let verdict: Verdict = { ok: false, detail: 'did not return within the time limit' };
  const what = `invariant '${inv.name}'`;
  const budget = ms === undefined ? undefined : Math.max(ms, INVARIANT_MIN_MS);
  const outcome = limited(
    k,
    what,
    budget,
    () => {
      verdict = inv.check(k);
    },
    errors,
  );
  if (outcome === 'timeout') stopped.push(what);
  if (outcome === 'threw') {
    const err = errors[errors.length - 1];
    verdict = {
      ok: false,
      detail: `threw${err.location === '' ? '' : ` at ${err.location}`}: ${err.message}`,
    };
  }
  return { name: inv.name, ...verdict };
}

/** Who a report of the run itself (not of one CPU's task) is from. */
function reportHeader(k: Kernel): { cpu: number; pid: number; comm: string; ts: number } {
  return { cpu: 0, pid: 0, comm: 'percpu-emu', ts: k.now() };
}

/** The report of host code stopped by the time limit: where each CPU was. */
function hostTimeoutReport(k: Kernel, what: string, ms: number): void {
  k.reports.push({
    ...reportHeader(k),
    kind: 'warning',
    lines: [
      `percpu-emu: ${what} did not return within ${Math.round(ms)} ms and was stopped, in ${describeHostCode(k)}`,
      ...k.cpus.map((c) => `  CPU#${c.id}: ${describeRunning(k, c)}`),
    ],
  });
}

/** The engine result of a run the time limit stopped inside host code: no replay survives it. */
function stoppedInHostCode(k: Kernel, strategy: Strategy, what: string, ms: number): EngineResult {
  hostTimeoutReport(k, what, ms);
  k.current = null;
  return notRun(k, strategy, 'timeout');
}

function notRun(k: Kernel, strategy: Strategy, end: EngineResult['end']): EngineResult {
  return { finished: k.finished, end, steps: k.steps, replay: '', strategy: strategy.name };
}
