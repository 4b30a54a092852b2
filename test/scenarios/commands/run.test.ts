import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { spawnCli } from '../cli-process.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function cli(...args: string[]) {
  const r = spawnCli(['run', ...args], { cwd: ROOT });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('percpu-emu run', () => {
  it('reports a caught race with its replay command and exits 1', () => {
    const r = cli('lost-update-racy', '--strategy', 'pct', '--seed', '3');
    expect(r.status).toBe(1);
    expect(r.out).toContain('strategy: pct(seed=3, depth=2, steps=6000)');
    expect(r.out).toMatch(/FAIL {2}sum of counter over CPUs is exact: sum = \d+/);
    expect(r.out).toContain('BUG: using smp_processor_id() in preemptible [00000000] code: inc');
    expect(r.out).toMatch(
      /npx percpu-emu run lost-update-racy --cpus 2 --replay v2\.[0-9a-f]{16}\.\S+/,
    );
  });

  it('replays a run from its string, trace byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'percpu-emu-'));
    const first = cli('stale-pointer-racy', '--seed', '2', '--trace', join(dir, 'a.txt'));
    const replay = /--replay (v2\.\S+)/.exec(first.out)![1];
    const again = cli('stale-pointer-racy', '--replay', replay, '--trace', join(dir, 'b.txt'));
    expect(again.status).toBe(first.status);
    const verdicts = (out: string) => out.split('\n').filter((l) => /^ {2}(PASS|FAIL)/.test(l));
    expect(verdicts(again.out)).toEqual(verdicts(first.out));
    expect(readFileSync(join(dir, 'b.txt'), 'utf8')).toBe(readFileSync(join(dir, 'a.txt'), 'utf8'));
  });

  it('writes Chrome trace JSON with one track per CPU', () => {
    const dir = mkdtempSync(join(tmpdir(), 'percpu-emu-'));
    const r = cli('lost-update-fixed', '--format', 'json', '--trace', join(dir, 't.json'));
    expect(r.status).toBe(0);
    const trace = JSON.parse(readFileSync(join(dir, 't.json'), 'utf8'));
    const names = trace.traceEvents.filter((e: { name: string }) => e.name === 'thread_name');
    expect(names.map((e: { args: { name: string } }) => e.args.name)).toEqual(['CPU 0', 'CPU 1']);
  });

  it('passes a fixed scenario with exit status 0, on the CPU count asked', () => {
    const r = cli(
      'irq-rmw-fixed-this-cpu-add',
      '--cpus',
      '3',
      '--strategy',
      'random',
      '--seed',
      '9',
    );
    expect(r.status).toBe(0);
    expect(r.out).toContain('machine:  3 CPUs');
    expect(r.out).toContain('verdict:  every invariant held');
  });

  it('refuses bad input with a clear message', () => {
    expect(cli().status).toBe(2);
    expect(cli('no-such-scenario').err).toContain("ENOENT: no scenario 'no-such-scenario'");
    expect(cli('lost-update-racy', '--strategy', 'fifo').err).toContain(
      "argument 'fifo' is invalid. Allowed choices are pct, random, rr",
    );
    expect(cli('lost-update-racy', '--seed', '-1').err).toContain(
      '-1 is out of range: use 0..4294967295',
    );
    expect(cli('lost-update-racy', '--replay', 'v2.x').err).toContain('is not a replay string');
  });
});
