/**
 * `percpu-emu prog show|dump|run` on our compiled fixtures, as a user runs
 * the CLI. Skipped with the reason printed where clang is absent.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { availableBuilds, compileFixture, fixtureSource } from '../../loader/compile.ts';
import { spawnCli } from '../cli-process.ts';

const { builds } = availableBuilds();
if (builds.length === 0) console.log('prog command tests skipped: no clang');

describe.skipIf(builds.length === 0)('percpu-emu prog', () => {
  const counter = () => compileFixture('percpu_counter', builds[0]);
  const prog = (...args: string[]) => spawnCli(['prog', ...args]);

  it('show: sections, programs with instruction counts, maps with attributes, globals', () => {
    const r = prog('show', counter());
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("  count: syscall sec 'syscall' 23 insns");
    expect(r.stdout).toContain(
      '  counters: BPF_MAP_TYPE_PERCPU_ARRAY key 4B value 8B max_entries 4 flags 0x0',
    );
    expect(r.stdout).toContain(
      '  percpu_c.rodata: BPF_MAP_TYPE_ARRAY key 4B value 12B max_entries 1 flags 0x480',
    );
    expect(r.stdout).toContain('  .rodata +0 const volatile __u64 step = 1');
  });

  it('dump: the linked program with its C source lines', () => {
    const r = prog('dump', counter(), '--prog', 'count');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("count: sec 'syscall', syscall, 39 insns");
    expect(r.stdout).toContain('; *slot += scale(n); [percpu_counter.bpf.c:31]');
    expect(r.stdout).toContain('    6: call bpf_map_lookup_elem');
    expect(r.stdout).toMatch(/\nbump:\n/);
  });

  it('run --json: retvals, globals and maps after the programs ran in order', () => {
    const r = prog(
      'run',
      counter(),
      '--prog',
      'count',
      '--prog',
      'count',
      '--cpu',
      '1',
      '--cpus',
      '2',
      '--set',
      'step=5',
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(
      out.programs.map((p: { name: string; cpu: number; retval: number }) => [
        p.name,
        p.cpu,
        p.retval,
      ]),
    ).toEqual([
      ['count', 1, 0],
      ['count', 1, 0],
    ]);
    expect(out.globals).toMatchObject({ step: 5, runs: 2, last_cpu: 1, base: 100 });
    expect(out.maps.counters['0']).toEqual([0, 10]);
  });

  it('run: the bpf_trace_printk output of a C source compiled on the spot', () => {
    const r = prog('run', fixtureSource('variants'), '--prog', 'say_hello', '--cpu', '1');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('say_hello on CPU 1: retval 7');
    expect(r.stdout).toContain('  bpf_trace_printk: hello from CPU 1');
  });

  it('a refused object or program name exits 2 with the errno sentence, as a usage error does', () => {
    const bad = prog('run', counter(), '--prog', 'nope');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(
      /ENOENT: no program 'nope' in 'percpu_counter' \(it has count, total\)/,
    );
    expect(prog('run', counter()).status).toBe(2);
    const garbage = join(mkdtempSync(join(tmpdir(), 'prog-')), 'garbage.o');
    writeFileSync(garbage, 'not an ELF object at all');
    const broken = prog('show', garbage);
    expect(broken.status).toBe(2);
    expect(broken.stderr).toMatch(/^percpu-emu prog show: .*garbage\.o: ENOEXEC: not an ELF file/);
  });
});
