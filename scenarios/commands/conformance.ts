/**
 * `percpu-emu conformance [files or folders...]`: runs eBPF conformance
 * `.data` files (a folder means every `*.data` inside it, sorted by name),
 * prints each failure and skip with its file and reason, and ends with
 * `N passed, M failed` (plus `, K skipped` when any were skipped).
 *
 * Without arguments it runs $PERCPU_EMU_CONFORMANCE, when set (a checkout
 * of the tests/ folder of github.com/Alan-Jowett/bpf_conformance).
 *
 * @example
 * // npx percpu-emu conformance ../shared/conformance
 * // FAIL ../shared/conformance/add.data: expected r0 = 0x3, got 0x2
 * // 230 passed, 1 failed
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ErrnoError } from '../../segments/errno.ts';
import { parseDataFile } from '../conformance/data-file.ts';
import { type ConformanceOutcome, runConformanceTest } from '../conformance/run-test.ts';
import { EXIT_FAILED, EXIT_OK, InputError } from './exit-status.ts';

export function register(program: Command, finish: (status: number) => void): void {
  program
    .command('conformance')
    .summary('run eBPF conformance .data files')
    .description(
      'Runs eBPF conformance tests: .data files in the format of the public bpf_conformance ' +
        'suite (an assembly program, its input memory and the expected r0). Prints each ' +
        'failure and skip with its reason, then `N passed, M failed`.',
    )
    .argument(
      '[paths...]',
      '.data files, or folders whose *.data files all run (default: $PERCPU_EMU_CONFORMANCE)',
    )
    .addHelpText(
      'after',
      `
Exit status:
  0  every test passed (or was skipped)
  1  a test failed
  2  usage or input error: no paths and no $PERCPU_EMU_CONFORMANCE, a path that
     cannot be read, a folder without .data files
  3  emulator bug

Example:
  percpu-emu conformance ../bpf_conformance/tests
`,
    )
    .action((paths: string[]) => finish(run(paths)));
}

function run(paths: string[]): number {
  const fromEnv = process.env.PERCPU_EMU_CONFORMANCE;
  if (paths.length === 0 && fromEnv) paths = [fromEnv];
  if (paths.length === 0) {
    throw new InputError(
      'no paths given and $PERCPU_EMU_CONFORMANCE is not set (a checkout of the bpf_conformance tests/ folder)\n' +
        'usage: percpu-emu conformance <files or folders...> (default: $PERCPU_EMU_CONFORMANCE)',
    );
  }
  const files = paths.flatMap(dataFiles);
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
  return counts.fail > 0 ? EXIT_FAILED : EXIT_OK;
}

/** The .data files named by `arg`; InputError when there are none. */
function dataFiles(arg: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(arg).isDirectory();
  } catch (e) {
    throw new InputError(`cannot read ${arg}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isDir) return [arg];
  const names = readdirSync(arg)
    .filter((n) => n.endsWith('.data'))
    .sort();
  if (names.length === 0) throw new InputError(`no .data files in ${arg}`);
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
