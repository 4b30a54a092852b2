/**
 * Grading a submission the way xv6's `make grade` does: each test in turn,
 * one line with its name, points, OK or FAIL and the time it took, the
 * measurements and replay command of a failure under it, and the score.
 * The same submission always gets the same score: every schedule comes from
 * a fixed seed (parallel-mode tests excepted, which a correct submission
 * always passes; `mode` leaves them out).
 *
 * `gradescopeResults` gives the result in Gradescope's autograder format
 * (results.json: `score`, `execution_time`, and per test `name`, `score`,
 * `max_score`, `status`, `output`).
 *
 * @example
 * const r = await gradeLab(lab, '/home/me/counters');
 * process.stdout.write(formatGrade(r));
 * process.exitCode = r.score === r.maxScore ? 0 : 1;
 */

import { performance } from 'node:perf_hooks';
import type { Lab, Submission, TestMode, TestOutcome } from './lab.ts';

export interface TestResult extends TestOutcome {
  readonly name: string;
  readonly points: number;
  readonly mode: TestMode;
  readonly ms: number;
}

export interface GradeResult {
  readonly lab: string;
  readonly tests: readonly TestResult[];
  readonly score: number;
  readonly maxScore: number;
  readonly ms: number;
}

export interface GradeOptions {
  /** Only the tests of this mode; both by default. */
  readonly mode?: TestMode;
  /** Called as each test ends (the CLI prints it at once). */
  readonly onTest?: (r: TestResult) => void;
}

export async function gradeLab(
  lab: Lab,
  dir: string,
  opts: GradeOptions = {},
): Promise<GradeResult> {
  const submission: Submission = { lab, dir };
  const tests: TestResult[] = [];
  const start = performance.now();
  for (const t of lab.tests) {
    if (opts.mode !== undefined && t.mode !== opts.mode) continue;
    const t0 = performance.now();
    let outcome: TestOutcome;
    try {
      outcome = await t.run(submission);
    } catch (e) {
      // The student's code did not assemble or load, or threw: that test fails, the rest run.
      outcome = { ok: false, detail: e instanceof Error ? e.message : String(e) };
    }
    const r: TestResult = {
      ...outcome,
      name: t.name,
      points: t.points,
      mode: t.mode,
      ms: performance.now() - t0,
    };
    tests.push(r);
    opts.onTest?.(r);
  }
  return {
    lab: lab.name,
    tests,
    score: tests.reduce((a, r) => a + (r.ok ? r.points : 0), 0),
    maxScore: tests.reduce((a, r) => a + r.points, 0),
    ms: performance.now() - start,
  };
}

/** One test as `make grade` prints it, with what a failure measured below. */
export function formatTest(r: TestResult): string {
  const head = `== Test ${r.name} (${r.points} pts) == ${r.ok ? 'OK' : 'FAIL'} (${(r.ms / 1000).toFixed(1)}s)`;
  const lines = [head];
  if (r.detail !== undefined && (!r.ok || r.detail.startsWith('measured'))) {
    lines.push(...r.detail.split('\n').map((l) => `    ${l}`));
  }
  if (r.replay !== undefined) lines.push(`    replay: ${r.replay}`);
  return `${lines.join('\n')}\n`;
}

/** The score line: `Score: 70/100`. */
export function formatScore(r: GradeResult): string {
  return `Score: ${r.score}/${r.maxScore}\n`;
}

export function formatGrade(r: GradeResult): string {
  return r.tests.map(formatTest).join('') + formatScore(r);
}

/** Gradescope's results.json for the grade. */
export function gradescopeResults(r: GradeResult) {
  return {
    score: r.score,
    execution_time: Math.round(r.ms / 100) / 10,
    output: `${r.lab}: ${r.score}/${r.maxScore}`,
    tests: r.tests.map((t) => ({
      name: t.name,
      score: t.ok ? t.points : 0,
      max_score: t.points,
      status: t.ok ? 'passed' : 'failed',
      output: [t.detail, t.replay === undefined ? undefined : `replay: ${t.replay}`]
        .filter((x) => x !== undefined)
        .join('\n'),
    })),
  };
}
