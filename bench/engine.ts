/**
 * `npm run bench -- engine`: emulated instructions per second through the
 * deterministic engine at quanta of 1, 10, 100 and 1000 instructions, beside
 * the raw interpreter running the same program in the same run. The
 * workload is alu_loop from ../shared/bench (shortened), one task per CPU on
 * 2 CPUs under round-robin, with the timer ticking and tracing on, as a
 * scenario runs; then the same on the WebAssembly tier (`jit_quantum_*`,
 * ratio against the interpreter at the same quantum).
 *
 * @example
 * // npm run bench -- engine --json
 */

import { CpuContext } from '../cpu/context.ts';
import { Cpu, StopReason } from '../cpu/cpu.ts';
import type { Insn } from '../cpu/insn.ts';
import { loadProgram } from '../cpu/program.ts';
import { runDeterministic } from '../preempt/engine.ts';
import { Machine } from '../preempt/machine.ts';
import { roundRobin } from '../preempt/strategies/round-robin.ts';
import { PhysicalMemory } from '../segments/memory.ts';
import { readBenchProgram } from './cpu.ts';
import { type BenchReport, type BenchResult, median } from './report.ts';

const ITERATIONS = 1_000_000;
const CPUS = 2;
const RUNS = 5;

/** alu_loop with its iteration count (the `r2 = N` immediate) replaced. */
function workload(): Insn[] {
  const insns = readBenchProgram('alu_loop').insns.map((i) => ({ ...i }));
  const n = insns.find((i) => i.code === 0xb7 && i.dst === 2);
  if (n === undefined) throw new Error('alu_loop has no r2 = N');
  n.imm = ITERATIONS;
  return insns;
}

function timed(fn: () => number): number {
  fn();
  const rates: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    const t0 = process.hrtime.bigint();
    const insns = fn();
    rates.push(insns / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6);
  }
  return median(rates);
}

export async function run(): Promise<BenchReport> {
  const insns = workload();
  const raw = timed(() => {
    const memory = new PhysicalMemory(1 << 20);
    const cpu = new Cpu({ memory });
    let total = 0;
    for (let k = 0; k < CPUS; k++) {
      const ctx = new CpuContext(loadProgram(insns), 0x10000);
      if (cpu.run(ctx, 2 ** 31) !== StopReason.Exit) throw new Error('raw run did not exit');
      total += cpu.executed;
    }
    return total;
  });
  const results: BenchResult[] = [
    { name: 'raw', value: raw, unit: 'M insn/s', ratio: 1, baseline: 'raw interpreter' },
  ];
  for (const quantum of [1, 10, 100, 1000]) {
    const value = timed(() => {
      const m = new Machine({ cpus: CPUS, memorySize: 16 << 20, tier: 'interp' }).boot();
      for (let k = 0; k < CPUS; k++)
        m.spawn({ comm: `alu${k}`, cpu: k, allowed: [k], program: insns });
      const r = runDeterministic(m, roundRobin({ quantum }), { maxSteps: 2 ** 40 });
      if (!r.finished) throw new Error(`quantum ${quantum}: the tasks did not finish`);
      return r.steps;
    });
    results.push({
      name: `quantum_${quantum}`,
      value,
      unit: 'M insn/s',
      ratio: value / raw,
      baseline: 'raw interpreter',
    });
  }
  // The same runs on the WebAssembly tier, against the interpreter's figure at that quantum.
  for (const quantum of [1, 10, 100, 1000]) {
    const value = timed(() => {
      const m = new Machine({ cpus: CPUS, memorySize: 16 << 20, tier: 'jit' }).boot();
      for (let k = 0; k < CPUS; k++)
        m.spawn({ comm: `alu${k}`, cpu: k, allowed: [k], program: insns });
      const r = runDeterministic(m, roundRobin({ quantum }), { maxSteps: 2 ** 40 });
      if (!r.finished) throw new Error(`jit quantum ${quantum}: the tasks did not finish`);
      return r.steps;
    });
    const interp = results.find((x) => x.name === `quantum_${quantum}`)?.value ?? raw;
    results.push({
      name: `jit_quantum_${quantum}`,
      value,
      unit: 'M insn/s',
      ratio: value / interp,
      baseline: `quantum_${quantum} (interpreter)`,
    });
  }
  return { suite: 'engine', results };
}
