/**
 * Differential properties of the interpreter: random valid programs
 * (test/cpu/arbitrary-program.ts) run on the fast interpreter and on the
 * reference interpreter (test/reference) from the same state must end in the
 * same state, bit for bit; and a run cut into budget-sized pieces, resumed
 * on alternating Cpu objects as migration would, must end where one
 * uninterrupted run ends.
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CpuContext, CTX_PC, CTX_WORDS } from '../../cpu/context.ts';
import { Cpu, StopReason } from '../../cpu/cpu.ts';
import { CpuFault } from '../../cpu/fault.ts';
import { loadProgram } from '../../cpu/program.ts';
import { validate } from '../../cpu/validate.ts';
import type { PhysicalMemory } from '../../segments/memory.ts';
import {
  type ReferenceFault,
  ReferenceInterpreter,
  type ReferenceStop,
} from '../reference/reference-interpreter.ts';
import {
  arbitraryCase,
  GS_BASE,
  type ProgramCase,
  STACK_TOP,
  seededMemory,
  testHelpers,
  testKfuncs,
} from './arbitrary-program.ts';

const REASON_NAME: Record<StopReason, ReferenceStop> = {
  [StopReason.Exit]: 'exit',
  [StopReason.Budget]: 'budget',
  [StopReason.Fault]: 'fault',
  [StopReason.Stop]: 'stop',
};

/** Everything an interpreter leaves behind, in a form `toEqual` compares and prints well. */
interface Outcome {
  reason: ReferenceStop;
  executed: number;
  pc: number;
  depth: number;
  regs: string[];
  fault: ReferenceFault | null;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

function faultOf(f: CpuFault | null): ReferenceFault | null {
  if (f === null) return null;
  return f.access === undefined
    ? { kind: f.kind, pc: f.pc }
    : { kind: f.kind, pc: f.pc, access: { ...f.access } };
}

function newCpu(memory: PhysicalMemory, concurrent: boolean): Cpu {
  return new Cpu({
    memory,
    helpers: testHelpers(),
    kfuncs: testKfuncs(),
    gsBase: GS_BASE,
    concurrent,
  });
}

function newContext(c: ProgramCase): CpuContext {
  const ctx = new CpuContext(loadProgram(c.insns), STACK_TOP);
  c.regs.forEach((v, k) => {
    ctx.setReg(k + 1, v);
  });
  return ctx;
}

function contextOutcome(ctx: CpuContext, reason: StopReason, executed: number, cpu: Cpu): Outcome {
  return {
    reason: REASON_NAME[reason],
    executed,
    pc: ctx.pc,
    depth: ctx.depth,
    regs: Array.from({ length: 11 }, (_, r) => hex(ctx.reg(r))),
    fault: reason === StopReason.Fault ? faultOf(cpu.fault) : null,
  };
}

function runFast(c: ProgramCase): { outcome: Outcome; memory: PhysicalMemory } {
  const memory = seededMemory(c.memorySeed);
  const cpu = newCpu(memory, c.concurrent);
  const ctx = newContext(c);
  const reason = cpu.run(ctx, c.budget);
  return { outcome: contextOutcome(ctx, reason, cpu.executed, cpu), memory };
}

function runReference(c: ProgramCase): { outcome: Outcome; memory: PhysicalMemory } {
  const memory = seededMemory(c.memorySeed);
  const ref = new ReferenceInterpreter({
    program: c.insns,
    memory,
    stackTop: STACK_TOP,
    helpers: testHelpers(),
    kfuncs: testKfuncs(),
    gsBase: GS_BASE,
  });
  c.regs.forEach((v, k) => {
    ref.regs[k + 1] = v;
  });
  const result = ref.run(c.budget);
  return {
    outcome: {
      reason: result.reason,
      executed: result.executed,
      pc: result.pc,
      depth: ref.depth,
      regs: ref.regs.map(hex),
      fault: result.fault,
    },
    memory,
  };
}

/** The first byte where two memories differ, or null when they are identical. */
function memoryDifference(a: PhysicalMemory, b: PhysicalMemory): string | null {
  if (Buffer.compare(a.u8, b.u8) === 0) return null;
  const at = a.u8.findIndex((byte, k) => byte !== b.u8[k]);
  return `byte 0x${at.toString(16)}: 0x${a.u8[at].toString(16)} vs 0x${b.u8[at].toString(16)}`;
}

describe('the interpreter agrees with the reference interpreter', () => {
  it('generates only programs that validate() accepts', () => {
    fc.assert(
      fc.property(arbitraryCase(), (c) => {
        validate(c.insns);
      }),
      { numRuns: 500 },
    );
  });

  it('on random valid programs: same stop, count, pc, registers, memory and fault', () => {
    fc.assert(
      fc.property(arbitraryCase(), (c) => {
        const fast = runFast(c);
        const ref = runReference(c);
        expect(fast.outcome).toEqual(ref.outcome);
        expect(memoryDifference(fast.memory, ref.memory)).toBeNull();
      }),
      { numRuns: 10_000 },
    );
  });
});

/** Every opcode validate() accepts, by class. */
function validOpcodes(): number[] {
  const out: number[] = [];
  for (const cls of [0x04, 0x07]) {
    for (let op = 0x00; op <= 0xd0; op += 0x10) {
      out.push(cls | op);
      if (op !== 0x80 && !(cls === 0x07 && op === 0xd0)) out.push(cls | op | 0x08);
    }
  }
  for (let op = 0x10; op <= 0xd0; op += 0x10) {
    if (op === 0x80 || op === 0x90) continue;
    out.push(0x05 | op, 0x0d | op, 0x06 | op, 0x0e | op);
  }
  out.push(0x05, 0x06, 0x85, 0x8d, 0x95, 0x18);
  for (const size of [0x00, 0x08, 0x10, 0x18]) {
    out.push(0x61 | size, 0x62 | size, 0x63 | size);
    if (size !== 0x18) out.push(0x81 | size);
  }
  out.push(0xc3, 0xdb);
  return out;
}

describe('the generated programs exercise the whole machine', () => {
  // A fixed sample, run one instruction at a time on the fast interpreter, recording what ran.
  const executed = new Set<number>();
  const outcomes = new Set<string>();
  beforeAll(() => {
    for (const c of fc.sample(arbitraryCase(), { numRuns: 1500, seed: 20260 })) {
      const cpu = newCpu(seededMemory(c.memorySeed), c.concurrent);
      const ctx = newContext(c);
      let reason: StopReason = StopReason.Budget;
      for (let n = 0; n < c.budget && reason === StopReason.Budget; n++) {
        executed.add(ctx.program.code[ctx.pc]);
        reason = cpu.run(ctx, 1);
      }
      outcomes.add(reason === StopReason.Fault ? `fault ${cpu.fault?.kind}` : REASON_NAME[reason]);
    }
  });

  it('executes every opcode validate() accepts', () => {
    const missing = validOpcodes().filter((op) => !executed.has(op));
    expect(missing.map((op) => `0x${op.toString(16)}`)).toEqual([]);
  });

  it('ends in every stop reason and every fault a valid program can raise', () => {
    expect([...outcomes].sort()).toEqual([
      'budget',
      'exit',
      'fault helper-error',
      'fault misaligned-atomic',
      'fault page-fault',
      'fault stack-overflow',
      'fault unknown-helper',
      'stop',
    ]);
  });
});

describe('stopping on the budget and resuming', () => {
  it('in random chunks on two Cpu objects ends exactly like one uninterrupted run', () => {
    const chunks = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(arbitraryCase(), chunks, (c, sizes) => {
        const whole = runFast(c);

        const memory = seededMemory(c.memorySeed);
        const cpus = [newCpu(memory, c.concurrent), newCpu(memory, c.concurrent)];
        const ctx = newContext(c);
        let remaining = c.budget;
        let executed = 0;
        let reason: StopReason = StopReason.Budget;
        let last = cpus[0];
        for (let k = 0; remaining > 0; k++) {
          last = cpus[k % 2];
          reason = last.run(ctx, Math.min(sizes[k % sizes.length], remaining));
          executed += last.executed;
          remaining -= last.executed;
          if (reason !== StopReason.Budget) break;
        }
        expect(contextOutcome(ctx, reason, executed, last)).toEqual(whole.outcome);
        expect(memoryDifference(memory, whole.memory)).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });
});

describe('corrupted saved contexts', () => {
  it('random depth, pc, r10 and frame words: only a fault or a stop comes out, never a JS exception', () => {
    const word = fc.oneof(fc.integer(), fc.constantFrom(0, -1, 1, 7, 8, 9, 0x7fff_ffff));
    fc.assert(
      fc.property(
        arbitraryCase(),
        fc.array(fc.tuple(fc.integer({ min: CTX_PC, max: CTX_WORDS - 1 }), word), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.boolean(),
        (c, stores, hitR10) => {
          const cpu = newCpu(seededMemory(c.memorySeed), c.concurrent);
          const ctx = newContext(c);
          for (const [at, v] of stores) ctx.words[at] = v;
          if (hitR10) ctx.words[20] ^= 8;
          let reason: StopReason | undefined;
          for (let k = 0; k < 4 && reason !== StopReason.Exit && reason !== StopReason.Fault; k++) {
            reason = cpu.run(ctx, c.budget);
          }
          if (reason === StopReason.Fault) expect(cpu.fault).toBeInstanceOf(CpuFault);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
