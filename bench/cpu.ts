/**
 * `npm run bench -- cpu`: the four programs of ../shared/bench on the
 * interpreter, in million emulated instructions per second (median of 5
 * timed runs after a warm-up), each checked for its r0 and dynamic
 * instruction count, beside the reference interpreter (test/reference)
 * measured in the same run on the same program.
 *
 * @example
 * // npm run bench -- cpu --json
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assemble } from '../cpu/asm/pseudo-c.ts';
import { CpuContext } from '../cpu/context.ts';
import { Cpu, StopReason } from '../cpu/cpu.ts';
import { HelperTable } from '../cpu/helpers.ts';
import type { Insn } from '../cpu/insn.ts';
import { loadProgram } from '../cpu/program.ts';
import { ErrnoError } from '../segments/errno.ts';
import { PhysicalMemory } from '../segments/memory.ts';
import { ReferenceInterpreter } from '../test/reference/reference-interpreter.ts';
import { type BenchReport, type BenchResult, median } from './report.ts';

/** The benchmark programs: project data beside the repository, not part of it. */
const BENCH_DIR = fileURLToPath(new URL('../../shared/bench/', import.meta.url));
const PROGRAMS = ['alu_loop', 'mem_loop', 'call_loop', 'atomic_loop'];
const MEMORY_SIZE = 1 << 20;
const STACK_TOP = 0x10000;
const BUDGET = 2 ** 31;
const TIMED_RUNS = 5;

export interface BenchProgram {
  name: string;
  insns: Insn[];
  dynInsns: number;
  /** r0 the header states, when it states a number. */
  expectR0?: bigint;
}

/** Thrown by the suites that need ../shared/bench when it is absent; bench/run.ts prints it as one line. */
export class MissingBenchPrograms extends ErrnoError {
  constructor() {
    super(
      'ENOENT',
      `this suite runs the programs of ../shared/bench, which is not at ${BENCH_DIR}`,
    );
  }
}

/** BENCH_DIR, or MissingBenchPrograms when it does not exist. */
function benchDir(): string {
  if (!existsSync(BENCH_DIR)) throw new MissingBenchPrograms();
  return BENCH_DIR;
}

/** Reads a benchmark program and the DYN_INSNS and EXPECT_R0 its header states. */
export function readBenchProgram(name: string): BenchProgram {
  const source = readFileSync(`${benchDir()}${name}.s`, 'utf8');
  const dyn = /DYN_INSNS:\s*(\d+)/.exec(source);
  if (dyn === null) throw new Error(`${name}.s states no DYN_INSNS`);
  const expect = /EXPECT_R0:\s*(\d+)\s/.exec(source);
  return {
    name,
    insns: assemble(source).insns,
    dynInsns: Number(dyn[1]),
    expectR0: expect === null ? undefined : BigInt(expect[1]),
  };
}

/** Helper 1 of call_loop: returns r1 + 1. */
export function benchHelpers(): HelperTable {
  return new HelperTable('helper').register(1, 'bench_inc', (ctx) => {
    ctx.setRegNumber(0, ctx.regNumber(1) + 1);
  });
}

function runFast(prog: BenchProgram): { r0: bigint; executed: number; seconds: number } {
  const memory = new PhysicalMemory(MEMORY_SIZE);
  const cpu = new Cpu({ memory, helpers: benchHelpers() });
  const ctx = new CpuContext(loadProgram(prog.insns, { name: prog.name }), STACK_TOP);
  const t0 = process.hrtime.bigint();
  const reason = cpu.run(ctx, BUDGET);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (reason !== StopReason.Exit)
    throw new Error(`${prog.name}: stopped with ${reason}: ${cpu.fault?.message}`);
  return { r0: ctx.reg(0), executed: cpu.executed, seconds };
}

function runReference(prog: BenchProgram): { r0: bigint; executed: number; seconds: number } {
  const memory = new PhysicalMemory(MEMORY_SIZE);
  const ref = new ReferenceInterpreter({
    program: prog.insns,
    memory,
    stackTop: STACK_TOP,
    helpers: benchHelpers(),
  });
  const t0 = process.hrtime.bigint();
  const result = ref.run(BUDGET);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (result.reason !== 'exit')
    throw new Error(`${prog.name}: reference stopped with ${result.reason}`);
  return { r0: ref.regs[0], executed: result.executed, seconds };
}

function check(
  prog: BenchProgram,
  what: string,
  r0: bigint,
  executed: number,
  refR0: bigint,
): void {
  const want = prog.expectR0 ?? refR0;
  if (r0 !== want) throw new Error(`${prog.name}: ${what} r0 = ${r0}, expected ${want}`);
  if (executed !== prog.dynInsns) {
    throw new Error(
      `${prog.name}: ${what} executed ${executed} instructions, expected ${prog.dynInsns}`,
    );
  }
}

export async function run(): Promise<BenchReport> {
  const available = new Set(readdirSync(benchDir()).map((f) => f.replace(/\.s$/, '')));
  const results: BenchResult[] = [];
  for (const name of PROGRAMS.filter((p) => available.has(p))) {
    const prog = readBenchProgram(name);
    const ref = runReference(prog);
    check(prog, 'reference', ref.r0, ref.executed, ref.r0);
    runFast(prog); // warm-up
    const times: number[] = [];
    for (let k = 0; k < TIMED_RUNS; k++) {
      const r = runFast(prog);
      check(prog, 'interpreter', r.r0, r.executed, ref.r0);
      times.push(r.seconds);
    }
    const value = prog.dynInsns / median(times) / 1e6;
    const refValue = ref.executed / ref.seconds / 1e6;
    results.push({
      name,
      value,
      unit: 'M insn/s',
      ratio: value / refValue,
      baseline: 'reference interpreter',
      note: `reference ${refValue.toPrecision(3)} M insn/s; r0 = 0x${ref.r0.toString(16)}`,
    });
  }
  return { suite: 'cpu', results };
}
