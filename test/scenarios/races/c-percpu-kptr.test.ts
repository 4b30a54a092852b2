/**
 * The percpu kptr race in C (scenarios/races/c-percpu-kptr.ts): readers on
 * other CPUs use the object a C writer replaces, with no RCU read lock.
 * Explored by the random strategy, every seed of 1..20 ends with the
 * per-CPU sanitizer's use-after-free report naming the C reader. Skipped
 * with the reason printed where clang or libbpf-dev is missing.
 */

import { describe, expect, it } from 'vitest';
import { cPercpuKptrRacy } from '../../../scenarios/races/c-percpu-kptr.ts';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import { findClang } from '../../loader/compile.ts';
import { failingSeeds } from './race-suite.ts';

const clang = findClang(14);
const missing = typeof clang === 'string' ? null : clang.missing;
if (missing !== null) console.log(`C percpu kptr race skipped: ${missing}`);

describe.skipIf(missing !== null)(
  'the percpu kptr race in C: readers without bpf_rcu_read_lock',
  () => {
    const s = cPercpuKptrRacy();

    it('random exploration catches it on every seed in 1..20', () => {
      expect(failingSeeds(s, 'random', 20)).toHaveLength(20);
    });

    it('the sanitizer reports a use after free in the C reader', () => {
      const r = runScenario(s, { strategy: 'random', seed: 1 });
      const kasan = r.reports.filter((x) => x.kind === 'kasan');
      expect(kasan.length).toBeGreaterThan(0);
      expect(kasan[0].lines[0]).toMatch(
        /^BUG: KASAN: use-after-free in read_no_rcu\+0x[0-9a-f]+\/0x[0-9a-f]+$/,
      );
      expect(kasan[0].lines).toContain('Allocated by task 2 (writer) on CPU 0:');
    });
  },
);
