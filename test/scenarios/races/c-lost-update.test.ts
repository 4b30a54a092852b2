/**
 * The C twin of lost-update (scenarios/races/c-lost-update.ts): the racy
 * counter compiled from C is caught by PCT within 20 seeds, its
 * preempt-disabled fix (the preempt_disable/enable kfuncs) holds over 500
 * PCT seeds, and a failing run's replay string reproduces it byte for byte.
 * Skipped with the reason printed where clang or libbpf-dev is missing.
 */

import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { cLostUpdate } from '../../../scenarios/races/c-lost-update.ts';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import { findClang } from '../../loader/compile.ts';
import { failingSeeds, pctCatches } from './race-suite.ts';

const clang = findClang(14);
const missing = typeof clang === 'string' ? null : clang.missing;
if (missing !== null) console.log(`C lost-update skipped: ${missing}`);

describe.skipIf(missing !== null)(
  'race 1 in C: lost update of a PERCPU_ARRAY slot by two tasks on one CPU',
  () => {
    const racy = cLostUpdate('racy');

    it('PCT catches it within 20 seeds', () => {
      expect(pctCatches(racy, 20).length).toBeGreaterThan(0);
    });

    it('loses increments on CPU 0 only', () => {
      const v = runScenario(racy, { strategy: 'pct', seed: 2 }).verdicts[1];
      expect(v.ok).toBe(false);
      expect(v.detail).toMatch(/^sum = (\d+) \(per CPU: \1, 0\), expected 100$/);
    });

    it('replaying a failing run reproduces it byte for byte', () => {
      const original = runScenario(racy, { strategy: 'pct', seed: 2 });
      expect(original.ok).toBe(false);
      const again = runScenario(racy, { replay: original.replay });
      expect(again.verdicts).toEqual(original.verdicts);
      expect(again.machine.tracer!.toFtrace()).toBe(original.machine.tracer!.toFtrace());
      const memory = (r: typeof original) => Buffer.from(new Uint8Array(r.machine.memory.buffer));
      expect(memory(again).equals(memory(original))).toBe(true);
      expect(again.replay).toBe(original.replay);
    });

    const fixed = cLostUpdate('fixed');
    for (const from of [0, 100, 200, 300, 400]) {
      it(`the preempt_disable fix holds over PCT seeds ${from + 1}..${from + 100}`, () => {
        expect(failingSeeds(fixed, 'pct', 100, from)).toEqual([]);
      });
    }

    it('the fix makes no DEBUG_PREEMPT, oops or lockup report', () => {
      const r = runScenario(fixed, { strategy: 'pct', seed: 1 });
      expect(r.ok).toBe(true);
      expect(r.reports).toEqual([]);
    });
  },
);
