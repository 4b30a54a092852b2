/**
 * `percpu-emu run <scenario> [--cpus N] [--seed S] [--strategy rr|random|pct]
 * [--depth D] [--steps K] [--quantum Q] [--replay STRING] [--max-steps N]
 * [--trace FILE] [--format ftrace|json] [--mode deterministic|parallel]
 * [--timeout MS]`: runs one scenario, prints its report, writes the trace if
 * asked; exit status 1 when an invariant fails. `--mode parallel` runs one
 * worker thread per CPU (scenarios/run-parallel.ts), without a strategy.
 *
 * @example
 * // npx percpu-emu run lost-update-racy --strategy pct --seed 3 --trace out.txt
 */

import { writeFileSync } from 'node:fs';
import { ErrnoError } from '../../segments/errno.ts';
import { loadScenario } from '../load-scenario.ts';
import { formatReport } from '../report.ts';
import { runScenarioParallel } from '../run-parallel.ts';
import {
  type RunScenarioOptions,
  runScenario,
  type ScenarioResult,
  type StrategyName,
} from '../run-scenario.ts';

/** Options that choose or replay a deterministic schedule: meaningless in parallel mode. */
const DETERMINISTIC_ONLY = ['--seed', '--strategy', '--depth', '--steps', '--quantum', '--replay'];

const USAGE =
  'usage: percpu-emu run <scenario> [--cpus N] [--seed S] [--strategy rr|random|pct] [--depth D] [--steps K] [--quantum Q] [--replay STRING] [--max-steps N] [--trace FILE] [--format ftrace|json] [--mode deterministic|parallel] [--timeout MS]';

const NUMERIC = {
  '--cpus': 'cpus',
  '--seed': 'seed',
  '--depth': 'depth',
  '--steps': 'steps',
  '--quantum': 'quantum',
  '--max-steps': 'maxSteps',
} as const;

export async function main(args: string[]): Promise<number> {
  const opts: RunScenarioOptions = {};
  let spec: string | undefined;
  let traceFile: string | undefined;
  let format = 'ftrace';
  let mode: string | undefined;
  let timeoutMs: number | undefined;
  const given: string[] = [];
  for (let k = 0; k < args.length; k++) {
    const a = args[k];
    const value = () => {
      const v = args[++k];
      if (v === undefined) throw new ErrnoError('EINVAL', `${a} needs a value`);
      return v;
    };
    if (a.startsWith('--')) given.push(a);
    if (a in NUMERIC) {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0)
        throw new ErrnoError('EINVAL', `${a} ${v} is not a non-negative integer`);
      opts[NUMERIC[a as keyof typeof NUMERIC]] = n;
    } else if (a === '--strategy') {
      const v = value();
      if (!['rr', 'random', 'pct'].includes(v))
        throw new ErrnoError('EINVAL', `--strategy ${v}: use rr, random or pct`);
      opts.strategy = v as StrategyName;
    } else if (a === '--mode') {
      mode = value();
      if (mode !== 'deterministic' && mode !== 'parallel')
        throw new ErrnoError('EINVAL', `--mode ${mode}: use deterministic or parallel`);
    } else if (a === '--timeout') {
      const v = value();
      timeoutMs = Number(v);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
        throw new ErrnoError('EINVAL', `--timeout ${v} is not a positive number of ms`);
    } else if (a === '--replay') opts.replay = value();
    else if (a === '--trace') traceFile = value();
    else if (a === '--format') {
      format = value();
      if (format !== 'ftrace' && format !== 'json')
        throw new ErrnoError('EINVAL', `--format ${format}: use ftrace or json`);
    } else if (a.startsWith('--')) {
      process.stderr.write(`percpu-emu run: unknown option ${a}\n${USAGE}\n`);
      return 2;
    } else if (spec === undefined) spec = a;
    else {
      process.stderr.write(`percpu-emu run: one scenario at a time\n${USAGE}\n`);
      return 2;
    }
  }
  if (spec === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const scenario = await loadScenario(spec);
  let result: ScenarioResult;
  if ((mode ?? scenario.mode) === 'parallel') {
    const bad = given.find((a) => DETERMINISTIC_ONLY.includes(a));
    if (bad !== undefined)
      throw new ErrnoError(
        'EINVAL',
        `${bad} chooses a deterministic schedule: not with --mode parallel`,
      );
    result = await runScenarioParallel(spec, {
      cpus: opts.cpus,
      maxSteps: opts.maxSteps,
      timeoutMs,
    });
  } else {
    result = runScenario(scenario, { ...opts, timeoutMs });
  }
  process.stdout.write(`${formatReport(result, spec)}\n`);
  if (traceFile !== undefined) {
    const tracer = result.machine.tracer;
    if (tracer === null) throw new ErrnoError('EINVAL', 'the scenario turned tracing off');
    writeFileSync(traceFile, format === 'json' ? tracer.toChromeJson() : tracer.toFtrace());
    process.stdout.write(`trace:    ${traceFile} (${format})\n`);
  }
  // 3: an emulator bug, apart from 1 (an invariant failed) and 2 (bad input).
  if (result.crash !== undefined) return 3;
  return result.ok ? 0 : 1;
}
