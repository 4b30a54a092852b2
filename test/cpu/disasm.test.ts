import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../cpu/asm/pseudo-c.ts';
import { type DisasmOptions, disassemble, disassembleInsn } from '../../cpu/disasm.ts';
import { encode, insn, lddw } from '../../cpu/insn.ts';
import { validate } from '../../cpu/validate.ts';
import { arbitraryProgram } from './fixtures/arbitrary-program.ts';

/** Disassembles a one-line fragment after assembling it. */
function roundTrip(source: string, opts: DisasmOptions = {}): string {
  return disassemble(assemble(source, { validate: false }).insns, opts).join('\n');
}

describe('disassembleInsn', () => {
  it('prints v1-v3 instructions as llvm-objdump 14 does', () => {
    // Each left side is llvm-objdump -d output for the same bytes (see test/cpu/llvm.test.ts).
    for (const line of [
      'r1 += r2',
      'w1 += 5',
      'r3 *= -1',
      'r1 = -r1',
      'w0 = -w0',
      'w1 = w2',
      'r0 = -2147483648',
      'r1 s>>= 3',
      'r1 = be16 r1',
      'r1 = le64 r1',
      'r2 = *(u64 *)(r1 + 0)',
      'r0 = *(u8 *)(r10 - 8)',
      '*(u32 *)(r10 - 4) = r1',
      'lock *(u64 *)(r1 + 0) += r2',
      'lock *(u32 *)(r1 + 0) += r2',
      'r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)',
      'w2 = atomic_fetch_or((u32 *)(r1 + 4), w2)',
      'r2 = xchg_64(r1 + 8, r2)',
      'w2 = xchg32_32(r1 - 8, w2)',
      'r0 = cmpxchg_64(r1 + 0, r0, r2)',
      'w0 = cmpxchg32_32(r1 + 0, w0, w2)',
      'if r1 > 5 goto +3',
      'if w1 s< w2 goto -1',
      'goto +0',
      'call 1',
      'call -1',
      'r0 = 1234605616436508552 ll',
      'r1 = -1 ll',
      'r1 = 4294967295 ll',
      'exit',
    ]) {
      expect(roundTrip(line)).toBe(line);
    }
  });

  it('prints what LLVM 14 cannot in the forms newer LLVM prints', () => {
    for (const line of [
      'r1 %= 3',
      'w1 %= w2',
      'if r1 & r2 goto +1',
      'if w1 & 4 goto +1',
      '*(u8 *)(r1 + 0) = 5',
      '*(u64 *)(r1 - 8) = -1',
      'lock *(u32 *)(r1 + 0) &= w2',
      'r1 s/= r2',
      'w1 s%= 3',
      'r1 = (s8)r2',
      'r1 = (s32)r2',
      'w1 = (s16)w2',
      'r1 = *(s8 *)(r2 + 1)',
      'r1 = *(s32 *)(r2 - 4)',
      'r1 = bswap16 r1',
      'gotol +0',
      'callx r2',
    ]) {
      expect(roundTrip(line)).toBe(line);
    }
  });

  it('prints the per-CPU move, local and kfunc calls and pseudo lddw sources in our syntax', () => {
    expect(disassembleInsn([insn(0xbf, 1, 2, -1)], 0)).toBe('r1 = this_cpu_ptr(r2)');
    expect(disassembleInsn([insn(0x85, 0, 1, 0, 3)], 0)).toBe('call pc+3');
    expect(disassembleInsn([insn(0x85, 0, 1, 0, -2)], 0)).toBe('call pc-2');
    expect(disassembleInsn([insn(0x85, 0, 2, 0, 12)], 0)).toBe('call kfunc(12)');
    expect(disassembleInsn(lddw(1, 3n, 1), 0)).toBe('r1 = map_fd(3) ll');
    expect(disassembleInsn([insn(0x18, 1, 2, 0, 3), insn(0, 0, 0, 0, 16)], 0)).toBe(
      'r1 = map_value(3, 16) ll',
    );
    expect(disassembleInsn([insn(0x18, 1, 6, 0, 0), insn(0, 0, 0, 0, 0)], 0)).toBe(
      'r1 = map_idx_value(0, 0) ll',
    );
    expect(disassembleInsn([insn(0x18, 1, 4, 0, 5), insn(0, 0, 0, 0, 0)], 0)).toBe(
      'r1 = func(+5) ll',
    );
    expect(disassembleInsn([insn(0x18, 1, 3, 0, 5), insn(0, 0, 0, 0, 7)], 0)).toBe(
      'r1 = btf_id(5, 7) ll',
    );
  });

  it('names 32-bit load, store and lock operands wN in alu32 mode', () => {
    const alu32 = { alu32: true };
    expect(roundTrip('r1 = *(u32 *)(r2 + 0)', alu32)).toBe('w1 = *(u32 *)(r2 + 0)');
    expect(roundTrip('r1 = *(u8 *)(r2 + 0)', alu32)).toBe('w1 = *(u8 *)(r2 + 0)');
    expect(roundTrip('r1 = *(u64 *)(r2 + 0)', alu32)).toBe('r1 = *(u64 *)(r2 + 0)');
    expect(roundTrip('*(u16 *)(r1 + 0) = r2', alu32)).toBe('*(u16 *)(r1 + 0) = w2');
    expect(roundTrip('lock *(u32 *)(r1 + 0) += r2', alu32)).toBe('lock *(u32 *)(r1 + 0) += w2');
  });

  it('names helpers and kfuncs when asked', () => {
    expect(roundTrip('call 195', { helperNames: true })).toBe('call bpf_map_lookup_percpu_elem');
    expect(roundTrip('call 5000', { helperNames: true })).toBe('call 5000');
    expect(roundTrip('call kfunc(3)', { kfuncNames: new Map([[3, 'preempt_disable']]) })).toBe(
      'call preempt_disable',
    );
  });

  it('prints <unknown> for opcodes that are not eBPF, as llvm-objdump does', () => {
    expect(disassembleInsn([insn(0xff)], 0)).toBe('<unknown>');
    expect(disassembleInsn([insn(0x8f)], 0)).toBe('<unknown>');
    expect(disassembleInsn([insn(0x18, 1)], 0)).toBe('<unknown>');
  });
});

