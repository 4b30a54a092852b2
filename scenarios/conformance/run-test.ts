/**
 * Runs one conformance test on one emulated CPU, with the execution model
 * the suite assumes:
 *
 * - the program is the `asm` section assembled, or else the `raw` section;
 *   when a file has both, the assembly must encode to exactly the raw bytes;
 * - the `mem` buffer is copied to MEM_ADDR (page 1; page 0 stays unmapped),
 *   r1 = its address and r2 = its length;
 * - r10 is the top of the stack: 512 bytes for the program, and below them
 *   the frames CpuContext gives local calls (STACK_BYTES in all), ending at
 *   the end of memory so an access above r10 faults;
 * - helper 5 returns its first argument; `callx` (0x8d) calls the helper
 *   whose id is in the dst register, as the interpreter implements it;
 * - the test passes when the program exits with the full 64-bit r0 equal
 *   to `result`. A budget exhaustion ("did not exit") or a fault fails it.
 *
 * A test with `-- error` passes iff the assembler or the loader rejects the
 * program.
 *
 * @example
 * const outcome = runConformanceTest(parseDataFile(readFileSync('add.data', 'utf8')));
 * if (outcome.status === 'fail') console.log(outcome.reason);
 */

import { AsmError } from '../../cpu/asm/asm-error.ts';
import { assembleConformance } from '../../cpu/asm/conformance-syntax.ts';
import { CpuContext, STACK_BYTES } from '../../cpu/context.ts';
import { Cpu, StopReason } from '../../cpu/cpu.ts';
import { HelperTable } from '../../cpu/helpers.ts';
import { encode, type Insn } from '../../cpu/insn.ts';
import { type LoadedProgram, loadProgram } from '../../cpu/program.ts';
import type { Tier } from '../../cpu/wasm/tier.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { PAGE_SIZE, PhysicalMemory } from '../../segments/memory.ts';
import type { ConformanceTest } from './data-file.ts';

/** Where the `mem` buffer is placed: the first mapped page. */
export const MEM_ADDR = PAGE_SIZE;
/** Instructions a test may execute before it counts as "did not exit". */
export const DEFAULT_BUDGET = 10_000_000;

export type ConformanceOutcome =
  | { status: 'pass' }
  | {
      status: 'fail';
      /** What went wrong, ready to print. */
      reason: string;
      /** Expected and actual r0, when the program exited with a wrong result. */
      expected?: bigint;
      actual?: bigint;
    }
  | { status: 'skip'; reason: string };

export interface RunOptions {
  /** Who executes the program (CpuOptions.tier); default the interpreter. */
  tier?: Tier;
  /** Instruction budget; DEFAULT_BUDGET by default. */
  budget?: number;
}

const HELPERS = new HelperTable('helper').register(5, 'conformance_return_arg1', (ctx) =>
  ctx.setReg(0, ctx.reg(1)),
);

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Runs `test` and says whether it passed, and if not, why. */
export function runConformanceTest(
  test: ConformanceTest,
  opts: RunOptions = {},
): ConformanceOutcome {
  if (test.asm === undefined && test.raw === undefined) {
    return { status: 'skip', reason: 'no program: neither an asm nor a raw section' };
  }
  if (test.error === undefined && test.result === undefined) {
    return { status: 'skip', reason: 'no expectation: neither a result nor an error section' };
  }
  let program: LoadedProgram;
  try {
    program = load(test);
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    if (test.error !== undefined) return { status: 'pass' };
    return { status: 'fail', reason: `rejected: ${e.message}` };
  }
  if (test.error !== undefined) {
    return {
      status: 'fail',
      reason: `the program loaded, but it should be rejected (${test.error})`,
    };
  }
  return execute(program, test.mem, test.result!, opts.budget ?? DEFAULT_BUDGET, opts.tier);
}

/** Assembles or decodes the program and loads it; ErrnoError when rejected or inconsistent. */
function load(test: ConformanceTest): LoadedProgram {
  if (test.asm === undefined) return loadProgram(test.raw!);
  let assembled: { insns: Insn[]; labels: Map<string, number> };
  try {
    assembled = assembleConformance(test.asm);
  } catch (e) {
    if (!(e instanceof AsmError)) throw e;
    // Cite the line in the .data file rather than in the asm section.
    throw new AsmError(e.line + (test.asmLine ?? 1) - 1, e.column, e.reason);
  }
  const { insns, labels } = assembled;
  if (test.raw !== undefined) checkSameAsRaw(encode(insns), test.raw);
  const symbols = new Map([...labels].map(([name, at]) => [at, name]));
  return loadProgram(insns, { symbols });
}

function checkSameAsRaw(ours: Uint8Array, raw: Uint8Array): void {
  const slots = Math.max(ours.length, raw.length) / 8;
  const slot = (bytes: Uint8Array, i: number) =>
    i * 8 < bytes.length
      ? Array.from(bytes.subarray(i * 8, i * 8 + 8), (b) => b.toString(16).padStart(2, '0')).join(
          ' ',
        )
      : 'nothing';
  for (let i = 0; i < slots; i++) {
    const a = slot(ours, i);
    const b = slot(raw, i);
    if (a !== b) {
      throw new ErrnoError(
        'EINVAL',
        `the asm section assembles to something other than the raw section: slot ${i} is ${a}, raw has ${b}`,
      );
    }
  }
}

function execute(
  program: LoadedProgram,
  mem: Uint8Array,
  expected: bigint,
  budget: number,
  tier: Tier = 'interp',
): ConformanceOutcome {
  const stackBottom = MEM_ADDR + Math.ceil(Math.max(mem.length, 1) / PAGE_SIZE) * PAGE_SIZE;
  const stackTop = stackBottom + Math.ceil(STACK_BYTES / PAGE_SIZE) * PAGE_SIZE;
  const memory = new PhysicalMemory(stackTop);
  memory.writeBytes(MEM_ADDR, mem);
  const cpu = new Cpu({ memory, helpers: HELPERS, tier });
  const ctx = new CpuContext(program, stackTop);
  ctx.setReg(1, BigInt(MEM_ADDR));
  ctx.setReg(2, BigInt(mem.length));
  const stop = cpu.run(ctx, budget);
  switch (stop) {
    case StopReason.Exit: {
      const actual = ctx.reg(0);
      if (actual === expected) return { status: 'pass' };
      return {
        status: 'fail',
        reason: `expected r0 = ${hex(expected)}, got ${hex(actual)}`,
        expected,
        actual,
      };
    }
    case StopReason.Fault:
      return { status: 'fail', reason: `fault: ${cpu.fault?.message}` };
    case StopReason.Budget:
      return { status: 'fail', reason: `did not exit within ${budget} instructions` };
    default:
      return { status: 'fail', reason: `stopped by a helper at pc ${ctx.pc}` };
  }
}
