/**
 * The C twin of cpumap-stats (scenarios/xdp/c-cpumap-stats.ts, compiled at
 * test time): the shared read-add-write in the C cpumap program loses
 * updates on the same PCT seeds as the assembly version and on every
 * random seed; the PERCPU_ARRAY and atomic builds hold.
 */

import { describe, expect, it } from 'vitest';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import { cCpumapStats } from '../../../scenarios/xdp/c-cpumap-stats.ts';
import { findClang } from '../../loader/compile.ts';

const clang = findClang(14);
if (typeof clang !== 'string') console.log(`C cpumap-stats scenarios skipped: ${clang.missing}`);

const failingSeeds = (
  variant: 'racy' | 'percpu' | 'atomic',
  strategy: 'pct' | 'random',
  n: number,
) => {
  const s = cCpumapStats(variant);
  const bad: number[] = [];
  for (let seed = 1; seed <= n; seed++) if (!runScenario(s, { strategy, seed }).ok) bad.push(seed);
  return bad;
};

describe.skipIf(typeof clang !== 'string')('c-cpumap-stats', () => {
  it('racy: PCT catches the lost update on seeds 1, 4, 11, 19 of 1..20; random on every seed', {
    timeout: 300_000,
  }, () => {
    expect(failingSeeds('racy', 'pct', 20)).toEqual([1, 4, 11, 19]);
    expect(failingSeeds('racy', 'random', 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('percpu and atomic hold over PCT seeds 1..40', { timeout: 300_000 }, () => {
    expect(failingSeeds('percpu', 'pct', 40)).toEqual([]);
    expect(failingSeeds('atomic', 'pct', 40)).toEqual([]);
  });
});
