/**
 * A scenario file runs wherever it is: the docs' own example copied into an
 * empty folder (no package.json, no node_modules) runs with `percpu-emu run`,
 * as ESM, its `import ... from 'percpu-emu'` resolved to the CLI's own copy.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, spawnCli } from '../cli-process.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'percpu-emu-anywhere-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first TypeScript snippet of docs/scenarios.md: the example every user starts from. */
function docsExample(): string {
  const doc = readFileSync(path.join(PROJECT_ROOT, 'docs/scenarios.md'), 'utf8');
  const m = /```ts\n([\s\S]*?)```/.exec(doc);
  if (m === null) throw new Error('docs/scenarios.md has no ts snippet');
  return m[1];
}

describe('a scenario file in an empty folder', () => {
  it("runs the docs' example with percpu-emu run, and replays it", () => {
    writeFileSync(path.join(dir, 'my-counter.ts'), docsExample());
    const r = spawnCli(['run', 'my-counter.ts', '--strategy', 'pct', '--seed', '3'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('scenario: my-counter: two tasks on CPU 0 bump a per-CPU counter');
    expect(r.stdout).toMatch(/(PASS|FAIL) {2}sum of counter over CPUs is exact/);
    expect([0, 1]).toContain(r.status);
    const replay = /--replay (v2\.\S+)/.exec(r.stdout)?.[1] ?? '';
    const again = spawnCli(['run', 'my-counter.ts', '--replay', replay], { cwd: dir });
    expect(again.status).toBe(r.status);
    expect(again.stdout).toContain(`--replay ${replay}`);
  });

  it('runs it in parallel mode too: the worker threads load it the same way', () => {
    writeFileSync(path.join(dir, 'my-counter.ts'), docsExample());
    const r = spawnCli(['run', 'my-counter.ts', '--mode', 'parallel'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('strategy: parallel: 2 worker threads');
    expect(r.stdout).toMatch(/(PASS|FAIL) {2}sum of counter over CPUs is exact/);
    expect([0, 1]).toContain(r.status);
  });

  it('loads relative TypeScript imports of the scenario as ESM too', () => {
    writeFileSync(
      path.join(dir, 'helpers.ts'),
      "export const EXIT_AT_ONCE: string = 'r0 = 0\\nexit';\n",
    );
    writeFileSync(
      path.join(dir, 'tiny.ts'),
      `import { defineScenario, type Scenario } from 'percpu-emu';
import { EXIT_AT_ONCE } from './helpers.ts';

const s: Scenario = defineScenario({
  name: 'tiny',
  description: 'one task that exits at once',
  machine: { cpus: 1 },
  setup(k) {
    k.spawn({ comm: 'one', program: k.assemble(EXIT_AT_ONCE) });
  },
  invariants: [],
});
export default s;
`,
    );
    const r = spawnCli(['run', 'tiny.ts'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('PASS  every task ran to completion: 1 tasks exited with 0');
    expect(r.status).toBe(0);
  });

  it('says what is wrong with a file that is no scenario, exit status 2', () => {
    writeFileSync(path.join(dir, 'nothing.ts'), 'export const x = 1;\n');
    const r = spawnCli(['run', 'nothing.ts'], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('nothing.ts does not export a scenario as its default');
  });
});
