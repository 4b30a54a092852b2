import { afterAll, describe, expect, it } from 'vitest';
import { percpuStats } from '../../../percpu/percpu-stats.ts';
import type { CpuStats } from '../../../preempt/parallel/protocol.ts';
import { ParallelRunner } from '../../../preempt/parallel/runner.ts';
import { perCpuValues } from '../../../scenarios/scenario.ts';
import { STUCK_CHANNEL } from './recipes.ts';

const RECIPES = new URL('./recipes.ts', import.meta.url).href;
const recipe = (exportName: string) => ({ module: RECIPES, exportName });

// These tests assert what the programs guarantee, never how far a thread got
// in some time: they wait for events (a CPU running, a worker stuck), not for
// a number of milliseconds, so a loaded host only makes them slower.

/** Polls the run's statistics until `ready` holds of them: booting may take a while. */
async function statsOnce(
  runner: ParallelRunner,
  ready: (stats: CpuStats[]) => boolean,
): Promise<CpuStats[]> {
  for (;;) {
    const stats = await runner.stats().catch(() => undefined); // EAGAIN until the run starts
    if (stats !== undefined && ready(stats)) return stats;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const everyCpuRan = (stats: CpuStats[]) => stats.length > 0 && stats.every((s) => s.executed > 0);

/** Resolves when hangsOnCpu1's kthread says it is stuck. */
function cpu1Stuck(): Promise<void> {
  const channel = new BroadcastChannel(STUCK_CHANNEL);
  return new Promise((resolve) => {
    channel.onmessage = () => {
      channel.close();
      resolve();
    };
  });
}

describe('the parallel runner', () => {
  const runner = new ParallelRunner();
  afterAll(async () => {
    await runner.close();
  });

  it('runs one CPU per worker thread to completion over the shared memory', async () => {
    const r = await runner.run(recipe('boundCounters'));
    expect(r.end).toBe('finished');
    expect(r.finished).toBe(true);
    expect(perCpuValues(r.machine, 'hits')).toEqual([2000n, 2000n]);
    expect(r.cpus.map((c) => c.end)).toEqual(['finished', 'finished']);
    for (const c of r.cpus) expect(c.stats.executed).toBeGreaterThan(2000 * 5);
    expect(r.crash).toBeUndefined();
  });

  it('runs the same machine on the WebAssembly tier: each worker compiles its own instances', async () => {
    const r = await runner.run(recipe('boundCounters'), { machine: { tier: 'jit' } });
    expect(r.end).toBe('finished');
    expect(perCpuValues(r.machine, 'hits')).toEqual([2000n, 2000n]);
    for (const c of r.cpus) expect(c.stats.compiled).toBeGreaterThan(2000);
    const interp = await runner.run(recipe('boundCounters'), { machine: { tier: 'interp' } });
    for (const c of interp.cpus) expect(c.stats.compiled).toBe(0);
  });

  it('lets the idle CPU pull guest tasks queued on a busy one, which then run in its worker', async () => {
    for (let run = 0; run < 5; run++) {
      // CPU 0 spins for as long as CPU 1 takes: no step budget.
      const r = await runner.run(recipe('crowdedCpu0'), { maxSteps: Number.MAX_SAFE_INTEGER });
      expect(r.end).toBe('finished');
      expect(perCpuValues(r.machine, 'hits')).toEqual([0n, 6n * 3000n]);
      const moves = r.machine.tracer!.toFtrace().match(/sched_migrate_task: comm=crowd\d/g);
      expect(moves?.sort()).toEqual(
        [0, 1, 2, 3, 4, 5].map((k) => `sched_migrate_task: comm=crowd${k}`),
      );
      expect(r.machine.reports).toEqual([]);
    }
  });

  it('wakes sleeping tasks on their CPU, halted or not, until every one has finished', async () => {
    const r = await runner.run(recipe('sleepers'), { timeoutMs: 30_000 });
    expect(r.end).toBe('finished');
    const hits = perCpuValues(r.machine, 'hits');
    expect(hits[0] + hits[1]).toBe(4n * 30n);
    expect(r.machine.tracer!.toFtrace()).toMatch(/prev_comm=sleeper\d .* prev_state=D/);
  });

  it('stops on request while it runs, answering stats and register dumps meanwhile', async () => {
    const run = runner.run(recipe('forever'), { maxSteps: Infinity });
    const stats = await statsOnce(runner, everyCpuRan);
    expect(stats.map((s) => s.cpu)).toEqual([0, 1]);
    expect(stats.map((s) => s.running)).toEqual(['spin0/1', 'spin1/2']);
    const regs = await runner.registers(1);
    expect(regs[0]).toBe('CPU: 1 PID: 2 Comm: spin1');
    expect(regs.join('\n')).toMatch(/R6: [0-9a-f]{16}/);
    // A call-function IPI from CPU 0's worker to CPU 1's, answered while CPU 1 runs its task.
    expect(await runner.ipiRoundTrip(0, 1, 20)).toBeGreaterThan(0);
    await expect(runner.ipiRoundTrip(1, 1, 1)).rejects.toThrow(
      'CPU 1 cannot call a function on CPU 1',
    );
    runner.stop();
    const r = await run;
    expect(r.end).toBe('stopped');
    expect(r.finished).toBe(false);
    expect(r.cpus.map((c) => c.end)).toEqual(['stopped', 'stopped']);
  });

  it('stops every CPU once the step budget is spent', async () => {
    const r = await runner.run(recipe('forever'), { maxSteps: 200_000 });
    expect(r.end).toBe('max-steps');
    expect(r.steps).toBeGreaterThanOrEqual(200_000);
  });

  it('an exception inside a worker stops the machine and names the CPU and what it ran', async () => {
    const r = await runner.run(recipe('throwsOnCpu1'), { timeoutMs: 30_000 });
    expect(r.end).toBe('crashed');
    expect(r.crash?.cpu).toBe(1);
    expect(r.crash?.message).toBe('injected emulator bug');
    expect(r.crash?.running).toMatch(/^spin1\/2 in hardirq, \d+ instructions into the run$/);
    expect(r.cpus[0].end).toBe('stopped');
    const bug = r.machine.reports.find((x) => x.lines[0].startsWith('BUG: emulator exception'));
    expect(bug?.lines[0]).toBe(
      `BUG: emulator exception on CPU#1 while running ${r.crash?.running}: injected emulator bug`,
    );
    // The worker survived its exception: the next run reuses it.
    expect((await runner.run(recipe('boundCounters'))).end).toBe('finished');
  });

  it('a worker thread that dies stops the machine; the next run starts a new one', async () => {
    const r = await runner.run(recipe('workerExitsOnCpu1'), { timeoutMs: 30_000 });
    expect(r.end).toBe('crashed');
    expect(r.crash?.cpu).toBe(1);
    expect(r.crash?.message).toMatch(
      /^CPU 1's worker thread died: EFAULT: the worker thread exited with code 3$/,
    );
    expect(r.crash?.running).toBe('spin1/2');
    expect(r.cpus[0].end).toBe('stopped');
    expect(runner.liveWorkers).toBe(1);
    expect((await runner.run(recipe('boundCounters'))).end).toBe('finished');
    expect(runner.liveWorkers).toBe(2);
  });

  it('a timeout terminates a worker that does not stop, and reports it', async () => {
    // CPU 1 is stuck from its first step, milliseconds after the timeout's clock starts.
    const r = await runner.run(recipe('hangsOnCpu1'), { timeoutMs: 2000 });
    expect(r.end).toBe('timeout');
    expect(r.crash?.cpu).toBe(1);
    expect(r.crash?.message).toBe("CPU 1's worker did not stop in time and was terminated");
    expect(r.cpus[0].end).toBe('stopped');
    expect(runner.liveWorkers).toBe(1);
  });

  it('stops the machine when a task is spawned while it runs, which other workers cannot see', async () => {
    const r = await runner.run(recipe('spawnsWhileRunning'), { timeoutMs: 30_000 });
    expect(r.end).toBe('crashed');
    expect(r.crash?.cpu).toBe(0);
    expect(r.crash?.message).toBe(
      "ENOTSUPP: CPU 0 spawned a task while running in parallel mode: other CPUs' workers do not know it",
    );
  });

  it('stop() also terminates a worker that does not stop, and says so', async () => {
    const stuck = cpu1Stuck();
    const run = runner.run(recipe('hangsOnCpu1'));
    await stuck;
    runner.stop();
    const r = await run;
    expect(r.end).toBe('stopped');
    expect(r.crash?.message).toBe("CPU 1's worker did not stop in time and was terminated");
    expect(r.cpus[0].end).toBe('stopped');
  });

  it('runs percpu kptr objects and RCU read sections on every CPU (RCU state is in memory)', async () => {
    const r = await runner.run(recipe('kptrRoundTrips'));
    expect(r.end).toBe('finished');
    expect(r.machine.reports).toEqual([]);
    const m = r.machine;
    const ok = m.cpus.map((c) => m.memory.read64(m.areas.perCpuPtr(m.symbol('ok'), c.id)));
    expect(ok).toEqual([300n, 300n]);
    // Grace periods end across the workers: every drop is freed, the last
    // ones once each CPU's rcu_barrier has seen its callbacks run.
    const g = percpuStats(m.percpu).global;
    expect(g.nrAlloc).toBe(600);
    expect(g.nrDealloc).toBe(600);
    expect(m.opts.sanitizer).toBe(false);
  });

  it('refuses a native task that could run on more than one CPU', async () => {
    await expect(runner.run(recipe('unboundNative'))).rejects.toThrow(
      /native task 'roamer' \(pid 1\) may run on CPU mask 0x3: in parallel mode native TS code runs in one CPU's worker/,
    );
  });
});

describe('closing the parallel runner', () => {
  it('terminates every worker, and refuses runs afterwards', async () => {
    const runner = new ParallelRunner();
    await runner.run(recipe('boundCounters'));
    expect(runner.liveWorkers).toBe(2);
    await runner.close();
    expect(runner.liveWorkers).toBe(0);
    await expect(runner.run(recipe('boundCounters'))).rejects.toThrow(
      'the parallel runner is closed',
    );
  });

  it('ends a run still booting', async () => {
    const runner = new ParallelRunner();
    const run = runner.run(recipe('forever'), { timeoutMs: 30_000, maxSteps: Infinity });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await runner.close();
    await expect(run).resolves.toMatchObject({ end: 'stopped' });
    expect(runner.liveWorkers).toBe(0);
  });

  it('refuses a second run while one is in progress', async () => {
    const runner = new ParallelRunner();
    const run = runner.run(recipe('forever'), { timeoutMs: 30_000, maxSteps: Infinity });
    await expect(runner.run(recipe('forever'))).rejects.toThrow('a parallel run is in progress');
    await runner.close();
    await run;
  });

  it('ends a run in progress', async () => {
    const runner = new ParallelRunner();
    const run = runner.run(recipe('forever'), { maxSteps: Infinity });
    await statsOnce(runner, everyCpuRan);
    await runner.close();
    await expect(run).resolves.toMatchObject({ end: 'stopped' });
    expect(runner.liveWorkers).toBe(0);
  });
});
