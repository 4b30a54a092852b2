/**
 * Runs the `percpu-emu` command line from the sources, in a child process,
 * as a user would: its standard output, standard error and exit status.
 *
 * @example
 * const r = percpuEmu(['run', 'lost-update-fixed']);
 * r.status; // 0
 */

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../../scenarios/cli.ts', import.meta.url));

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function percpuEmu(
  args: readonly string[],
  opts: { input?: string | Buffer; cwd?: string } = {},
): CliRun {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: opts.cwd ?? ROOT,
    input: opts.input ?? '',
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
