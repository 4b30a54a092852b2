/**
 * `percpu-emu lab`: the labs' commands, also runnable on their own
 * (`npx tsx labs/cli.ts grade kalloc .`).
 *
 *   lab list                              the labs
 *   lab start <name> [dir]                a student's folder from the starter (default ./<name>)
 *   lab grade <name> [dir] [--json] [--mode deterministic|parallel]
 *                                         make-grade output, `Score: n/m`; exit 0 only at full marks
 *   lab run <name> <scenario> [dir] [--strategy rr|random|pct] [--seed S] [--replay STRING]
 *           [--quantum Q] [--cpus N] [--trace FILE]
 *                                         one run of a lab scenario with the student's code
 *
 * `--json` prints Gradescope's results.json instead of the text.
 *
 * @example
 * process.exitCode = await labMain(['grade', 'counters', '.']);
 */

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrnoError, formatReport, runScenario, type StrategyName } from 'percpu-emu';
import { formatScore, formatTest, gradeLab, gradescopeResults } from './grader/grade.ts';
import type { TestMode } from './grader/lab.ts';
import { MAX_STEPS } from './grader/schedules.ts';
import { startLab } from './grader/start.ts';
import { findLab, LABS } from './index.ts';

export const LAB_USAGE = `usage: percpu-emu lab list
       percpu-emu lab start <name> [dir]
       percpu-emu lab grade <name> [dir] [--json] [--mode deterministic|parallel]
       percpu-emu lab run <name> <scenario> [dir] [--strategy rr|random|pct] [--seed S] [--replay STRING] [--quantum Q] [--cpus N] [--trace FILE]
`;

/** Splits `args` into positionals and `--flag value` options (`--json` and `--force` take none). */
function parseArgs(args: string[]): { pos: string[]; flags: Map<string, string> } {
  const pos: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) {
      pos.push(a);
    } else if (a === '--json' || a === '--force') {
      flags.set(a, '');
    } else {
      const v = args[++i];
      if (v === undefined) throw new ErrnoError('EINVAL', `${a} needs a value`);
      flags.set(a, v);
    }
  }
  return { pos, flags };
}

const int = (flags: Map<string, string>, name: string): number | undefined => {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new ErrnoError('EINVAL', `${name} ${v}: not a whole number`);
  return n;
};

async function grade(pos: string[], flags: Map<string, string>): Promise<number> {
  const [name, dir = '.'] = pos;
  if (name === undefined)
    throw new ErrnoError('EINVAL', `lab grade needs a lab name\n${LAB_USAGE}`);
  const lab = findLab(name);
  const mode = flags.get('--mode');
  if (mode !== undefined && mode !== 'deterministic' && mode !== 'parallel') {
    throw new ErrnoError('EINVAL', `--mode ${mode}: use deterministic or parallel`);
  }
  const json = flags.has('--json');
  const r = await gradeLab(lab, resolve(dir), {
    mode: mode as TestMode | undefined,
    onTest: json ? undefined : (t) => process.stdout.write(formatTest(t)),
  });
  process.stdout.write(
    json ? `${JSON.stringify(gradescopeResults(r), null, 2)}\n` : formatScore(r),
  );
  return r.score === r.maxScore ? 0 : 1;
}

async function run(pos: string[], flags: Map<string, string>): Promise<number> {
  const [name, scenarioName, dir = '.'] = pos;
  const lab = findLab(name ?? '');
  const entry = scenarioName === undefined ? undefined : lab.scenarios[scenarioName];
  if (entry === undefined) {
    throw new ErrnoError(
      'ENOENT',
      `lab ${lab.name} has no scenario '${scenarioName ?? ''}': ${Object.keys(lab.scenarios).join(', ')}`,
    );
  }
  const strategy = (flags.get('--strategy') ?? 'pct') as StrategyName;
  if (!['rr', 'random', 'pct'].includes(strategy)) {
    throw new ErrnoError('EINVAL', `--strategy ${strategy}: use rr, random or pct`);
  }
  const scenario = await entry.build(resolve(dir));
  const r = runScenario(scenario, {
    strategy,
    seed: int(flags, '--seed'),
    quantum: int(flags, '--quantum'),
    cpus: int(flags, '--cpus'),
    replay: flags.get('--replay'),
    maxSteps: MAX_STEPS,
  });
  process.stdout.write(`${formatReport(r, `lab ${lab.name} ${scenarioName}`)}\n`);
  const trace = flags.get('--trace');
  if (trace !== undefined && r.machine.tracer !== null) {
    writeFileSync(trace, r.machine.tracer.toFtrace());
    process.stdout.write(`trace:    ${trace} (ftrace)\n`);
  }
  return r.ok ? 0 : 1;
}

export async function labMain(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const { pos, flags } = parseArgs(rest);
  switch (command) {
    case 'list':
      for (const lab of LABS) process.stdout.write(`${lab.name.padEnd(16)} ${lab.title}\n`);
      return 0;
    case 'start': {
      const [name, dir] = pos;
      const lab = findLab(name ?? '');
      const files = startLab(lab, dir ?? lab.name, flags.has('--force'));
      process.stdout.write(
        `made ${files.join(', ')}\nnext: cd ${dir ?? lab.name} && npm install && npx percpu-emu lab grade ${lab.name}\n`,
      );
      return 0;
    }
    case 'grade':
      return grade(pos, flags);
    case 'run':
      return run(pos, flags);
    case undefined:
    case '--help':
      process.stdout.write(LAB_USAGE);
      return command === undefined ? 2 : 0;
  }
  process.stderr.write(`percpu-emu lab: unknown command '${command}'\n${LAB_USAGE}`);
  return 2;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  labMain(process.argv.slice(2)).then(
    (status) => {
      process.exitCode = status;
    },
    (err: unknown) => {
      process.stderr.write(`percpu-emu lab: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
