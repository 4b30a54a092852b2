/**
 * `percpu-emu conformance <files or folders...>`: runs eBPF conformance
 * `.data` files (a folder means every `*.data` inside it, sorted by name),
 * prints each failure and skip with its file and reason, and ends with
 * `N passed, M failed` (plus `, K skipped` when any were skipped).
 *
 * Without arguments it runs $PERCPU_EMU_CONFORMANCE, when set (a checkout
 * of the tests/ folder of github.com/Alan-Jowett/bpf_conformance).
 *
 * Exit status: 0 when nothing failed, 1 when something did, 2 for a usage
 * error (no arguments, a path that does not exist, nothing to run).
 *
 * @example
 * // npx percpu-emu conformance ../shared/conformance
 * // FAIL ../shared/conformance/add.data: expected r0 = 0x3, got 0x2
 * // 230 passed, 1 failed
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ErrnoError } from '../../segments/errno.ts';
import { parseDataFile } from '../conformance/data-file.ts';
import { type ConformanceOutcome, runConformanceTest } from '../conformance/run-test.ts';

const USAGE =
  'usage: percpu-emu conformance <files or folders...> (default: $PERCPU_EMU_CONFORMANCE)\n';

export async function main(args: string[]): Promise<number> {
  const fromEnv = process.env.PERCPU_EMU_CONFORMANCE;
  if (args.length === 0 && fromEnv) args = [fromEnv];
  if (args.length === 0) {
    process.stderr.write(USAGE);
    return 2;
  }
  const files: string[] = [];
  for (const arg of args) {
    const found = dataFiles(arg);
    if (typeof found === 'string') {
      process.stderr.write(`percpu-emu conformance: ${found}\n${USAGE}`);
      return 2;
    }
    files.push(...found);
  }
  const counts = { pass: 0, fail: 0, skip: 0 };
  for (const file of files) {
    const outcome = runFile(file);
    counts[outcome.status]++;
    if (outcome.status !== 'pass') {
      process.stdout.write(`${outcome.status.toUpperCase()} ${file}: ${outcome.reason}\n`);
    }
  }
  const skipped = counts.skip > 0 ? `, ${counts.skip} skipped` : '';
  process.stdout.write(`${counts.pass} passed, ${counts.fail} failed${skipped}\n`);
  return counts.fail > 0 ? 1 : 0;
}

/** The .data files named by `arg`, or a sentence saying why there are none. */
function dataFiles(arg: string): string[] | string {
  let isDir: boolean;
  try {
    isDir = statSync(arg).isDirectory();
  } catch (e) {
    return `cannot read ${arg}: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (!isDir) return [arg];
  const names = readdirSync(arg)
    .filter((n) => n.endsWith('.data'))
    .sort();
  if (names.length === 0) return `no .data files in ${arg}`;
  return names.map((n) => path.join(arg, n));
}

function runFile(file: string): ConformanceOutcome {
  try {
    return runConformanceTest(parseDataFile(readFileSync(file, 'utf8')));
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    return { status: 'fail', reason: e.message };
  }
}