describe('disassemble', () => {
  const source =
    'r0 = 0\nloop:\nr0 += 1\nr1 = 7 ll\nif r0 < 10 goto loop\ncall fn\nexit\nfn:\nexit';

  it('prints one line per instruction, an lddw as one line', () => {
    expect(disassemble(assemble(source).insns)).toEqual([
      'r0 = 0',
      'r0 += 1',
      'r1 = 7 ll',
      'if r0 < 10 goto -4',
      'call pc+1',
      'exit',
      'exit',
    ]);
  });

  it('names targets with the given labels, or LBB0_<slot> ones, and emits label lines', () => {
    const { insns, labels } = assemble(source);
    expect(disassemble(insns, { labels })).toEqual([
      'r0 = 0',
      'loop:',
      'r0 += 1',
      'r1 = 7 ll',
      'if r0 < 10 goto loop',
      'call fn',
      'exit',
      'fn:',
      'exit',
    ]);
    expect(disassemble(insns, { labels: true })).toEqual([
      'r0 = 0',
      'LBB0_1:',
      'r0 += 1',
      'r1 = 7 ll',
      'if r0 < 10 goto LBB0_1',
      'call LBB0_7',
      'exit',
      'LBB0_7:',
      'exit',
    ]);
  });
});

describe('assemble(disassemble(program)) gives back the same bytes', () => {
  const modes: [string, DisasmOptions][] = [
    ['plain', {}],
    ['alu32', { alu32: true }],
    ['labels and helper names', { labels: true, helperNames: true }],
  ];
  it.each(modes)('for random valid programs, including v4 and this_cpu_ptr (%s)', (_, opts) => {
    fc.assert(
      fc.property(arbitraryProgram(), (insns) => {
        validate(insns);
        const text = disassemble(insns, opts).join('\n');
        expect(Buffer.from(encode(assemble(text).insns))).toEqual(Buffer.from(encode(insns)));
      }),
      { numRuns: 400 },
    );
  });
});
