/**
 * Unit tests of the fast interpreter (cpu/cpu.ts) for what the conformance
 * suite does not cover: the fault kinds and the state a fault leaves, the
 * instruction budget and resuming, helper stop requests, the GS-style base
 * register, callee-saved registers across local calls, and a context moving
 * to another CPU.
 */

import { describe, expect, it } from 'vitest';
import { CpuContext } from '../../cpu/context.ts';
import { Cpu, StopReason } from '../../cpu/cpu.ts';
import type { FaultKind } from '../../cpu/fault.ts';
import { HelperTable } from '../../cpu/helpers.ts';
import { EXIT_INSN, type Insn, insn, lddw } from '../../cpu/insn.ts';
import { loadProgram } from '../../cpu/program.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { PhysicalMemory } from '../../segments/memory.ts';

const MEMORY_SIZE = 0x4000;
const STACK_TOP = 0x2000;
const DATA = 0x3000;

// Opcodes, spelled as the instructions the tests write.
const MOV64_IMM = 0xb7;
const MOV64_REG = 0xbf;
const ADD64_IMM = 0x07;
const LDXDW = 0x79;
const STW_IMM = 0x62;
const STXDW = 0x7b;
const ATOMIC_DW = 0xdb;
const JLT_IMM = 0xa5;
const JA = 0x05;
const CALL = 0x85;
const CALLX = 0x8d;
const BPF_PSEUDO_CALL = 1;

const mov = (dst: number, imm: number) => insn(MOV64_IMM, dst, 0, 0, imm);
const call = (helper: number) => insn(CALL, 0, 0, 0, helper);
const callLocal = (delta: number) => insn(CALL, 0, BPF_PSEUDO_CALL, 0, delta);

interface Machine {
  memory: PhysicalMemory;
  cpu: Cpu;
  ctx: CpuContext;
}

/** A CPU over fresh memory whose data page holds a recognisable pattern, and a context for `insns`. */
function machine(insns: Insn[], helpers = new HelperTable('helper'), gsBase = 0): Machine {
  const memory = new PhysicalMemory(MEMORY_SIZE);
  for (let a = 0x1000; a < MEMORY_SIZE; a++) memory.u8[a] = (a * 7) & 0xff;
  const cpu = new Cpu({ memory, helpers, gsBase });
  const ctx = new CpuContext(loadProgram(insns), STACK_TOP);
  return { memory, cpu, ctx };
}

/** Runs until the program faults and checks what the fault leaves behind. */
function expectFault(m: Machine, kind: FaultKind, pc: number) {
  const before = m.memory.u8.slice();
  expect(m.cpu.run(m.ctx, 1000)).toBe(StopReason.Fault);
  expect(m.cpu.fault?.kind).toBe(kind);
  expect(m.cpu.fault?.pc).toBe(pc);
  expect(m.ctx.pc).toBe(pc);
  expect(Buffer.compare(m.memory.u8, before)).toBe(0);
  return m.cpu.fault!;
}

