/**
 * `npm run bench -- sanitizer`: what the per-CPU sanitizer (the machine's
 * `sanitizer` option, percpu/sanitizer.ts) costs, each figure beside the
 * same work with the sanitizer off, measured in the same run.
 *
 *   guest_percpu_loop  a guest task (migration disabled, one CPU) whose loop
 *                      loads and stores a static per-CPU variable and a
 *                      dynamic allocation through this_cpu_ptr: 4 of its 12
 *                      instructions touch per-CPU memory. M insn/s.
 *   guest_kfunc_loop   the same with this_cpu_add kfunc calls on both
 *                      instead (each checked before it runs). M insn/s.
 *   ts_ref_rw          a read and a write of CPU 0's copy of a
 *                      DynamicPerCpu<bigint> through a PerCpuRef. M ops/s.
 *   scenario_*         whole runs (boot, setup, run, invariants) of the
 *                      race scenarios under PCT, seeds 1..20. ms per run.
 *
 * Every figure is the median of five timed rounds after a warm-up, the
 * rounds with and without the sanitizer alternating; the ratio is the
 * figure with the sanitizer over the figure without (above 1 for the ms
 * figures means slower).
 *
 * @example
 * // npm run bench -- sanitizer --json
 */

import { DynamicPerCpu } from '../percpu/dynamic-per-cpu.ts';
import { runDeterministic } from '../preempt/engine.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { Machine } from '../preempt/machine.ts';
import { roundRobin } from '../preempt/strategies/round-robin.ts';
import { lostUpdate } from '../scenarios/races/lost-update.ts';
import { stalePointer } from '../scenarios/races/stale-pointer.ts';
import { runScenario } from '../scenarios/run-scenario.ts';
import type { Scenario } from '../scenarios/scenario.ts';
import { u64 } from '../segments/ctype.ts';
import { type BenchReport, type BenchResult, median } from './report.ts';

const LOOP_ITERATIONS = 400_000;
const TS_OPS = 200_000;
const SCENARIO_SEEDS = 20;
const ROUNDS = 5;

/** One timed call of `fn`, as work per second or ms per unit of work. */
function timed(fn: () => number, per: 'second' | 'ms'): number {
  const t0 = process.hrtime.bigint();
  const work = fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return per === 'second' ? work / seconds : (seconds * 1e3) / work;
}

/** A one-CPU machine with a static per-CPU u64 `counter` and a dynamic 16-byte allocation `dyn`. */
function machine(sanitizer: boolean): Kernel {
  const m = new Machine({ cpus: 1, sanitizer, trace: false });
  m.definePerCpu('counter', u64, 0n);
  const k = m.boot();
  const dyn = k.percpu.alloc(16, 8);
  if (dyn === null) throw new Error('no per-CPU memory for the benchmark');
  k.defineAsmSymbol('dyn', { kind: 'value', value: BigInt(dyn) });
  return k;
}

/** Runs `body` (r9 counts iterations) LOOP_ITERATIONS times in a guest task; returns instructions run. */
function guestLoop(sanitizer: boolean, body: string): number {
  const m = machine(sanitizer);
  const program = m.assemble(`
      call migrate_disable
      r9 = 0
    loop:
      ${body}
      r9 += 1
      if r9 < ${LOOP_ITERATIONS} goto loop
      call migrate_enable
      r0 = 0
      exit`);
  m.spawn({ comm: 'loop', cpu: 0, program });
  const r = runDeterministic(m, roundRobin({ quantum: 10_000 }), { maxSteps: 2 ** 40 });
  if (!r.finished || m.reports.length > 0) throw new Error('the benchmark loop did not run clean');
  return r.steps / 1e6;
}

const LOADS_AND_STORES = `
      r1 = counter ll
      r1 = this_cpu_ptr(r1)
      r2 = *(u64 *)(r1 + 0)
      r2 += 1
      *(u64 *)(r1 + 0) = r2
      r1 = dyn ll
      r1 = this_cpu_ptr(r1)
      r2 = *(u64 *)(r1 + 8)
      r2 += r9
      *(u64 *)(r1 + 8) = r2`;

const KFUNCS = `
      r1 = counter ll
      r2 = 1
      call this_cpu_add
      r1 = dyn ll
      r2 = r9
      call this_cpu_add`;

/** TS_OPS reads and writes through a ref to a dynamic object; returns millions of operations. */
function tsRefs(sanitizer: boolean): number {
  const m = machine(sanitizer);
  const d = DynamicPerCpu.newZero<bigint>(m, m.percpu, u64);
  if (d === null) throw new Error('no per-CPU memory for the benchmark');
  const ref = d.ptr.remote(0);
  for (let k = 0; k < TS_OPS; k++) ref.write(ref.read() + 1n);
  d.drop();
  return (2 * TS_OPS) / 1e6;
}

/** Runs `s` under PCT for seeds 1..SCENARIO_SEEDS; returns the number of runs. */
function scenarioRuns(s: Scenario, sanitizer: boolean): number {
  const withOption = { ...s, machine: { ...s.machine, sanitizer } };
  for (let seed = 1; seed <= SCENARIO_SEEDS; seed++) {
    if (!runScenario(withOption, { strategy: 'pct', seed }).ok) {
      throw new Error(`${s.name} failed on seed ${seed}`);
    }
  }
  return SCENARIO_SEEDS;
}

/** `work` with the sanitizer off and on, warmed up, then timed in alternating rounds. */
function pair(
  name: string,
  unit: string,
  per: 'second' | 'ms',
  work: (sanitizer: boolean) => number,
): BenchResult {
  work(false);
  work(true);
  const off: number[] = [];
  const on: number[] = [];
  for (let k = 0; k < ROUNDS; k++) {
    off.push(timed(() => work(false), per));
    on.push(timed(() => work(true), per));
  }
  const [a, b] = [median(off), median(on)];
  return {
    name,
    value: b,
    unit,
    ratio: b / a,
    baseline: 'sanitizer off',
    note: `off: ${a.toPrecision(3)} ${unit}`,
  };
}

export async function run(): Promise<BenchReport> {
  const results: BenchResult[] = [
    pair('guest_percpu_loop', 'M insn/s', 'second', (on) => guestLoop(on, LOADS_AND_STORES)),
    pair('guest_kfunc_loop', 'M insn/s', 'second', (on) => guestLoop(on, KFUNCS)),
    pair('ts_ref_rw', 'M ops/s', 'second', tsRefs),
  ];
  for (const s of [lostUpdate('fixed'), stalePointer('fixed-guard')]) {
    results.push(
      pair(`scenario_${s.name.replaceAll('-', '_')}`, 'ms/run', 'ms', (on) => scenarioRuns(s, on)),
    );
  }
  return { suite: 'sanitizer', results };
}
