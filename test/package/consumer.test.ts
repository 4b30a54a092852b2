/**
 * The package as a user gets it: `npm pack`, the tarball installed into a
 * fresh project in a temporary folder (no path back to this repository's
 * sources), and there (a) `npx percpu-emu run` on a scenario file of that
 * project and (b) a vitest regression test importing `percpu-emu` that
 * explores a racy scenario to a failure and replays it. npm runs offline:
 * everything comes from the tarball and the npm cache this repository's own
 * install filled.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./consumer-project/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'percpu-emu-consumer-'));
const project = join(work, 'project');

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [field: string]: unknown;
}

/**
 * The entries of this repository's lockfile that `names` need, found as
 * Node finds a dependency (the nearest node_modules up the path), so that
 * `npm ci --offline` in the project takes every package from the npm cache
 * by its integrity and never asks the registry for metadata.
 */
function lockClosure(names: string[]): Record<string, LockEntry> {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const found: Record<string, LockEntry> = {};
  const locate = (from: string, name: string): string | undefined => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
      const at = `${dir === '' ? '' : `${dir}/`}node_modules/${name}`;
      if (lock.packages[at] !== undefined) return at;
      if (dir === '') return undefined;
    }
  };
  const visit = (from: string, name: string, optional: boolean): void => {
    const at = locate(from, name);
    if (at === undefined) {
      if (optional) return; // another platform's optional package
      throw new Error(`package-lock.json has no ${name} for ${from || 'the root'}`);
    }
    if (found[at] !== undefined) return;
    const entry = lock.packages[at];
    found[at] = entry;
    for (const d of Object.keys(entry.dependencies ?? {})) visit(at, d, false);
    for (const d of Object.keys(entry.optionalDependencies ?? {})) visit(at, d, true);
    for (const d of Object.keys(entry.peerDependencies ?? {})) visit(at, d, true);
  };
  for (const n of names) visit('', n, false);
  return found;
}

beforeAll(() => {
  // npm pack runs the prepare script, which builds dist/.
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], ROOT)) as {
    filename: string;
    integrity: string;
  }[];
  const self = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  cpSync(FIXTURE, project, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
  const closure = lockClosure([...Object.keys(self.dependencies), 'vitest']);
  manifest.dependencies = {
    'percpu-emu': `file:../${packed.filename}`,
    vitest: closure['node_modules/vitest'].version,
  };
  writeFileSync(join(project, 'package.json'), JSON.stringify(manifest, null, 2));
  const lock = {
    name: manifest.name,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: manifest.name, dependencies: manifest.dependencies },
      'node_modules/percpu-emu': {
        version: self.version,
        resolved: `file:../${packed.filename}`,
        integrity: packed.integrity,
        license: self.license,
        dependencies: self.dependencies,
        bin: self.bin,
        engines: self.engines,
      },
      ...closure,
    },
  };
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify(lock, null, 2));
  npm(['ci', '--offline'], project);
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('percpu-emu installed from its tarball', () => {
  it('ships built JavaScript and declarations, not the TypeScript sources', () => {
    const installed = join(project, 'node_modules', 'percpu-emu');
    const files = readdirSync(installed, { recursive: true }).map(String);
    expect(files).toContain(join('dist', 'index.js'));
    expect(files).toContain(join('dist', 'index.d.ts'));
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('npx percpu-emu runs a scenario file of the project (no "type": "module" there)', () => {
    const held = spawnSync('npx', ['percpu-emu', 'run', 'counter.ts'], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(held.stderr).toBe('');
    expect(held.stdout).toContain('my-counter-fixed');
    expect(held.stdout).toContain('every invariant held');
    expect(held.status).toBe(0);

    const racy = spawnSync('npx', ['percpu-emu', 'run', 'counter.ts', '--seed', '1'], {
      cwd: project,
      encoding: 'utf8',
      env: { ...process.env, COUNTER_RACY: '1' },
    });
    expect(racy.stdout).toContain('my-counter-racy');
    expect(racy.stdout).toMatch(/FAIL/);
    expect(racy.status).toBe(1);
  });

  it('a vitest regression test of the project explores a race and replays it', () => {
    const r = spawnSync('npx', ['vitest', 'run'], { cwd: project, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toMatch(/2 passed/);
    expect(r.status).toBe(0);
  });
});