describe('faults stop at the faulting instruction and leave memory intact', () => {
  it('a load through NULL is a page fault', () => {
    const m = machine([mov(1, 0), insn(LDXDW, 0, 1, 0), EXIT_INSN]);
    const fault = expectFault(m, 'page-fault', 1);
    expect(fault.access).toEqual({ addr: 0n, size: 8, kind: 'read' });
    expect(fault.message).toBe('EFAULT: page fault: read of 8 bytes at 0x0 at pc 1');
    expect(m.cpu.executed).toBe(2);
  });

  it('a load straddling the end of memory is a page fault', () => {
    const m = machine([...lddw(1, BigInt(MEMORY_SIZE - 4)), insn(LDXDW, 0, 1, 0), EXIT_INSN]);
    const fault = expectFault(m, 'page-fault', 2);
    expect(fault.access).toEqual({ addr: BigInt(MEMORY_SIZE - 4), size: 8, kind: 'read' });
  });

  it('a store reaching into page 0 writes nothing, not even its mapped bytes', () => {
    // *(u64 *)(0xffc) covers 0xffc-0x1003: the last 4 bytes of page 0 and the first 4 of page 1.
    const m = machine([mov(1, 0xffc), mov(2, -1), insn(STXDW, 1, 2, 0), EXIT_INSN]);
    const fault = expectFault(m, 'page-fault', 2);
    expect(fault.access).toEqual({ addr: 0xffcn, size: 8, kind: 'write' });
  });

  it('an address that wraps past 2^64 into page 0 faults with its full 64-bit value', () => {
    const m = machine([mov(1, -16), insn(STW_IMM, 1, 0, 8, 1), EXIT_INSN]);
    const fault = expectFault(m, 'page-fault', 1);
    expect(fault.access?.addr).toBe(0xffff_ffff_ffff_fff8n);
  });

  it('a misaligned atomic is refused before it touches memory', () => {
    const m = machine([mov(1, DATA + 4), mov(2, 1), insn(ATOMIC_DW, 1, 2, 0, 0x00), EXIT_INSN]);
    const fault = expectFault(m, 'misaligned-atomic', 2);
    expect(fault.access).toEqual({ addr: BigInt(DATA + 4), size: 8, kind: 'write' });
  });

  it('a ninth call frame is a stack overflow at the call', () => {
    // main calls f; f calls itself forever. Frames 0-7 are allowed, the call from depth 7 is not.
    const m = machine([callLocal(1), EXIT_INSN, mov(6, 0), callLocal(-2), EXIT_INSN]);
    expectFault(m, 'stack-overflow', 3);
    expect(m.ctx.depth).toBe(7);
    expect(m.ctx.reg(10)).toBe(BigInt(STACK_TOP - 7 * 512));
    expect(m.cpu.executed).toBe(1 + 6 * 2 + 2); // main's call, 6 frames of (mov, call), mov, call
  });

  it('calling an unregistered helper or kfunc is an unknown-helper fault', () => {
    const m = machine([mov(0, 0), call(4242), EXIT_INSN]);
    const fault = expectFault(m, 'unknown-helper', 1);
    expect(fault.message).toBe('ENOSYS: unknown helper 4242 at pc 1');

    const k = machine([insn(CALL, 0, 2, 0, 7), EXIT_INSN]);
    expect(expectFault(k, 'unknown-helper', 0).message).toBe('ENOSYS: unknown kfunc 7 at pc 0');
  });

  it('a helper throwing an ErrnoError becomes a helper-error fault of the caller', () => {
    const helpers = new HelperTable('helper').register(9, 'test_refuse', (ctx) => {
      throw new ErrnoError('E2BIG', `key ${ctx.reg(1)} >= max_entries 8`);
    });
    const m = machine([mov(1, 9), call(9), EXIT_INSN], helpers);
    const fault = expectFault(m, 'helper-error', 1);
    expect(fault.message).toBe('EINVAL: test_refuse: E2BIG: key 9 >= max_entries 8 at pc 1');
  });

  it('a helper throwing anything else is an emulator bug and propagates', () => {
    const helpers = new HelperTable('helper').register(9, 'test_broken', () => {
      throw new TypeError('broken helper');
    });
    const m = machine([call(9), EXIT_INSN], helpers);
    expect(() => m.cpu.run(m.ctx, 10)).toThrow('broken helper');
  });
});

