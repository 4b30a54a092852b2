/**
 * Finds and imports a scenario module: a path to a .ts or .js file anywhere,
 * or the name of one of the shipped scenarios (`lost-update-racy` for
 * scenarios/examples/lost-update-racy.ts). Its default export is the scenario.
 *
 * A scenario file runs wherever it is, as ESM, whatever its folder says: a
 * .ts file in a folder with no package.json (or one without
 * `"type": "module"`) would otherwise load as CommonJS and fail on its
 * imports. Before the first import, module hooks are registered that
 *   - load the user's .ts and .js files (those outside node_modules) as ES
 *     modules, and
 *   - resolve `import ... from 'percpu-emu'` to this very copy of
 *     percpu-emu, so that a scenario in an empty folder finds the package,
 *     and shares its classes and tables with the CLI that runs it.
 * The built CLI (dist/) registers tsx's loader (its `tsx/esm/api`) for .ts
 * scenario files; the sources already run under tsx or vitest, which have one.
 *
 * @example
 * const s = await loadScenario('lost-update-racy');
 * const mine = await loadScenario('/tmp/empty/my-counter.ts');
 */

import { existsSync, readdirSync } from 'node:fs';
import { register } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrnoError } from '../segments/errno.ts';
import type { Scenario } from './scenario.ts';

export const EXAMPLES_DIR = fileURLToPath(new URL('./examples/', import.meta.url));

/** `.ts` beside the sources, `.js` in the built package. */
const OWN_EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** The package entry of this copy of percpu-emu (index.ts, or dist/index.js when built). */
const SELF_ENTRY = new URL(`../index${OWN_EXT}`, import.meta.url);
/** The folder of that entry: the sources, or dist/. */
const PACKAGE_ROOT = fileURLToPath(new URL('../', import.meta.url));

export function resolveScenarioPath(spec: string): string {
  if (existsSync(spec)) return resolve(spec);
  const example = resolve(EXAMPLES_DIR, spec.endsWith(OWN_EXT) ? spec : `${spec}${OWN_EXT}`);
  if (existsSync(example)) return example;
  throw new ErrnoError(
    'ENOENT',
    `no scenario '${spec}': not a file, nor a shipped scenario (percpu-emu list shows them)`,
  );
}

/** The names of the shipped scenarios (scenarios/examples/), sorted. */
export function shippedScenarios(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith(OWN_EXT) && !f.endsWith(`.d${OWN_EXT}`))
    .map((f) => f.slice(0, -OWN_EXT.length))
    .sort();
}

export async function loadScenario(spec: string): Promise<Scenario> {
  const path = resolveScenarioPath(spec);
  await prepareLoader(path);
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

/**
 * The module hooks of the file comment, as a data: URL (hooks run on the
 * loader's own thread, which has no TS loader of its own).
 */
const SCENARIO_HOOKS = `
let self;
export function initialize(data) { self = data.self; }
export async function resolve(specifier, context, next) {
  if (specifier === 'percpu-emu' && self) return { url: self, format: 'module', shortCircuit: true };
  const r = await next(specifier, context);
  const user = r.url.startsWith('file:') && !r.url.includes('/node_modules/');
  return user && /\\.(ts|tsx|js)$/.test(r.url) ? { ...r, format: 'module' } : r;
}`;

let hooksRegistered = false;
let tsRegistered = false;

/** This module's URL: the `loader` of a parallel run's RecipeRef (preempt/parallel/protocol.ts). */
export const SCENARIO_LOADER = import.meta.url;

/**
 * Readies this thread to import the scenario file `file` (a path or file
 * URL): the module hooks, and tsx in the built package for a .ts file.
 * Each thread that imports scenario files calls it once per file; the
 * parallel runner's workers do so through SCENARIO_LOADER.
 */
export async function prepareLoader(file: string): Promise<void> {
  const path = file.startsWith('file:') ? fileURLToPath(file) : file;
  // Every import after the hooks goes through them, which costs start-up time:
  // the built package's own .js scenarios load without them.
  if (!/\.[cm]?tsx?$/.test(path) && path.startsWith(PACKAGE_ROOT)) return;
  // Node < 20.6 has no module.register: scenario files then load as Node decides.
  if (typeof register !== 'function') return;
  if (OWN_EXT === '.js' && /\.tsx?$/.test(path) && !tsRegistered) {
    tsRegistered = true;
    (await import('tsx/esm/api')).register();
    // Hooks registered later run first: the scenario hooks stay outermost, so that
    // their format is the one tsx's loader sees.
    hooksRegistered = false;
  }
  if (!hooksRegistered) {
    hooksRegistered = true;
    register(`data:text/javascript,${encodeURIComponent(SCENARIO_HOOKS)}`, {
      data: { self: existsSync(SELF_ENTRY) ? SELF_ENTRY.href : undefined },
    });
  }
}
