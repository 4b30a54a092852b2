/**
 * Finds and imports a scenario module: a path to a .ts file, or the name of
 * one of the shipped examples (`lost-update-racy` for
 * scenarios/examples/lost-update-racy.ts). Its default export is the scenario.
 *
 * @example
 * const s = await loadScenario('lost-update-racy');
 */

import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrnoError } from '../segments/errno.ts';
import type { Scenario } from './scenario.ts';

export const EXAMPLES_DIR = fileURLToPath(new URL('./examples/', import.meta.url));

export function resolveScenarioPath(spec: string): string {
  if (existsSync(spec)) return resolve(spec);
  // The examples are .ts beside the sources and .js in the built package.
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const example = resolve(EXAMPLES_DIR, spec.endsWith(ext) ? spec : `${spec}${ext}`);
  if (existsSync(example)) return example;
  throw new ErrnoError(
    'ENOENT',
    `no scenario '${spec}': not a file, nor an example in scenarios/examples/`,
  );
}

// A scenario file is ESM whatever its folder's package.json says (a .ts file
// in a folder without "type": "module" would otherwise load as CommonJS): a
// resolve hook marks the user's TypeScript files, those outside node_modules,
// as modules. The built CLI also needs tsx to load them; the sources already
// run under tsx or vitest, which do. Both hooks cost start-up time (every later
// import goes through them), so only a TypeScript scenario installs them.
const ESM_FORMAT_HOOK = `export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  return /\\.ts$/.test(r.url) && !r.url.includes('/node_modules/') ? { ...r, format: 'module' } : r;
}`;
let loaderReady: Promise<void> | undefined;

function prepareLoader(): Promise<void> {
  loaderReady ??= (async () => {
    if (!import.meta.url.endsWith('.ts')) (await import('tsx/esm/api')).register();
    register(`data:text/javascript,${encodeURIComponent(ESM_FORMAT_HOOK)}`);
  })();
  return loaderReady;
}

export async function loadScenario(spec: string): Promise<Scenario> {
  const path = resolveScenarioPath(spec);
  if (/\.[cm]?ts$/.test(path)) await prepareLoader();
  const mod = (await import(pathToFileURL(path).href)) as { default?: Scenario };
  const s = mod.default;
  if (s === undefined || typeof s.setup !== 'function' || !Array.isArray(s.invariants)) {
    throw new ErrnoError(
      'EINVAL',
      `${path} does not export a scenario as its default (use defineScenario)`,
    );
  }
  return s;
}