describe('the instruction budget', () => {
  // r0 counts to 10: 1 + 10 * 2 + 1 = 22 instructions.
  const loop = [mov(0, 0), insn(ADD64_IMM, 0, 0, 0, 1), insn(JLT_IMM, 0, 0, -2, 10), EXIT_INSN];

  it('stops after exactly N instructions with pc on the next one, and resumes', () => {
    const m = machine(loop);
    expect(m.cpu.run(m.ctx, 5)).toBe(StopReason.Budget);
    expect(m.cpu.executed).toBe(5);
    expect(m.ctx.pc).toBe(1); // mov, then (add, jlt) twice: the next is the third add
    expect(m.ctx.reg(0)).toBe(2n);
    expect(m.cpu.run(m.ctx, 100)).toBe(StopReason.Exit);
    expect(m.cpu.executed).toBe(17);
    expect(m.cpu.totalExecuted).toBe(22);
    expect(m.ctx.reg(0)).toBe(10n);
    expect(m.ctx.pc).toBe(3);
  });

  it('is exact when the program exits on its last instruction', () => {
    const m = machine(loop);
    expect(m.cpu.run(m.ctx, 22)).toBe(StopReason.Exit);
    expect(m.cpu.executed).toBe(22);
  });

  it('of 0 executes nothing', () => {
    const m = machine(loop);
    expect(m.cpu.run(m.ctx, 0)).toBe(StopReason.Budget);
    expect(m.cpu.executed).toBe(0);
    expect(m.ctx.pc).toBe(0);
  });

  it('counts an lddw as one instruction', () => {
    const m = machine([...lddw(0, 0x1122334455667788n), EXIT_INSN]);
    expect(m.cpu.run(m.ctx, 1)).toBe(StopReason.Budget);
    expect(m.ctx.pc).toBe(2);
    expect(m.ctx.reg(0)).toBe(0x1122334455667788n);
    expect(m.cpu.run(m.ctx, 1)).toBe(StopReason.Exit);
  });
});

describe('helpers', () => {
  it('a helper calling cpu.requestStop() stops the CPU right after the call', () => {
    const helpers = new HelperTable('helper').register(3, 'test_sleep', (ctx, cpu) => {
      ctx.setReg(0, 77n);
      cpu.requestStop();
    });
    const m = machine([mov(1, 0), call(3), insn(ADD64_IMM, 0, 0, 0, 1), EXIT_INSN], helpers);
    expect(m.cpu.run(m.ctx, 100)).toBe(StopReason.Stop);
    expect(m.cpu.executed).toBe(2);
    expect(m.ctx.pc).toBe(2);
    expect(m.ctx.reg(0)).toBe(77n);
    expect(m.cpu.run(m.ctx, 100)).toBe(StopReason.Exit);
    expect(m.ctx.reg(0)).toBe(78n);
  });

  it('callx calls the helper whose id is in the dst register', () => {
    const helpers = new HelperTable('helper').register(5, 'test_id', (ctx) => {
      ctx.setReg(0, ctx.reg(1));
    });
    const m = machine([mov(1, -1), mov(2, 5), insn(CALLX, 2), EXIT_INSN], helpers);
    expect(m.cpu.run(m.ctx, 100)).toBe(StopReason.Exit);
    expect(m.ctx.reg(0)).toBe(0xffff_ffff_ffff_ffffn);
  });

  // callx takes the whole 64-bit register as the id: 0x1_0000_0005 is not helper 5.
  it('callx with a high word set in the register calls no helper', () => {
    const helpers = new HelperTable('helper').register(5, 'test_id', (ctx) => {
      ctx.setReg(0, 0xbadn);
    });
    const m = machine([...lddw(2, 0x1_0000_0005n), insn(CALLX, 2), EXIT_INSN], helpers);
    expectFault(m, 'unknown-helper', 2);
  });
});

