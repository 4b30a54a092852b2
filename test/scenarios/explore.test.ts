import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { explore } from '../../scenarios/explore.ts';
import { lostUpdate } from '../../scenarios/races/lost-update.ts';
import { stalePointer } from '../../scenarios/races/stale-pointer.ts';
import { runScenario } from '../../scenarios/run-scenario.ts';
import { spawnCli } from './cli-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('explore', () => {
  it('stops at the first failing seed and returns a replay that reproduces it', () => {
    // PCT misses stale-pointer-racy on seed 5 and catches it on seed 6.
    const r = explore(stalePointer('racy'), { runs: 10, firstSeed: 5 });
    expect(r.runs).toBe(2);
    expect(r.failure?.seed).toBe(6);
    const again = runScenario(stalePointer('racy'), { replay: r.failure!.replay });
    expect(again.verdicts).toEqual(r.failure!.verdicts);
  });

  it('reports every seed held for a fixed scenario', () => {
    const seen: number[] = [];
    const r = explore(lostUpdate('fixed'), { runs: 20, onRun: (seed) => seen.push(seed) });
    expect(r).toEqual({ runs: 20 });
    expect(seen).toEqual(Array.from({ length: 20 }, (_, k) => k + 1));
  });

  it('the CLI prints the failing seed with its report, exit status 1, and 0 when all hold', () => {
    const cli = (...args: string[]) => spawnCli(['explore', ...args], { cwd: ROOT });
    const bad = cli('stale-pointer-racy', '--runs', '10', '--first-seed', '5');
    expect(bad.status).toBe(1);
    // Seed 5 holds the invariant, but DEBUG_PREEMPT reports the racy code: a report counts as a failure.
    expect(bad.stdout).toContain('stale-pointer-racy: seed 5 made the kernel report (run 1 of 10)');
    expect(bad.stdout).toContain('verdict:  every invariant held, but the kernel made');
    expect(bad.stdout).toMatch(/--replay v2\.[0-9a-f]{16}\.\S+/);
    const good = cli('lost-update-fixed', '--runs', '5');
    expect(good.status).toBe(0);
    expect(good.stdout).toContain('every invariant held on 5 seeds');
    const many = cli('lost-update-fixed', '--runs', 'many');
    expect(many.stderr).toContain("option '--runs <n>' argument 'many' is invalid");
    expect(many.status).toBe(2);
  });
});
