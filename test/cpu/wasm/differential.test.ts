/**
 * The WebAssembly tier against the interpreter: random valid programs
 * (test/cpu/arbitrary-program.ts) from the same state end in the same state
 * bit for bit (stop reason, count, pc, depth, registers, fault, memory); a
 * run cut into random budgets on alternating CPUs of either tier ends where
 * one uninterrupted interpreted run ends; and a probe sees the same calls at
 * the same counts.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CpuContext } from '../../../cpu/context.ts';
import { Cpu, type CpuProbe, StopReason } from '../../../cpu/cpu.ts';
import type { CpuFault } from '../../../cpu/fault.ts';
import { loadProgram } from '../../../cpu/program.ts';
import type { Tier } from '../../../cpu/wasm/tier.ts';
import type { PhysicalMemory } from '../../../segments/memory.ts';
import {
  arbitraryCase,
  GS_BASE,
  PERCPU_SIZE,
  type ProgramCase,
  STACK_TOP,
  seededMemory,
  testHelpers,
  testKfuncs,
} from '../arbitrary-program.ts';

interface Outcome {
  reason: StopReason;
  executed: number;
  pc: number;
  depth: number;
  regs: string[];
  fault: { kind: string; pc: number; message: string; access?: unknown } | null;
  events: string[];
}

function newCpu(memory: PhysicalMemory, c: ProgramCase, tier: Tier, events?: string[]): Cpu {
  const cpu = new Cpu({
    memory,
    helpers: testHelpers(),
    kfuncs: testKfuncs(),
    gsBase: GS_BASE,
    concurrent: c.concurrent,
    tier,
  });
  if (events !== undefined) {
    const probe: CpuProbe = {
      thisCpuPtr: (p, _ctx, pc) => {
        events.push(`percpu pc ${pc} at ${p.executed}`);
      },
      memAccess: (p, _ctx, pc, addr, size, kind) => {
        events.push(`${kind} ${size}@${addr.toString(16)} pc ${pc} at ${p.executed}`);
      },
    };
    cpu.probe = probe;
    cpu.watch(GS_BASE, GS_BASE + PERCPU_SIZE);
  }
  return cpu;
}

function newContext(c: ProgramCase): CpuContext {
  const ctx = new CpuContext(loadProgram(c.insns), STACK_TOP);
  c.regs.forEach((v, k) => {
    ctx.setReg(k + 1, v);
  });
  return ctx;
}

function faultOf(f: CpuFault | null): Outcome['fault'] {
  if (f === null) return null;
  return { kind: f.kind, pc: f.pc, message: f.message, access: f.access };
}

function outcome(
  ctx: CpuContext,
  reason: StopReason,
  executed: number,
  cpu: Cpu,
  events: string[],
): Outcome {
  return {
    reason,
    executed,
    pc: ctx.pc,
    depth: ctx.depth,
    regs: Array.from({ length: 11 }, (_, r) => ctx.reg(r).toString(16)),
    fault: reason === StopReason.Fault ? faultOf(cpu.fault) : null,
    events,
  };
}

/** One run of the whole budget on one CPU of `tier`, with or without a probe. */
function runWhole(c: ProgramCase, tier: Tier, probed: boolean) {
  const memory = seededMemory(c.memorySeed);
  const events: string[] = [];
  const cpu = newCpu(memory, c, tier, probed ? events : undefined);
  const ctx = newContext(c);
  const reason = cpu.run(ctx, c.budget);
  expect(cpu.totalExecuted).toBe(cpu.executed);
  return { outcome: outcome(ctx, reason, cpu.executed, cpu, events), memory };
}

function same(a: PhysicalMemory, b: PhysicalMemory): boolean {
  return Buffer.compare(a.u8, b.u8) === 0;
}

describe('the WebAssembly tier agrees with the interpreter', () => {
  it('on 10,000 random valid programs: same stop, count, pc, registers, memory and fault', () => {
    fc.assert(
      fc.property(arbitraryCase(), (c) => {
        const jit = runWhole(c, 'jit', false);
        const interp = runWhole(c, 'interp', false);
        expect(jit.outcome).toEqual(interp.outcome);
        expect(same(jit.memory, interp.memory)).toBe(true);
      }),
      { numRuns: 10_000 },
    );
  });

  it('with the sanitizer-style watch range and a this_cpu_ptr probe: the same events at the same counts', () => {
    fc.assert(
      fc.property(arbitraryCase(), (c) => {
        const jit = runWhole(c, 'jit', true);
        const interp = runWhole(c, 'interp', true);
        expect(jit.outcome).toEqual(interp.outcome);
        expect(same(jit.memory, interp.memory)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('in random budget chunks on CPUs of alternating tiers: ends exactly like one interpreted run', () => {
    const chunks = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(arbitraryCase(), chunks, (c, sizes) => {
        const whole = runWhole(c, 'interp', false);
        const memory = seededMemory(c.memorySeed);
        const cpus = [
          newCpu(memory, c, 'jit'),
          newCpu(memory, c, 'interp'),
          newCpu(memory, c, 'auto'),
        ];
        const ctx = newContext(c);
        let remaining = c.budget;
        let executed = 0;
        let reason: StopReason = StopReason.Budget;
        let last = cpus[0];
        for (let k = 0; remaining > 0; k++) {
          last = cpus[(k * 7 + sizes[0]) % 3];
          reason = last.run(ctx, Math.min(sizes[k % sizes.length], remaining));
          executed += last.executed;
          remaining -= last.executed;
          if (reason !== StopReason.Budget) break;
        }
        expect(outcome(ctx, reason, executed, last, [])).toEqual(whole.outcome);
        expect(same(memory, whole.memory)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
