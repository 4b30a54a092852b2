/**
 * `npm run bench -- cpu`: the four programs of ../shared/bench on the
 * interpreter, in million emulated instructions per second (median of 5
 * timed runs after a warm-up), each checked for its r0 and dynamic
 * instruction count, beside the reference interpreter (test/reference)
 * measured in the same run on the same program; then the same programs on
 * the WebAssembly tier (`jit_*`, ratio against the interpreter), and the
 * tier's compile time per instruction (`jit_compile`).
 *
 * @example
 * // npm run bench -- cpu --json
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assemble } from '../cpu/asm/pseudo-c.ts';
import { CpuContext, CTX_WORDS } from '../cpu/context.ts';
import { Cpu, StopReason } from '../cpu/cpu.ts';
import { HelperTable } from '../cpu/helpers.ts';
import type { Insn } from '../cpu/insn.ts';
import { type LoadedProgram, loadProgram } from '../cpu/program.ts';
import type { Tier } from '../cpu/wasm/tier.ts';
import { translate } from '../cpu/wasm/translate.ts';
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
/** Where the fast tier's benchmark context lives: above the stack. */
const CTX_ADDR = 0x20000;

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

function runFast(
  prog: BenchProgram,
  tier: Tier = 'interp',
  loaded = loadProgram(prog.insns, { name: prog.name }),
): { r0: bigint; executed: number; seconds: number } {
  const memory = new PhysicalMemory(MEMORY_SIZE);
  const cpu = new Cpu({ memory, helpers: benchHelpers(), tier });
  // The fast tier's context in memory, as a machine's tasks are (a JS one is mirrored).
  const words = tier === 'jit' ? new Int32Array(memory.buffer, CTX_ADDR, CTX_WORDS) : undefined;
  const ctx = new CpuContext(loaded, STACK_TOP, words);
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
    // The fast tier on one loaded program (its module compiled once, as a
    // machine compiles a program once), after a warm-up run that lets V8
    // optimise the module.
    const loaded = loadProgram(prog.insns, { name: prog.name });
    runFast(prog, 'jit', loaded);
    const jitTimes: number[] = [];
    for (let k = 0; k < TIMED_RUNS; k++) {
      const r = runFast(prog, 'jit', loaded);
      check(prog, 'fast tier', r.r0, r.executed, ref.r0);
      jitTimes.push(r.seconds);
    }
    const jit = prog.dynInsns / median(jitTimes) / 1e6;
    results.push({
      name: `jit_${name}`,
      value: jit,
      unit: 'M insn/s',
      ratio: jit / value,
      baseline: 'interpreter',
      note: `reference ${refValue.toPrecision(3)} M insn/s (${(jit / refValue).toPrecision(3)}x)`,
    });
  }
  const compile = compileCost();
  results.push({
    name: 'jit_compile',
    value: compile.perInsn,
    unit: 'us/insn',
    note: `translate + WebAssembly.Module of a ${compile.insns}-instruction program (median of ${TIMED_RUNS}); the interpreter runs ${compile.interpInsns.toFixed(0)} instructions in that time`,
  });
  return { suite: 'cpu', results };
}

/** A straight-line program of `blocks` pieces of alu, memory and branch code, for compile times. */
function compileWorkload(blocks: number): LoadedProgram {
  const lines: string[] = ['r1 = 0', 'r3 = 0x12345'];
  for (let k = 0; k < blocks; k++) {
    lines.push(
      'r3 += r1',
      'r4 = r3',
      'r4 >>= 7',
      'r3 ^= r4',
      'r3 *= 0x2545F491',
      '*(u64 *)(r10 - 8) = r3',
      'r2 = *(u64 *)(r10 - 8)',
      `if r2 > 100 goto L${k}`,
      'r1 += 1',
      `L${k}:`,
    );
  }
  lines.push('r0 = r3', 'exit');
  return loadProgram(assemble(lines.join('\n')).insns);
}

/**
 * Microseconds to translate and compile one instruction, and how many
 * instructions the interpreter runs meanwhile (alu_loop's rate): what
 * JIT_THRESHOLD (cpu/wasm/tier.ts) is chosen from.
 */
function compileCost(): { perInsn: number; insns: number; interpInsns: number } {
  const prog = compileWorkload(1000);
  const times: number[] = [];
  for (let k = 0; k < TIMED_RUNS + 1; k++) {
    const again = loadProgram(prog.insns);
    const t0 = process.hrtime.bigint();
    translate(again);
    times.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  const perInsn = median(times.slice(1)) / prog.length;
  const alu = readBenchProgram('alu_loop');
  const r = runFast(alu);
  const interpRate = r.executed / r.seconds / 1e6; // insns per microsecond
  return { perInsn, insns: prog.length, interpInsns: perInsn * interpRate };
}
