/**
 * What a lab is, for the grader: a name, the folder holding its handout
 * (README.md) and starter code, the scenarios it builds from a student's
 * folder (each can be run alone to replay a failure), and its tests with
 * their points. A test gets the submission and says OK or FAIL with what it
 * measured; a failing schedule comes back as a replay command.
 *
 * Labs import only the package entry ('percpu-emu'), as a student's code
 * does, so they run the same from this repository and from an installed
 * package.
 *
 * @example
 * const lab: Lab = { name: 'counters', title: 'Per-CPU counters', folder, scenarios, tests };
 */

import { fileURLToPath } from 'node:url';
import type { Scenario } from 'percpu-emu';

/** A student's folder with one lab's files in it. */
export interface Submission {
  readonly lab: Lab;
  /** Absolute path of the student's folder. */
  readonly dir: string;
}

export interface TestOutcome {
  readonly ok: boolean;
  /** What was measured, with the values. */
  readonly detail?: string;
  /** The command that replays the failing schedule. */
  readonly replay?: string;
}

/** How a test runs the machine: the reproducible engine, or one worker thread per CPU. */
export type TestMode = 'deterministic' | 'parallel';

export interface LabTest {
  /** `per-CPU stats exact under PCT (300 schedules)`. */
  readonly name: string;
  readonly points: number;
  readonly mode: TestMode;
  run(s: Submission): TestOutcome | Promise<TestOutcome>;
}

/** A scenario the lab builds from the student's folder. */
export interface LabScenario {
  readonly description: string;
  /** Builds the scenario; a lab whose student code is TS imports it first (a promise). */
  build(dir: string): Scenario | Promise<Scenario>;
}

export interface Lab {
  /** The name students type: `percpu-emu lab start counters`. */
  readonly name: string;
  readonly title: string;
  /** The lab's folder: README.md and starter/. */
  readonly folder: string;
  /** The files of starter/ a student edits, for the handout and `lab start`. */
  readonly studentFiles: readonly string[];
  readonly scenarios: Readonly<Record<string, LabScenario>>;
  readonly tests: readonly LabTest[];
}

/**
 * The folder of lab `name` (its README.md and starter/), from a module of
 * that lab: beside it in the sources, and at the package's labs/ when the
 * module is the built dist/labs/<name>/*.js.
 *
 * @example
 * labFolder(import.meta.url, 'kalloc'); // '/.../labs/kalloc/'
 */
export function labFolder(moduleUrl: string, name: string): string {
  const built = !moduleUrl.endsWith('.ts');
  return fileURLToPath(new URL(built ? `../../../labs/${name}/` : './', moduleUrl));
}
