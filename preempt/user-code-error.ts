/**
 * An exception thrown by user code the machine calls: a scenario's setup or
 * invariant, a native task's body. It is the scenario's error, not the
 * emulator's, so the report names where it was thrown in the user's file
 * (the first stack frame outside the emulator's own layers) with the top of
 * the stack, and the run keeps the rest of its report.
 *
 * @example
 * const err = userCodeError('setup', e);
 * err.location; // '/work/scenarios/examples/my-scenario.ts:14:11'
 */

import { fileURLToPath } from 'node:url';

export interface UserCodeError {
  /** What threw: `setup`, `invariant 'sum is exact'`, `native task worker/3`. */
  readonly where: string;
  readonly message: string;
  /** `file:line:column` of the throwing user code, or '' when the stack names none. */
  readonly location: string;
  readonly stack: string;
}

/** Stack frames quoted in a report. */
const STACK_FRAMES = 5;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The emulator's own code: every layer, and the scenarios layer's top-level runners. */
const EMULATOR_FILE = new RegExp(
  `^(node:|.*node_modules)|^${escapeRegExp(ROOT)}(segments|cpu|percpu|maps|preempt|loader|nic|scenarios/commands)/|^${escapeRegExp(ROOT)}scenarios/[^/]+$`,
);

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The file:line:column of one `    at f (file:line:col)` stack line, or null. */
function frameLocation(line: string): string | null {
  const m = /((?:file:\/\/)?\/[^\s()]*?):(\d+):(\d+)\)?$/.exec(line.trim());
  if (m === null) return null;
  const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
  return `${file}:${m[2]}:${m[3]}`;
}

/** The record of `e`, thrown by the user code `where`. */
export function userCodeError(where: string, e: unknown): UserCodeError {
  const err = e instanceof Error ? e : new Error(String(e));
  const stack = err.stack ?? '';
  const frames = stack
    .split('\n')
    .filter((l) => l.trimStart().startsWith('at '))
    .map(frameLocation)
    .filter((l): l is string => l !== null);
  const location = frames.find((f) => !EMULATOR_FILE.test(f)) ?? frames[0] ?? '';
  return { where, message: err.message, location, stack };
}

/** The report lines of `err`: what threw and where, then the top of the stack. */
export function userCodeErrorLines(err: UserCodeError): string[] {
  const at = err.location === '' ? '' : ` at ${err.location}`;
  const frames = err.stack
    .split('\n')
    .filter((l) => l.trimStart().startsWith('at '))
    .slice(0, STACK_FRAMES)
    .map((l) => `    ${l.trim()}`);
  return [`${err.where} threw${at}: ${err.message}`, ...frames];
}
