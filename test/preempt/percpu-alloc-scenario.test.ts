import { describe, expect, it } from 'vitest';
import { percpuAlloc } from '../../scenarios/races/percpu-alloc.ts';
import { runScenario } from '../../scenarios/run-scenario.ts';

describe('the percpu_alloc selftest scenario (percpu_alloc_array.c, test_array_map_1..4)', () => {
  it('round-robin: d == 2, the sum of c == 1, no leak, no sanitizer report', () => {
    const r = runScenario(percpuAlloc('rcu'), { strategy: 'rr', quantum: 7 });
    expect(r.verdicts.map((v) => [v.name, v.ok])).toEqual([
      ['every task ran to completion', true],
      ["CPU 0's d == 2", true],
      ['the sum of c over CPUs == 1', true],
      ['readers only ever summed c to 0 or 1', true],
      ['no percpu object leaked', true],
      ['no sanitizer report', true],
    ]);
    expect(r.reports).toEqual([]);
  });

  it('readers inside bpf_rcu_read_lock() hold over 40 PCT and 20 random seeds', () => {
    const failed: string[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const r = runScenario(percpuAlloc('rcu'), { strategy: 'pct', seed });
      if (!r.ok) failed.push(`pct ${seed}: ${r.verdicts.find((v) => !v.ok)?.detail}`);
    }
    for (let seed = 1; seed <= 20; seed++) {
      const r = runScenario(percpuAlloc('rcu'), { strategy: 'random', seed });
      if (!r.ok) failed.push(`random ${seed}: ${r.verdicts.find((v) => !v.ok)?.detail}`);
    }
    expect(failed).toEqual([]);
  });

  it('readers without the RCU read lock read freed memory, and the sanitizer says so (PCT seed 2)', () => {
    const r = runScenario(percpuAlloc('racy-no-rcu'), { strategy: 'pct', seed: 2 });
    expect(r.ok).toBe(false);
    expect(r.verdicts.filter((v) => !v.ok).map((v) => v.name)).toEqual(['no sanitizer report']);
    const [kasan] = r.reports.filter((x) => x.kind === 'kasan');
    expect(kasan.comm).toMatch(/^reader\d$/);
    expect(kasan.lines[0]).toMatch(
      /^BUG: KASAN: use-after-free in read\+0x[0-9a-f]+\/0x[0-9a-f]+$/,
    );
    expect(kasan.lines).toContain('Allocated by task 1 (percpu_alloc) on CPU 1:');
    expect(
      kasan.lines.some((l) =>
        /^Freed by task 1 \(percpu_alloc\) on CPU \d \(deferred, done after an RCU grace period\):$/.test(
          l,
        ),
      ),
    ).toBe(true);
    const again = runScenario(percpuAlloc('racy-no-rcu'), { replay: r.replay });
    expect(again.reports.map((x) => x.lines)).toEqual(r.reports.map((x) => x.lines));
  });
});
