/**
 * Finds and imports a scenario module: a path to a .ts file, or the name of
 * one of the shipped examples (`lost-update-racy` for
 * scenarios/examples/lost-update-racy.ts). Its default export is the scenario.
 *
 * @example
 * const s = await loadScenario('lost-update-racy');
 */

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrnoError } from '../segments/errno.ts';
import type { Scenario } from './scenario.ts';

export const EXAMPLES_DIR = fileURLToPath(new URL('./examples/', import.meta.url));

export function resolveScenarioPath(spec: string): string {
  if (existsSync(spec)) return resolve(spec);
  const example = resolve(EXAMPLES_DIR, spec.endsWith('.ts') ? spec : `${spec}.ts`);
  if (existsSync(example)) return example;
  throw new ErrnoError(
    'ENOENT',
    `no scenario '${spec}': not a file, nor an example in scenarios/examples/`,
  );
}

export async function loadScenario(spec: string): Promise<Scenario> {
  const path = resolveScenarioPath(spec);
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
