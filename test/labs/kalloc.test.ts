import { describe, expect, it } from 'vitest';
import { failed, grade } from './grade-fixture.ts';

const T = 600_000;

describe('lab kalloc', () => {
  it('the starter is correct but contended: both contention tests fail', {
    timeout: T,
  }, async () => {
    const r = await grade('kalloc', 'starter');
    expect(failed(r)).toEqual([
      'lock contention under round robin (quantum 3..13)',
      'lock contention under random schedules (20)',
    ]);
    expect(r.score).toBe(65);
    expect(r.tests.find((t) => t.name.includes('round robin'))?.detail).toMatch(
      /lock: kmem: #test-and-set \d+ #acquire\(\) \d+/,
    );
  });

  it('the reference solution gets full marks in both engines', { timeout: T }, async () => {
    const r = await grade('kalloc', 'kalloc');
    expect(failed(r), JSON.stringify(r.tests.filter((t) => !t.ok))).toEqual([]);
    expect(r.score).toBe(100);
    expect(r.tests.filter((t) => t.mode === 'parallel')).toHaveLength(1);
  });

  it('per-CPU lists without stealing lose pages', { timeout: T }, async () => {
    const r = await grade('kalloc', 'kalloc-no-steal', 'deterministic');
    expect(failed(r)).toContain('no page lost or handed out twice under PCT (60 schedules)');
    expect(r.tests.find((t) => !t.ok && t.name.includes('PCT'))?.detail).toMatch(
      /allocated \d+ of 32 pages/,
    );
  });

  it('stealing without the victim list lock hands a page out twice under PCT', {
    timeout: T,
  }, async () => {
    const r = await grade('kalloc', 'kalloc-unlocked-steal', 'deterministic');
    const pct = r.tests.find(
      (t) => t.name === 'no page lost or handed out twice under PCT (60 schedules)',
    );
    expect(pct?.ok).toBe(false);
    expect(pct?.detail).toMatch(/^seed \d+: no page handed out twice/);
    expect(pct?.replay).toMatch(/^npx percpu-emu lab run kalloc stress --replay v2\./);
  });
});
