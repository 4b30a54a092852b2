/**
 * The grader's ways of running a lab scenario: under many seeded schedules
 * of the deterministic engine (PCT, random, round robin), each run judged
 * by the scenario's invariants and the test's own check, stopping at the
 * first failure with its replay command; and in parallel mode, one worker
 * thread per CPU, a few runs on the real threads.
 *
 * @example
 * holdsUnder(s, 'two-tasks', { strategy: 'pct', runs: 300 });
 */

import {
  allTasksExited,
  ErrnoError,
  type Kernel,
  ParallelRunner,
  type RunScenarioOptions,
  runScenario,
  type Scenario,
  type ScenarioResult,
  type StrategyName,
} from 'percpu-emu';
import type { Submission, TestOutcome } from './lab.ts';

export interface Sweep {
  readonly strategy: StrategyName;
  /** Seeds firstSeed, firstSeed + 1, ... (one run for rr). */
  readonly runs: number;
  readonly firstSeed?: number;
  readonly depth?: number;
  readonly steps?: number;
  readonly quantum?: number;
  /** The machine's cpus, over the scenario's. */
  readonly cpus?: number;
}

/** A check beyond the invariants: a failure's description, or undefined when it holds. */
export type RunCheck = (r: ScenarioResult) => string | undefined;

/** Instructions a run may take before the grader calls it stuck. */
export const MAX_STEPS = 3_000_000;
/**
 * Wall time a run may take: only code that never returns (a TS loop with no
 * yield) comes near it, so it turns a hang into a FAIL without making a
 * working submission's score depend on the host's speed.
 */
export const RUN_TIMEOUT_MS = 30_000;

/** The shell command that reruns a lab scenario with `flags`. */
export function labRunCommand(s: Submission, scenario: string, flags: string): string {
  return `npx percpu-emu lab run ${s.lab.name} ${scenario} ${flags}`;
}

/** What failed in a run: its broken invariants, then the test's own check. */
export function failureOf(r: ScenarioResult, check?: RunCheck): string | undefined {
  const broken = r.verdicts.filter((v) => !v.ok).map((v) => `${v.name}: ${v.detail}`);
  // The student's code threw (a native task, an invariant's input): say where, first.
  broken.unshift(...r.errors.map((e) => `${e.where} threw: ${e.message}`));
  if (r.engine.end === 'timeout') {
    broken.push(
      `the run took over ${RUN_TIMEOUT_MS / 1000} s: some code never returns (a TS loop with no yield?)`,
    );
  } else if (!r.engine.finished && r.crash === undefined) {
    broken.push(`the run did not finish within ${MAX_STEPS} instructions`);
  }
  const extra = check?.(r);
  if (extra !== undefined) broken.push(extra);
  if (r.crash !== undefined)
    broken.push(`crashed on CPU ${r.crash.cpu} in ${r.crash.running}: ${r.crash.message}`);
  const oops = r.reports.find((x) => x.kind === 'oops');
  if (oops !== undefined) broken.push(`oops: ${oops.lines.slice(0, 2).join(' / ')}`);
  return broken.length === 0 ? undefined : broken.join('\n');
}

/** Runs the lab scenario `name` under `sweep`: OK when every run holds. */
export async function holdsUnder(
  s: Submission,
  name: string,
  sweep: Sweep,
  check?: RunCheck,
): Promise<TestOutcome> {
  const scenario = await s.lab.scenarios[name].build(s.dir);
  const runs = sweep.strategy === 'rr' ? 1 : sweep.runs;
  const first = sweep.firstSeed ?? 1;
  for (let i = 0; i < runs; i++) {
    const seed = first + i;
    const opts: RunScenarioOptions = {
      strategy: sweep.strategy,
      seed,
      depth: sweep.depth,
      steps: sweep.steps,
      quantum: sweep.quantum,
      cpus: sweep.cpus,
      maxSteps: MAX_STEPS,
      timeoutMs: RUN_TIMEOUT_MS,
    };
    const r = runScenario(scenario, opts);
    // Setup assembles or imports the student's code: an error there is a build error.
    const built = r.errors.find((e) => e.where === 'setup');
    if (built !== undefined) return { ok: false, detail: built.message };
    const failure = failureOf(r, check);
    if (failure !== undefined) {
      const cpus = sweep.cpus === undefined ? '' : ` --cpus ${sweep.cpus}`;
      return {
        ok: false,
        detail: `${sweep.strategy === 'rr' ? 'round robin' : `seed ${seed}`}: ${failure}`,
        replay:
          r.replay === ''
            ? undefined
            : labRunCommand(s, name, `--replay ${r.replay}${cpus} --trace out.txt`),
      };
    }
  }
  return { ok: true, detail: `${runs} schedule${runs === 1 ? '' : 's'} held` };
}

