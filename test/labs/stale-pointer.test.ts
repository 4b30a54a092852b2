import { describe, expect, it } from 'vitest';
import { failed, grade } from './grade-fixture.ts';

const T = 600_000;

describe('lab stale-pointer', () => {
  it('the starter passes only when nothing migrates, and scores the same twice', {
    timeout: T,
  }, async () => {
    const r = await grade('stale-pointer', 'starter');
    expect(failed(r)).toEqual([
      'part A: exact with migrations under PCT (200 schedules)',
      'part A: no DEBUG_PREEMPT report',
      'part B: tokens, exact with migrations under PCT (200 schedules)',
      'part B: tokens, exact with migrations under random schedules (100)',
    ]);
    expect(r.score).toBe(25);
    const again = await grade('stale-pointer', 'starter');
    expect(again.tests.map((t) => [t.ok, t.detail, t.replay])).toEqual(
      r.tests.map((t) => [t.ok, t.detail, t.replay]),
    );
  });

  it('the reference solution (CpuGuard, then PerCpuToken) gets full marks', {
    timeout: T,
  }, async () => {
    const r = await grade('stale-pointer', 'stale-pointer');
    expect(failed(r), JSON.stringify(r.tests.filter((t) => !t.ok))).toEqual([]);
    expect(r.score).toBe(100);
  });

  it('a guard around the write with the pointer taken before it fails part A under PCT', {
    timeout: T,
  }, async () => {
    const r = await grade('stale-pointer', 'stale-pointer-guard-too-late');
    expect(failed(r)).toEqual(['part A: exact with migrations under PCT (200 schedules)']);
    expect(r.tests[1].detail).toMatch(/cache_hits \d+, books \d+/);
  });
});