describe('the GS-style base register', () => {
  it('BPF_MOV64_PERCPU_REG adds gsBase to the source register, carrying into the high word', () => {
    const m = machine(
      [
        mov(1, 0x100),
        insn(MOV64_REG, 2, 1, -1),
        ...lddw(3, 0xffff_ffffn),
        insn(MOV64_REG, 4, 3, -1),
        EXIT_INSN,
      ],
      undefined,
      0x3000,
    );
    expect(m.cpu.run(m.ctx, 100)).toBe(StopReason.Exit);
    expect(m.ctx.reg(1)).toBe(0x100n);
    expect(m.ctx.reg(2)).toBe(0x3100n);
    expect(m.ctx.reg(4)).toBe(0x1_0000_2fffn);
  });

  it('a context resumed on another Cpu object uses that CPU gsBase', () => {
    // r2 = this_cpu_ptr(r1) on CPU 0, then (after a budget stop) r3 = this_cpu_ptr(r1) on CPU 1.
    const m = machine([
      mov(1, 0x10),
      insn(MOV64_REG, 2, 1, -1),
      insn(MOV64_REG, 3, 1, -1),
      EXIT_INSN,
    ]);
    const cpu0 = new Cpu({ memory: m.memory, id: 0, gsBase: 0x2000 });
    const cpu1 = new Cpu({ memory: m.memory, id: 1, gsBase: 0x3000 });
    expect(cpu0.run(m.ctx, 2)).toBe(StopReason.Budget);
    expect(cpu1.run(m.ctx, 100)).toBe(StopReason.Exit);
    expect(m.ctx.reg(2)).toBe(0x2010n);
    expect(m.ctx.reg(3)).toBe(0x3010n);
    expect(cpu1.executed).toBe(2);
  });
});

describe('local calls', () => {
  it('preserve r6-r9 and r10 for the caller and give the callee a fresh frame', () => {
    const m = machine([
      mov(6, 6),
      mov(7, 7),
      mov(8, 8),
      mov(9, 9),
      callLocal(2), // to f at 7
      insn(LDXDW, 1, 10, -8), // the callee's store did not land in this frame
      EXIT_INSN,
      // f: clobber r6-r9, keep r10 in r0, write its own frame.
      mov(6, -6),
      mov(7, -7),
      mov(8, -8),
      mov(9, -9),
      insn(MOV64_REG, 0, 10),
      insn(STXDW, 10, 6, -8),
      EXIT_INSN,
    ]);
    m.memory.write64(STACK_TOP - 8, 0n);
    expect(m.cpu.run(m.ctx, 100)).toBe(StopReason.Exit);
    expect([6, 7, 8, 9].map((r) => m.ctx.reg(r))).toEqual([6n, 7n, 8n, 9n]);
    expect(m.ctx.reg(0)).toBe(BigInt(STACK_TOP - 512));
    expect(m.ctx.reg(10)).toBe(BigInt(STACK_TOP));
    expect(m.ctx.reg(1)).toBe(0n);
    expect(m.memory.read64(STACK_TOP - 512 - 8)).toBe(0xffff_ffff_ffff_fffan);
    expect(m.ctx.depth).toBe(0);
  });

  it('resume inside a callee with its frame intact', () => {
    const m = machine([
      mov(6, 1),
      callLocal(1),
      EXIT_INSN,
      mov(6, 2),
      insn(JA, 0, 0, 0),
      EXIT_INSN,
    ]);
    expect(m.cpu.run(m.ctx, 3)).toBe(StopReason.Budget);
    expect(m.ctx.depth).toBe(1);
    expect(m.ctx.reg(6)).toBe(2n);
    expect(m.cpu.run(m.ctx, 100)).toBe(StopReason.Exit);
    expect(m.ctx.reg(6)).toBe(1n);
    expect(m.ctx.depth).toBe(0);
  });
});

describe('load-time rules the interpreter relies on', () => {
  // An atomic fetch writes its src register; the kernel verifier refuses r10 there
  // ("frame pointer is read only").
  it('refuses an atomic fetch into r10, the read-only frame pointer', () => {
    const fetchIntoR10 = insn(ATOMIC_DW, 10, 10, -8, 0x01); // BPF_ADD | BPF_FETCH
    expect(() => loadProgram([fetchIntoR10, EXIT_INSN])).toThrow(
      'r10 is the read-only frame pointer',
    );
  });
});
