import { describe, expect, it } from 'vitest';
import { decode, EXIT_INSN, encode, insn, lddw, lddwValue } from '../../cpu/insn.ts';

describe('instruction encoding (RFC 9669 §3)', () => {
  it('packs code, dst/src nibbles, off and imm little-endian', () => {
    const bytes = encode([insn(0x07, 1, 0, 0, 1), insn(0x79, 2, 1, -8, 0)]);
    expect([...bytes]).toEqual([
      0x07, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x79, 0x12, 0xf8, 0xff, 0x00, 0x00, 0x00,
      0x00,
    ]);
  });

  it('round-trips through decode', () => {
    const prog = [insn(0xbf, 3, 10, -1, 0), ...lddw(4, -2n), EXIT_INSN];
    expect(decode(encode(prog))).toEqual(prog);
  });

  it('splits lddw over two slots, high word in the second imm', () => {
    const [lo, hi] = lddw(0, 0x1122334455667788n);
    expect(lo.imm).toBe(0x55667788);
    expect(hi.imm).toBe(0x11223344);
    expect(lddwValue(lo, hi)).toBe(0x1122334455667788n);
    expect(lddwValue(...lddw(0, -1n))).toBe(0xffffffffffffffffn);
  });

  it('refuses fields that do not fit, naming the instruction', () => {
    expect(() => encode([insn(0x07, 16)])).toThrow('EINVAL: insn 0: dst register 16 does not fit');
    expect(() => encode([EXIT_INSN, insn(0x07, 0, 0, 0x8000)])).toThrow('insn 1: offset 32768');
    expect(() => encode([insn(0xb7, 0, 0, 0, 2 ** 31)])).toThrow('immediate 2147483648');
  });

  it('refuses a byte count that is not a multiple of 8', () => {
    expect(() => decode(new Uint8Array(12))).toThrow('EINVAL: program of 12 bytes');
  });
});
