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
  it('3 for an exception that is not the guest fault: a kernel helper that throws', () => {
    const file = scenario(
      'throws',
      `{
  name: 'throws',
  description: 'helper 200 throws a TypeError',
  machine: { cpus: 1 },
  setup(k) {
    k.helpers.register(200, 'bpf_trouble', () => { throw new TypeError('not a helper result'); });
    k.spawn({ comm: 'one', program: k.assemble('call 200\\nr0 = 0\\nexit') });
  },
  invariants: [],
}`,
    );
    const r = spawnCli(['run', file]);
    expect(r.stdout).toContain('BUG: emulator exception on CPU#0 while running one/1');
    expect(r.stdout).toContain('not a helper result');
    expect(r.stdout).toContain('verdict:  EMULATOR BUG');
    expect(r.status).toBe(3);
  });

  it('2 for a scenario whose own code throws: its setup, with the report kept', () => {
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
    expect(r.stdout).toContain("EINVAL: one:1:1: expected a register, found 'r11'");
    expect(r.stdout).toContain("verdict:  the scenario's own code threw (setup)");
    expect(r.status).toBe(2);
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
    expect(r.stdout).toContain('stopped before all tasks finished (the time limit passed)');
    expect(r.stdout).toContain('FAIL  every task ran to completion: still running: spin/1');
    expect(r.stdout).toContain(
      'verdict:  NO VERDICT: the time limit (300 ms) stopped the run; on the partial state it left, 0 of 1 invariants held',
    );
  });

  it('1, never "every invariant held", when --timeout stopped a setup whose invariants held', () => {
    const file = scenario(
      'slow-setup',
      `{
  name: 'slow-setup',
  description: 'a setup that never returns',
  setup() { for (;;); },
  invariants: [{ name: 'always', check: () => ({ ok: true, detail: 'yes' }) }],
}`,
    );
    const run = spawnCli(['run', file, '--timeout', '300']);
    expect(run.stdout).toContain('PASS  always: yes');
    expect(run.stdout).toContain('verdict:  NO VERDICT: the time limit (300 ms) stopped the setup');
    expect(run.stdout).not.toContain('every invariant held');
    expect(run.status).toBe(1);
    const explore = spawnCli(['explore', file, '--runs', '3', '--timeout', '300']);
    expect(explore.stdout).toContain(
      'slow-setup: seed 1 was stopped by the time limit in the setup (run 1 of 3)',
    );
    expect(explore.stdout).not.toContain('every invariant held');
    expect(explore.status).toBe(1);
  });
});
