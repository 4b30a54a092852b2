/**
 * What `percpu-emu lab list|start|grade|run` do, as functions: the command
 * line (scenarios/commands/lab.ts) declares their arguments and options and
 * loads this module when a lab command runs, so the labs stay a layer on
 * top of the package that the CLI reaches only at run time.
 *
 * @example
 * process.exitCode = await labGrade('counters', '.', { json: false });
 */

import { resolve } from 'node:path';
import { ErrnoError, type RunScenarioOptions, runScenario, type ScenarioResult } from 'percpu-emu';
import { formatScore, formatTest, gradeLab, gradescopeResults } from './grader/grade.ts';
import type { TestMode } from './grader/lab.ts';
import { MAX_STEPS } from './grader/schedules.ts';
import { startLab } from './grader/start.ts';
import { findLab, LABS } from './index.ts';

/** One line per lab: its name and title. */
export function labList(): string {
  return LABS.map((lab) => `${lab.name.padEnd(16)} ${lab.title}\n`).join('');
}

/** Makes a student's folder from the starter (default ./<name>); returns what to print. */
export function labStart(name: string, dir: string | undefined, force: boolean): string {
  const lab = findLab(name);
  const folder = dir ?? lab.name;
  const files = startLab(lab, folder, force);
  return `made ${files.join(', ')}\nnext: cd ${folder} && npm install && npx percpu-emu lab grade ${lab.name}\n`;
}

/**
 * Grades the folder `dir` as `make grade` would, printing each test as it
 * ends (or Gradescope's results.json with `json`); 0 only at full marks.
 */
export async function labGrade(
  name: string,
  dir: string,
  o: { json: boolean; mode?: TestMode },
): Promise<number> {
  const r = await gradeLab(findLab(name), resolve(dir), {
    mode: o.mode,
    onTest: o.json ? undefined : (t) => process.stdout.write(formatTest(t)),
  });
  process.stdout.write(
    o.json ? `${JSON.stringify(gradescopeResults(r), null, 2)}\n` : formatScore(r),
  );
  return r.score === r.maxScore ? 0 : 1;
}

/** One run of the lab scenario `scenario` with the student's code in `dir`. */
export async function labRun(
  name: string,
  scenario: string,
  dir: string,
  opts: RunScenarioOptions,
): Promise<ScenarioResult> {
  const lab = findLab(name);
  const entry = lab.scenarios[scenario];
  if (entry === undefined) {
    throw new ErrnoError(
      'ENOENT',
      `lab ${lab.name} has no scenario '${scenario}': ${Object.keys(lab.scenarios).join(', ')}`,
    );
  }
  return runScenario(await entry.build(resolve(dir)), { maxSteps: MAX_STEPS, ...opts });
}
