/**
 * `percpu-emu explore <scenario> [--runs N] [--first-seed S] [--strategy
 * rr|random|pct] [--cpus N] [--depth D] [--steps K]`: runs the scenario
 * under seeds S, S+1, ... with a progress line, stops at the first failing
 * run and prints its report with the replay command; exit status 1 then.
 * Seeds run one after another in this process.
 *
 * @example
 * // npx percpu-emu explore stale-pointer-racy --runs 50
 */

import { ErrnoError } from '../../segments/errno.ts';
import { explore } from '../explore.ts';
import { loadScenario } from '../load-scenario.ts';
import { formatReport } from '../report.ts';
import type { StrategyName } from '../run-scenario.ts';

const USAGE =
  'usage: percpu-emu explore <scenario> [--runs N] [--first-seed S] [--strategy rr|random|pct] [--cpus N] [--depth D] [--steps K]';

const NUMERIC = {
  '--runs': 'runs',
  '--first-seed': 'firstSeed',
  '--cpus': 'cpus',
  '--depth': 'depth',
  '--steps': 'steps',
} as const;

export async function main(args: string[]): Promise<number> {
  const opts: { [K in (typeof NUMERIC)[keyof typeof NUMERIC]]?: number } & {
    strategy?: StrategyName;
  } = {};
  let spec: string | undefined;
  for (let k = 0; k < args.length; k++) {
    const a = args[k];
    if (a in NUMERIC) {
      const v = args[++k];
      const n = Number(v);
      if (v === undefined || !Number.isInteger(n) || n < 0) {
        throw new ErrnoError('EINVAL', `${a} ${v ?? ''} is not a non-negative integer`);
      }
      opts[NUMERIC[a as keyof typeof NUMERIC]] = n;
    } else if (a === '--strategy') {
      const v = args[++k];
      if (!['rr', 'random', 'pct'].includes(v))
        throw new ErrnoError('EINVAL', `--strategy ${v}: use rr, random or pct`);
      opts.strategy = v as StrategyName;
    } else if (a.startsWith('--') || spec !== undefined) {
      process.stderr.write(`percpu-emu explore: unexpected ${a}\n${USAGE}\n`);
      return 2;
    } else spec = a;
  }
  if (spec === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const scenario = await loadScenario(spec);
  const runs = opts.runs ?? 100;
  const tty = process.stderr.isTTY === true;
  const result = explore(scenario, {
    ...opts,
    runs,
    onRun: (seed) => {
      if (tty) process.stderr.write(`\rseed ${seed} (${seed - (opts.firstSeed ?? 1) + 1}/${runs})`);
    },
  });
  if (tty) process.stderr.write('\n');
  if (result.failure === undefined) {
    process.stdout.write(`${scenario.name}: every invariant held on ${result.runs} seeds\n`);
    return 0;
  }
  const f = result.failure;
  process.stdout.write(
    `${scenario.name}: seed ${f.seed} broke an invariant (run ${result.runs} of ${runs})\n`,
  );
  process.stdout.write(`${formatReport(f, spec)}\n`);
  return 1;
}
