import { describe, expect, it } from 'vitest';
import { AsmError } from '../../../cpu/asm/asm-error.ts';
import { type AsmSplice, type AsmValue, asm, asmWith } from '../../../cpu/asm/template.ts';
import { lddw } from '../../../cpu/insn.ts';

function templateError(run: () => unknown): AsmError {
  try {
    run();
  } catch (err) {
    if (err instanceof AsmError) return err;
    throw err;
  }
  throw new Error('assembled without error');
}

describe('asm`...`', () => {
  it('splices numbers and bigints as immediates, offsets and jump distances', () => {
    const { insns } = asm`
      r0 = ${42}
      r1 = ${0x1122334455667788n} ll
      r2 = *(u64 *)(r10 - ${8})
      if r0 > ${-1} goto +${1}
      r0 = 0
      exit`;
    expect(insns[0].imm).toBe(42);
    expect(insns.slice(1, 3)).toEqual(lddw(1, 0x1122334455667788n));
    expect(insns[3].off).toBe(-8);
    expect([insns[4].imm, insns[4].off]).toEqual([-1, 1]);
  });

  it('splices objects as named symbols, resolved like `rX = name ll`', () => {
    const counter: AsmSplice = { asmName: 'counter', asmSymbol: { kind: 'value', value: 0x40n } };
    const hits: AsmSplice = { asmName: 'hits', asmSymbol: { kind: 'map', fd: 3 } };
    const slot: AsmSplice = { asmName: 'slot', asmSymbol: { kind: 'map_value', fd: 3, offset: 8 } };
    const { insns } = asm`
      r1 = ${counter} ll
      r1 = this_cpu_ptr(r1)
      r2 = ${hits} ll
      r3 = ${slot} + 4 ll
      r4 = ${counter} ll
      exit`;
    expect(insns.slice(0, 2)).toEqual(lddw(1, 0x40n));
    expect(insns[2]).toMatchObject({ code: 0xbf, dst: 1, src: 1, off: -1 });
    expect(insns.slice(3, 5)).toEqual(lddw(2, 3n, 1));
    expect([insns[5].src, insns[5].imm, insns[6].imm]).toEqual([2, 3, 12]);
    expect(insns.slice(7, 9)).toEqual(lddw(4, 0x40n));
  });

  it('assembles with options through asmWith', () => {
    const kasm = asmWith({
      kfuncs: { preempt_disable: 17 },
      symbols: { base: { kind: 'value', value: 5 } },
    });
    const { insns } = kasm`call preempt_disable
      r1 = base ll
      exit`;
    expect([insns[0].src, insns[0].imm]).toEqual([2, 17]);
    expect(insns[1].imm).toBe(5);
  });

  it('reports errors at the line and column of the template, spliced values as their text', () => {
    const err = templateError(
      () => asm`
      r0 = ${1}
      r1 += ${2} ${3}
      exit`,
    );
    expect([err.line, err.column, err.reason]).toEqual([3, 15, "expected end of line, found '3'"]);
  });

  it('refuses values that cannot be spliced, at their position', () => {
    const fraction = templateError(() => asm`r0 = ${1.5}\nexit`);
    expect([fraction.line, fraction.column, fraction.reason]).toEqual([
      1,
      6,
      'spliced number 1.5 is not a safe integer',
    ]);
    const text = templateError(() => asm`r0 = ${'r1' as unknown as AsmValue}\nexit`);
    expect(text.reason).toBe(
      'cannot splice a value of type string: expected a number, bigint or AsmSplice',
    );
    const badName: AsmSplice = { asmName: 'r1', asmSymbol: { kind: 'value', value: 0 } };
    expect(templateError(() => asm`r0 = ${badName} ll\nexit`).reason).toMatch(/not an identifier/);
  });

  it('refuses two different symbols with one name', () => {
    const a: AsmSplice = { asmName: 'x', asmSymbol: { kind: 'value', value: 1 } };
    const b: AsmSplice = { asmName: 'x', asmSymbol: { kind: 'map', fd: 1 } };
    const err = templateError(() => asm`r1 = ${a} ll\nr2 = ${b} ll\nexit`);
    expect([err.line, err.column, err.reason]).toEqual([
      2,
      6,
      "two different spliced symbols are named 'x'",
    ]);
  });
});
