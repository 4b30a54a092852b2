import { describe, expect, it } from 'vitest';
import { failed, grade } from './grade-fixture.ts';

const T = 600_000;

describe('lab counters', () => {
  it('the untouched starter runs but loses updates: only the no-interrupt test passes', {
    timeout: T,
  }, async () => {
    const r = await grade('counters', 'starter');
    expect(r.score).toBe(10);
    expect(r.maxScore).toBe(100);
    expect(r.tests.find((t) => !t.ok)?.replay).toMatch(
      /^npx percpu-emu lab run counters tick-30 --replay v2\./,
    );
    expect(failed(r)).toHaveLength(6);
  });

  it('the reference solution gets full marks, parallel mode included', { timeout: T }, async () => {
    const r = await grade('counters', 'counters');
    expect(failed(r), JSON.stringify(r.tests.filter((t) => !t.ok))).toEqual([]);
    expect(r.score).toBe(100);
    expect(r.tests.find((t) => t.name.includes('costs'))?.detail).toMatch(
      /measured 8\.\d instructions/,
    );
  });

  it('preempt_disable alone fails against the timer handler', { timeout: T }, async () => {
    const r = await grade('counters', 'counters-preempt-only', 'deterministic');
    expect(failed(r)).toContain(
      'stats exact against the timer handler at every tick position (40 intervals)',
    );
    expect(r.score).toBeLessThan(r.maxScore);
  });

  it('the fix applied to one field only fails the exactness tests and DEBUG_PREEMPT', {
    timeout: T,
  }, async () => {
    const r = await grade('counters', 'counters-one-field', 'deterministic');
    expect(failed(r)).toEqual(
      expect.arrayContaining([
        'stats exact with two tasks per CPU under PCT (100 schedules)',
        'no DEBUG_PREEMPT report (smp_processor_id() in preemptible code)',
      ]),
    );
    expect(r.tests.find((t) => t.name.includes('PCT'))?.detail).toMatch(/packets = \d+, expected/);
  });

  it('local_irq_save is exact but fails the cost test only', { timeout: T }, async () => {
    const r = await grade('counters', 'counters-irqsave', 'deterministic');
    expect(failed(r)).toEqual(['a task update costs at most 10 instructions']);
    expect(r.score).toBe(75);
  });
});
