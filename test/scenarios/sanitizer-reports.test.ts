import { describe, expect, it } from 'vitest';
import { percpuAlloc } from '../../scenarios/races/percpu-alloc.ts';
import { formatReport } from '../../scenarios/report.ts';
import { runScenario } from '../../scenarios/run-scenario.ts';
import { defineScenario } from '../../scenarios/scenario.ts';

/** One task makes a percpu object and keeps it; a second spins long enough to be cut short. */
const leaker = defineScenario({
  name: 'leaker',
  description: 'a task makes a percpu object and never drops it',
  machine: { cpus: 1 },
  setup(m) {
    m.spawn({
      comm: 'leaker',
      program: m.assemble(`
        r1 = 16
        r2 = 0
        call bpf_percpu_obj_new_impl
        r6 = 0
      spin:
        r6 += 1
        if r6 < 200 goto spin
        r0 = 0
        exit`),
    });
  },
  invariants: [],
});

describe('sanitizer reports of scenario runs', () => {
  it('print the KASAN report of the racy percpu_alloc scenario (PCT seed 2)', () => {
    const r = runScenario(percpuAlloc('racy-no-rcu'), { strategy: 'pct', seed: 2 });
    const text = formatReport(r, 'scenarios/examples/percpu-alloc-racy-no-rcu.ts');
    const lines = text.split('\n');
    const head = lines.findIndex((l) => /^KASAN: \d+ reports?$/.test(l));
    expect(head).toBeGreaterThan(0);
    expect(lines[head + 1]).toMatch(
      /^ {2}\[cpu \d\] BUG: KASAN: use-after-free in read\+0x[0-9a-f]+\/0x[0-9a-f]+$/,
    );
    expect(text).toContain('The buggy address belongs to the percpu allocation of size 24 (CPU');
    expect(text).toMatch(/FAIL {2}no sanitizer report: \d+, the first: BUG: KASAN: use-after-free/);
  });

  it('report the objects still allocated when every task has finished, kmemleak-style', () => {
    const r = runScenario(leaker, { strategy: 'rr' });
    expect(r.engine.finished).toBe(true);
    const leaks = r.reports.filter((x) => x.kind === 'leak');
    expect(leaks).toHaveLength(1);
    expect(leaks[0].lines.slice(0, 4)).toEqual([
      expect.stringMatching(/^unreferenced percpu object 0x[0-9a-f]+ \(size 16\):$/),
      expect.stringMatching(/^ {2}comm "leaker", pid 1, jiffies \d+$/),
      '  backtrace:',
      '    leaker+0x10/0x20',
    ]);
    const text = formatReport(r, 'leaker.ts');
    expect(text).toContain('kmemleak: 1 report\n');
    expect(text).toContain('] unreferenced percpu object 0x');
  });

  it('report no leak when the run was cut short: its tasks may still use their objects', () => {
    const r = runScenario(leaker, { strategy: 'rr', maxSteps: 50 });
    expect(r.engine.finished).toBe(false);
    expect(r.reports.filter((x) => x.kind === 'leak')).toEqual([]);
  });

  it('make no report in the fixed percpu_alloc scenario, whose object is dropped', () => {
    const r = runScenario(percpuAlloc('rcu'), { strategy: 'pct', seed: 3 });
    expect(r.ok).toBe(true);
    expect(r.reports).toEqual([]);
  });
});
