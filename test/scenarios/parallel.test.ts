import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ParallelRunner } from '../../preempt/parallel/runner.ts';
import { EXAMPLES_DIR } from '../../scenarios/load-scenario.ts';
import { runScenarioParallel } from '../../scenarios/run-parallel.ts';
import { spawnCli } from './cli-process.ts';

const RUNS = 100;
const examples = readdirSync(EXAMPLES_DIR).map((f) => f.replace(/\.ts$/, ''));
const fixed = examples.filter((name) => name.includes('-fixed'));
const racy = examples.filter((name) => name.endsWith('-racy'));

describe('race scenarios in parallel mode (one worker thread per CPU)', () => {
  const runner = new ParallelRunner();
  afterAll(async () => {
    await runner.close();
  });

  it('finds the fixed variants among the examples', () => {
    expect(fixed).toEqual(
      expect.arrayContaining([
        'irq-rmw-fixed-irq-save',
        'irq-rmw-fixed-this-cpu-add',
        'lost-update-fixed',
        'stale-pointer-fixed-guard',
        'stale-pointer-fixed-migrate-disable',
      ]),
    );
  });

  for (const name of fixed) {
    it(`${name} holds its invariants over ${RUNS} parallel runs, with no report`, async () => {
      for (let run = 0; run < RUNS; run++) {
        const r = await runScenarioParallel(name, { runner });
        const failed = r.verdicts.filter((v) => !v.ok).map((v) => `${v.name}: ${v.detail}`);
        expect(failed, `run ${run}`).toEqual([]);
        expect(r.parallel.end).toBe('finished');
        expect(r.reports.filter((x) => x.kind !== 'leak')).toEqual([]);
      }
    });
  }

  it('packet-stats counts every packet on every CPU in 20 parallel runs', async () => {
    for (let run = 0; run < 20; run++) {
      const r = await runScenarioParallel('packet-stats', { runner });
      expect(
        r.verdicts.filter((v) => !v.ok).map((v) => v.detail),
        `run ${run}`,
      ).toEqual([]);
      expect(r.reports).toEqual([]);
    }
  });

  for (const name of racy) {
    it(`${name} reports its broken invariant when the threads interleave badly`, async () => {
      for (let run = 0; run < 10; run++) {
        const r = await runScenarioParallel(name, { runner });
        expect(r.parallel.end).toBe('finished');
        // Not required to break: when it does, the verdict says how, with the values.
        for (const v of r.verdicts.filter((x) => !x.ok)) expect(v.detail).toMatch(/\d/);
        expect(r.ok).toBe(r.verdicts.every((v) => v.ok));
      }
    });
  }

  it('refuses a scenario with a native task free to run on any CPU, saying why', async () => {
    await expect(runScenarioParallel('percpu-alloc', { runner })).rejects.toThrow(
      "EINVAL: native task 'rcu_barrier' (pid 4) may run on CPU mask 0x7: in parallel mode native TS code runs in one CPU's worker",
    );
  });

  it('stale-pointer-racy gets the DEBUG_PREEMPT report from the worker that ran it', async () => {
    const r = await runScenarioParallel('stale-pointer-racy', { runner });
    const lines = r.reports.filter((x) => x.kind === 'debug_preempt').map((x) => x.lines[0]);
    expect(lines[0]).toMatch(
      /^BUG: using smp_processor_id\(\) in preemptible \[00000000\] code: counter\d\/\d$/,
    );
    for (const x of r.reports) expect([0, 1]).toContain(x.cpu);
    expect(r.machine.debugPreemptReports).toBe(400);
  });
});

describe('percpu-emu run --mode parallel', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const cli = (...args: string[]) => spawnCli(['run', ...args], { cwd: ROOT });

  it('runs the same scenario file with one worker per CPU and exits 0 when it holds', () => {
    const r = cli('lost-update-fixed', '--mode', 'parallel');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^strategy: parallel: 2 worker threads, finished after \d+ ms/m);
    expect(r.stdout).toContain('PASS  sum of counter over CPUs is exact: sum = 400');
    expect(r.stdout).toContain('replay:   none: parallel runs are not reproducible');
  });

  it("runs a scenario that says mode: 'parallel' in parallel without --mode", () => {
    const r = cli('test/scenarios/parallel-by-default.ts');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^strategy: parallel: 2 worker threads/m);
  });

  it('writes the trace the workers left in the per-CPU rings', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'percpu-emu-')), 'trace.txt');
    const r = cli('stale-pointer-fixed-guard', '--mode', 'parallel', '--trace', file);
    expect(r.status).toBe(0);
    const trace = readFileSync(file, 'utf8');
    expect(trace).toMatch(/\[000\] .* sched_switch: prev_comm=swapper\/0/);
    expect(trace).toMatch(/\[001\] .* sched_switch: prev_comm=swapper\/1/);
    expect(trace).toContain('sched_process_exit: comm=counter3');
  });

  it('refuses schedule options, which mean nothing in parallel mode', () => {
    const r = cli('lost-update-fixed', '--mode', 'parallel', '--seed', '3');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      '--seed chooses or replays a deterministic schedule: it means nothing in parallel mode',
    );
  });
});
