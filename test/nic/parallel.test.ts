/**
 * The network layer in parallel mode (one worker thread per CPU over the
 * shared memory): the shipped XDP scenarios hold every invariant, which the
 * main thread judges from the counters in emulated memory after the run;
 * the cpumap kthreads ran on their own CPUs' workers, woken from CPU 0's;
 * and a CPUMAP change while running is refused, not half applied. Nothing
 * here depends on how the host schedules the threads.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { CpuMap } from '../../nic/cpumap.ts';
import { netStackOf } from '../../nic/net-stack.ts';
import { ParallelRunner } from '../../preempt/parallel/runner.ts';
import { runScenarioParallel } from '../../scenarios/run-parallel.ts';

const RUNS = 3;
const RECIPES = new URL('./parallel-recipes.ts', import.meta.url).href;

describe('XDP scenarios in parallel mode', () => {
  const runner = new ParallelRunner();
  afterAll(async () => {
    await runner.close();
  });

  for (const name of ['cpumap-round-robin', 'rss-cpumap', 'rss-nic', 'cpumap-stats-percpu']) {
    it(`${name} holds every invariant in ${RUNS} parallel runs`, async () => {
      for (let run = 0; run < RUNS; run++) {
        const r = await runScenarioParallel(name, { runner });
        const failed = r.verdicts.filter((v) => !v.ok).map((v) => `${v.name}: ${v.detail}`);
        expect(failed, `run ${run}`).toEqual([]);
        expect(r.parallel.end).toBe('finished');
        expect(r.reports).toEqual([]);
      }
    });
  }

  it('cpumap-round-robin: each target CPU own kthread delivered its frames to its own stack', async () => {
    const r = await runScenarioParallel('cpumap-round-robin', { runner });
    const net = netStackOf(r.machine);
    const map = net.redirectMaps.find((m): m is CpuMap => m instanceof CpuMap)!;
    const stack = net.percpu.map((sd) => sd.stackPackets);
    expect(stack[0]).toBe(0); // CPU 0 is no target: nothing reached its stack
    for (const cpu of [1, 2, 3]) {
      expect(map.kthreadStats[cpu].processed).toBeGreaterThan(0);
      expect(stack[cpu]).toBe(map.kthreadStats[cpu].stack);
      expect(net.percpu[cpu].kthreadInsns).toBeGreaterThan(0); // time accounted on that CPU
    }
    const enqueued = map.enqueueStats.flat().reduce((n, s) => n + s.processed - s.drops, 0);
    expect(stack.reduce((a, b) => a + b, 0)).toBe(enqueued);
  });

  it('refuses a CPUMAP update while running (ENOTSUPP oops), the run still accounting every frame', async () => {
    const r = await runner.run({ module: RECIPES, exportName: 'cpumapUpdatedWhileRunning' });
    expect(r.end).toBe('finished');
    const oops = r.machine.reports.filter((x) => x.kind === 'oops').flatMap((x) => x.lines);
    expect(oops[0]).toBe(
      'BUG: ENOTSUPP: CPUMAP update while running in parallel mode: set the entries up before the run',
    );
    const net = netStackOf(r.machine);
    const rx = net.deviceByName('eth0').rxTotals();
    expect(rx.received).toBe(50);
    expect(rx.xdpRedirect).toBe(50);
    expect(net.stackTotals().packets).toBe(50); // the entry set up before the run got them all
  });
});
