/**
 * `npm run bench -- registers`: why the interpreter keeps each 64-bit
 * register as two Int32 words. The same alu_loop, pre-decoded the same way,
 * runs on the real interpreter ((lo, hi) Int32 pairs) and on a minimal
 * switch loop whose registers are a BigInt64Array (exact 64-bit arithmetic
 * in BigInt), the obvious alternative. A JS number register cannot hold 64
 * bits at all, so it is not a candidate.
 *
 * @example
 * // npm run bench -- registers
 */

import { CpuContext } from '../cpu/context.ts';
import { Cpu } from '../cpu/cpu.ts';
import { type LoadedProgram, loadProgram } from '../cpu/program.ts';
import { PhysicalMemory } from '../segments/memory.ts';
import { readBenchProgram } from './cpu.ts';
import { type BenchReport, median } from './report.ts';

const RUNS = 5;

/** The alu_loop opcodes on BigInt64Array registers; anything else is refused. */
function runBigIntRegisters(p: LoadedProgram, budget: number): { r0: bigint; executed: number } {
  const R = new BigInt64Array(11);
  const { code, off, imm } = p;
  const D = p.dst2;
  const S = p.src2;
  let pc = 0;
  let n = 0;
  for (;;) {
    if (n >= budget) break;
    n++;
    const i = pc++;
    const d = D[i] >> 1;
    switch (code[i]) {
      case 0xb7:
        R[d] = BigInt(imm[i]);
        break;
      case 0x07:
        R[d] = BigInt.asIntN(64, R[d] + BigInt(imm[i]));
        break;
      case 0x0f:
        R[d] = BigInt.asIntN(64, R[d] + R[S[i] >> 1]);
        break;
      case 0xbf:
        R[d] = R[S[i] >> 1];
        break;
      case 0x77:
        R[d] = BigInt.asIntN(64, BigInt.asUintN(64, R[d]) >> BigInt(imm[i] & 63));
        break;
      case 0xaf:
        R[d] ^= R[S[i] >> 1];
        break;
      case 0x27:
        R[d] = BigInt.asIntN(64, R[d] * BigInt(imm[i]));
        break;
      case 0x47:
        R[d] |= BigInt(imm[i]);
        break;
      case 0x57:
        R[d] &= BigInt(imm[i]);
        break;
      case 0xad:
        if (BigInt.asUintN(64, R[d]) < BigInt.asUintN(64, R[S[i] >> 1])) pc += off[i];
        break;
      case 0x95:
        return { r0: BigInt.asUintN(64, R[0]), executed: n };
      default:
        throw new Error(`opcode 0x${code[i].toString(16)} is outside this comparison`);
    }
  }
  throw new Error('alu_loop did not exit');
}

function timed<T>(fn: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
}

export async function run(): Promise<BenchReport> {
  const prog = readBenchProgram('alu_loop');
  const loaded = loadProgram(prog.insns);
  const memory = new PhysicalMemory(1 << 20);
  const cpu = new Cpu({ memory });
  const pairs = () => {
    const ctx = new CpuContext(loaded, 0x10000);
    cpu.run(ctx, 2 ** 31);
    return { r0: ctx.reg(0), executed: cpu.executed };
  };
  const bigints = () => runBigIntRegisters(loaded, 2 ** 31);
  const measure = (fn: () => { r0: bigint; executed: number }) => {
    fn();
    const times: number[] = [];
    let r0 = 0n;
    for (let k = 0; k < RUNS; k++) {
      const [r, s] = timed(fn);
      r0 = r.r0;
      times.push(s);
    }
    return { r0, value: prog.dynInsns / median(times) / 1e6 };
  };
  const a = measure(pairs);
  const b = measure(bigints);
  if (a.r0 !== b.r0)
    throw new Error(`r0 differs: pairs 0x${a.r0.toString(16)}, bigint 0x${b.r0.toString(16)}`);
  return {
    suite: 'registers',
    results: [
      {
        name: 'alu_loop_int32_pairs',
        value: a.value,
        unit: 'M insn/s',
        ratio: a.value / b.value,
        baseline: 'BigInt64Array registers',
      },
      {
        name: 'alu_loop_bigint64array',
        value: b.value,
        unit: 'M insn/s',
        ratio: 1,
        baseline: 'BigInt64Array registers',
      },
    ],
  };
}
