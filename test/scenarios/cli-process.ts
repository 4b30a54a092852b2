/**
 * The CLI as a user runs it, from its TypeScript sources: a child Node with
 * tsx, and `percpu-emu` (the shipped scenarios' import) resolved to the
 * sources too, so the tests never run a stale dist/.
 *
 * @example
 * const r = spawnCli(['run', 'lost-update-fixed']); // r.status 0
 */

import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../scenarios/cli.ts', import.meta.url));
/** tsx by its path, so that the child finds it from any working folder (an empty temp folder too). */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface CliSpawnOptions {
  input?: string | Buffer;
  cwd?: string;
  env?: Record<string, string>;
}

export function spawnCli(args: string[], opts: CliSpawnOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(
    process.execPath,
    ['--conditions=percpu-emu-source', '--import', TSX, CLI, ...args],
    {
      cwd: opts.cwd ?? PROJECT_ROOT,
      encoding: 'utf8',
      input: opts.input,
      env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
    },
  );
}
