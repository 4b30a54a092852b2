import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { explorePool, SeedThreads } from '../../scenarios/explore-pool.ts';
import { EXAMPLES_DIR } from '../../scenarios/load-scenario.ts';

const examples = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort();

describe('explore --jobs (explore-pool.ts)', () => {
  const threads = new SeedThreads(2);
  afterAll(() => threads.close());

  it('--jobs 2 gives the answer of --jobs 1 on every example: runs, failing seed, replay string', async () => {
    for (const name of examples) {
      const opts = { runs: 6, firstSeed: 3, failOnReports: true };
      const one = await explorePool(name, { ...opts, jobs: 1 });
      const two = await explorePool(name, { ...opts, threads });
      expect(two.runs, name).toBe(one.runs);
      expect(two.failure?.seed, name).toBe(one.failure?.seed);
      expect(two.failure?.replay, name).toBe(one.failure?.replay);
      expect(two.failure?.verdicts, name).toEqual(one.failure?.verdicts);
    }
  }, 600_000);

  it('finds the lowest failing seed though later ranges fail first', async () => {
    // lost-update-racy fails on every seed: every range fails, the answer is still the first seed.
    const progress: number[] = [];
    const r = await explorePool('lost-update-racy', {
      runs: 40,
      threads,
      onProgress: (done) => progress.push(done),
    });
    expect(r.failure?.seed).toBe(1);
    expect(r.runs).toBe(1);
    expect(progress.length).toBeGreaterThan(0);
  }, 120_000);

  it('refuses bad options with the ErrnoError a single thread gives', async () => {
    await expect(explorePool('lost-update-racy', { jobs: 0 })).rejects.toThrow(/EINVAL: jobs 0/);
    await expect(explorePool('lost-update-racy', { jobs: 2, runs: 4, cpus: 0 })).rejects.toThrow(
      /EINVAL/,
    );
  }, 120_000);
});