/** The recipe module URL a parallel worker loads: the lab's recipe.ts with the folder and scenario. */
export function recipeUrl(recipeModule: string, s: Submission, scenario: string): string {
  const q = new URLSearchParams({ dir: s.dir, scenario });
  return `${recipeModule}?${q.toString()}`;
}

/**
 * Runs the lab scenario `name` `runs` times in parallel mode (one worker
 * thread per CPU) through `recipeModule`, a module whose default export is
 * `recipeFromUrl(import.meta.url)`. OK when every run finishes and holds.
 */
export async function holdsInParallel(
  s: Submission,
  recipeModule: string,
  name: string,
  runs: number,
  check?: (k: Kernel) => string | undefined,
): Promise<TestOutcome> {
  const scenario = await s.lab.scenarios[name].build(s.dir);
  const runner = new ParallelRunner();
  running = { dir: s.dir, scenario: name };
  try {
    for (let i = 0; i < runs; i++) {
      const r = await runner.run(
        { module: recipeUrl(recipeModule, s, name) },
        { maxSteps: MAX_STEPS, timeoutMs: 20_000 },
      );
      const broken = [allTasksExited, ...scenario.invariants]
        .map((inv) => ({ name: inv.name, ...inv.check(r.machine) }))
        .filter((v) => !v.ok)
        .map((v) => `${v.name}: ${v.detail}`);
      if (r.end !== 'finished') broken.push(`the run ended ${r.end}`);
      const extra = check?.(r.machine);
      if (extra !== undefined) broken.push(extra);
      if (broken.length > 0) {
        return {
          ok: false,
          detail: `parallel run ${i + 1} of ${runs}: ${broken.join('\n')}`,
          replay: labRunCommand(s, name, '--mode parallel'),
        };
      }
    }
  } finally {
    running = undefined;
    await runner.close();
  }
  return { ok: true, detail: `${runs} parallel runs held` };
}

/**
 * What the parallel run in progress in this thread runs, for a main thread
 * whose module loader drops the recipe URL's query (vitest's does; Node
 * keeps it, and the workers always get it).
 */
let running: { dir: string; scenario: string } | undefined;

/** The student's folder and scenario a recipe module's URL names (`?dir=...&scenario=...`). */
export function recipeQuery(url: string): { dir: string; scenario: string } {
  const q = new URL(url).searchParams;
  const dir = q.get('dir');
  const scenario = q.get('scenario');
  if (dir !== null && scenario !== null) return { dir, scenario };
  if (running !== undefined) return running;
  throw new ErrnoError('EINVAL', `recipe URL ${url} names no dir and scenario`);
}

/**
 * A recipe module's default export: the lab scenario its URL names, built
 * when the runner asks (so a module loaded once serves every run).
 *
 * @example
 * export default labRecipe(import.meta.url, (dir, name) => SCENARIOS[name].build(dir));
 */
export function labRecipe(
  url: string,
  build: (dir: string, scenario: string) => Scenario | Promise<Scenario>,
): Pick<Scenario, 'machine' | 'define' | 'setup'> {
  const current = (): Scenario => {
    const { dir, scenario } = recipeQuery(url);
    const s = build(dir, scenario);
    if (s instanceof Promise) {
      throw new ErrnoError(
        'EINVAL',
        `scenario ${scenario} is built asynchronously: not for parallel mode`,
      );
    }
    return s;
  };
  return {
    get machine() {
      return current().machine;
    },
    define: (m) => current().define?.(m),
    setup: (k) => current().setup(k),
  };
}
