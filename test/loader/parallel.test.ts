/**
 * A compiled C program in parallel mode (one worker thread per CPU): the
 * C lost-update scenario's fixed variant holds its invariant run after run,
 * each worker loading the same object into the shared machine.
 */

import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ParallelRunner } from '../../preempt/parallel/runner.ts';
import { runScenarioParallel } from '../../scenarios/run-parallel.ts';
import { findClang } from './compile.ts';

const clang = findClang(14);
const missing = typeof clang === 'string' ? null : clang.missing;
if (missing !== null) console.log(`C scenarios in parallel mode skipped: ${missing}`);
const FIXED = path.join(import.meta.dirname, '../../scenarios/c/c-lost-update-fixed.ts');

describe.skipIf(missing !== null)('C programs in parallel mode', () => {
  const runner = new ParallelRunner();
  afterAll(async () => {
    await runner.close();
  });

  it('c-lost-update-fixed holds over 10 parallel runs, with no report', async () => {
    for (let run = 0; run < 10; run++) {
      const r = await runScenarioParallel(FIXED, { runner });
      expect(
        r.verdicts.filter((v) => !v.ok),
        `run ${run}`,
      ).toEqual([]);
      expect(r.parallel.end).toBe('finished');
      expect(r.reports).toEqual([]);
    }
  });
});
