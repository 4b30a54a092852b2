import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../cli-process.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'percpu-emu-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function scenario(name: string, body: string): string {
  const file = path.join(dir, `${name}.ts`);
  writeFileSync(
    file,
    `import { defineScenario } from 'percpu-emu';\n\nexport default defineScenario(${body});\n`,
  );
  return file;
}

describe('percpu-emu exit statuses', () => {
  it('3 for an exception that is not the guest fault, with its stack', () => {
    const file = scenario(
      'throws',
      `{
  name: 'throws',
  description: 'an invariant that throws a TypeError',
  machine: { cpus: 1 },
  setup(k) { k.spawn({ comm: 'one', program: k.assemble('r0 = 0\\nexit') }); },
  invariants: [{ name: 'blows up', check() { throw new TypeError('not a verdict'); } }],
}`,
    );
    const r = spawnCli(['run', file]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(
      "percpu-emu run: emulator bug (not the guest's fault), exit status 3:",
    );
    expect(r.stderr).toContain('TypeError: not a verdict');
    expect(r.stderr).toMatch(/ at .*throws\.ts:\d+:\d+/);
  });

  it('2 for a scenario whose setup fails, before anything runs', () => {
    const file = scenario(
      'bad-setup',
      `{
  name: 'bad-setup',
  description: 'assembles a register that does not exist',
  machine: { cpus: 1 },
  setup(k) { k.spawn({ comm: 'one', program: k.assemble('r11 = 0\\nexit', 'one') }); },
  invariants: [],
}`,
    );
    const r = spawnCli(['run', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("percpu-emu run: EINVAL: one:1:1: expected a register, found 'r11'\n");
  });

  it('--timeout stops a deterministic run that would not end, and the report says so', () => {
    const file = scenario(
      'forever',
      `{
  name: 'forever',
  description: 'a task that loops forever',
  machine: { cpus: 1 },
  setup(k) { k.spawn({ comm: 'spin', program: k.assemble('loop:\\n  goto loop') }); },
  invariants: [],
}`,
    );
    const r = spawnCli(['run', file, '--max-steps', '9007199254740991', '--timeout', '300']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('stopped before all tasks finished (wall-clock timeout)');
    expect(r.stdout).toContain('FAIL  every task ran to completion: still running: spin/1');
  });
});
