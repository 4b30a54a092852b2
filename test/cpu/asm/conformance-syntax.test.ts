import { describe, expect, it } from 'vitest';
import { AsmError } from '../../../cpu/asm/asm-error.ts';
import { assembleConformance } from '../../../cpu/asm/conformance-syntax.ts';
import { encode } from '../../../cpu/insn.ts';

/** The program's bytes as hex, one 8-byte slot per string. */
function slots(source: string): string[] {
  const bytes = encode(assembleConformance(source).insns);
  const out: string[] = [];
  for (let at = 0; at < bytes.length; at += 8) {
    out.push(
      Array.from(bytes.subarray(at, at + 8), (b) => b.toString(16).padStart(2, '0')).join(' '),
    );
  }
  return out;
}

/** The slots of `line`, assembled as a program followed by `exit`. */
function one(line: string): string[] {
  return slots(`${line}\nexit`).slice(0, -1);
}

function asmError(source: string): AsmError {
  try {
    assembleConformance(source);
  } catch (e) {
    if (e instanceof AsmError) return e;
    throw e;
  }
  throw new Error(`expected an AsmError for ${JSON.stringify(source)}`);
}

describe('conformance syntax: encodings (RFC 9669)', () => {
  it.each([
    // ALU64 and ALU, immediate and register sources
    ['mov32 %r0, 0', 'b4 00 00 00 00 00 00 00'],
    ['mov %r1, -1', 'b7 01 00 00 ff ff ff ff'],
    ['mov32 %r1, 0xffffffff', 'b4 01 00 00 ff ff ff ff'],
    ['mov %r0, %r1', 'bf 10 00 00 00 00 00 00'],
    ['add %r0, %r1', '0f 10 00 00 00 00 00 00'],
    ['add32 %r2, 0x10', '04 02 00 00 10 00 00 00'],
    ['sub %r3, 5', '17 03 00 00 05 00 00 00'],
    ['sub32 %r3, %r4', '1c 43 00 00 00 00 00 00'],
    ['mul32 %r0, %r3', '2c 30 00 00 00 00 00 00'],
    ['mul %r0, 7', '27 00 00 00 07 00 00 00'],
    ['div %r0, 2', '37 00 00 00 02 00 00 00'],
    ['div32 %r0, %r4', '3c 40 00 00 00 00 00 00'],
    ['or %r0, 0x40', '47 00 00 00 40 00 00 00'],
    ['or32 %r0, %r1', '4c 10 00 00 00 00 00 00'],
    ['and %r0, %r1', '5f 10 00 00 00 00 00 00'],
    ['and32 %r1, 0xff', '54 01 00 00 ff 00 00 00'],
    ['lsh %r1, 3', '67 01 00 00 03 00 00 00'],
    ['lsh32 %r1, %r2', '6c 21 00 00 00 00 00 00'],
    ['rsh %r1, %r2', '7f 21 00 00 00 00 00 00'],
    ['rsh32 %r1, 8', '74 01 00 00 08 00 00 00'],
    ['mod %r0, %r1', '9f 10 00 00 00 00 00 00'],
    ['mod32 %r0, 7', '94 00 00 00 07 00 00 00'],
    ['xor %r5, 0x5a', 'a7 05 00 00 5a 00 00 00'],
    ['xor32 %r1, %r2', 'ac 21 00 00 00 00 00 00'],
    ['arsh %r1, 4', 'c7 01 00 00 04 00 00 00'],
    ['arsh32 %r1, %r9', 'cc 91 00 00 00 00 00 00'],
    ['neg %r0', '87 00 00 00 00 00 00 00'],
    ['neg32 %r3', '84 03 00 00 00 00 00 00'],
    // signed division and modulo: off = 1
    ['sdiv %r0, %r1', '3f 10 01 00 00 00 00 00'],
    ['sdiv32 %r0, -3', '34 00 01 00 fd ff ff ff'],
    ['smod %r0, 3', '97 00 01 00 03 00 00 00'],
    ['smod32 %r0, %r1', '9c 10 01 00 00 00 00 00'],
    // sign-extending moves: mov reg form, off = source width
    ['movsx832 %r2, %r1', 'bc 12 08 00 00 00 00 00'],
    ['movsx1632 %r4, %r3', 'bc 34 10 00 00 00 00 00'],
    ['movsx864 %r6, %r5', 'bf 56 08 00 00 00 00 00'],
    ['movsx1664 %r8, %r7', 'bf 78 10 00 00 00 00 00'],
    ['movsx3264 %r0, %r9', 'bf 90 20 00 00 00 00 00'],
    // byte order: ALU END to-be / to-le, ALU64 END for the unconditional swap
    ['be16 %r0', 'dc 00 00 00 10 00 00 00'],
    ['be32 %r1', 'dc 01 00 00 20 00 00 00'],
    ['be64 %r0', 'dc 00 00 00 40 00 00 00'],
    ['le16 %r0', 'd4 00 00 00 10 00 00 00'],
    ['le32 %r1', 'd4 01 00 00 20 00 00 00'],
    ['le64 %r2', 'd4 02 00 00 40 00 00 00'],
    ['swap16 %r0', 'd7 00 00 00 10 00 00 00'],
    ['swap32 %r0', 'd7 00 00 00 20 00 00 00'],
    ['swap64 %r0', 'd7 00 00 00 40 00 00 00'],
    ['bswap16 %r3', 'd7 03 00 00 10 00 00 00'],
    ['bswap32 %r3', 'd7 03 00 00 20 00 00 00'],
    ['bswap64 %r2', 'd7 02 00 00 40 00 00 00'],
    // loads and stores
    ['ldxb %r0, [%r1]', '71 10 00 00 00 00 00 00'],
    ['ldxh %r0, [%r1+0x2]', '69 10 02 00 00 00 00 00'],
    ['ldxw %r3, [%r10-4]', '61 a3 fc ff 00 00 00 00'],
    ['ldxdw %r0, [%r1+8]', '79 10 08 00 00 00 00 00'],
    ['ldxsb %r0, [%r10-1]', '91 a0 ff ff 00 00 00 00'],
    ['ldxsh %r0, [%r10-2]', '89 a0 fe ff 00 00 00 00'],
    ['ldxsw %r0, [%r10-4]', '81 a0 fc ff 00 00 00 00'],
    ['stb [%r10-1], 0x80', '72 0a ff ff 80 00 00 00'],
    ['sth [%r1+2], 0x1122', '6a 01 02 00 22 11 00 00'],
    ['stw [%r1+2], 5', '62 01 02 00 05 00 00 00'],
    ['stdw [%r10-8], -1', '7a 0a f8 ff ff ff ff ff'],
    ['stxb [%r10-1], %r1', '73 1a ff ff 00 00 00 00'],
    ['stxh [%r0+6], %r2', '6b 20 06 00 00 00 00 00'],
    ['stxw [%r10-4], %r1', '63 1a fc ff 00 00 00 00'],
    ['stxdw [%r10-8], %r0', '7b 0a f8 ff 00 00 00 00'],
    // atomics: STX | ATOMIC | W (0xc3) or DW (0xdb), the operation in imm
    ['lock add [%r10-8], %r1', 'db 1a f8 ff 00 00 00 00'],
    ['lock add32 [%r1+4], %r2', 'c3 21 04 00 00 00 00 00'],
    ['lock fetch add [%r10-8], %r1', 'db 1a f8 ff 01 00 00 00'],
    ['lock fetch add32 [%r10-4], %r1', 'c3 1a fc ff 01 00 00 00'],
    ['lock or [%r10-8], %r1', 'db 1a f8 ff 40 00 00 00'],
    ['lock or32 [%r10-4], %r1', 'c3 1a fc ff 40 00 00 00'],
    ['lock fetch or [%r10-8], %r1', 'db 1a f8 ff 41 00 00 00'],
    ['lock fetch or32 [%r10-4], %r1', 'c3 1a fc ff 41 00 00 00'],
    ['lock and [%r10-8], %r1', 'db 1a f8 ff 50 00 00 00'],
    ['lock and32 [%r10-4], %r1', 'c3 1a fc ff 50 00 00 00'],
    ['lock fetch and [%r10-8], %r1', 'db 1a f8 ff 51 00 00 00'],
    ['lock fetch and32 [%r10-4], %r1', 'c3 1a fc ff 51 00 00 00'],
    ['lock xor [%r10-8], %r1', 'db 1a f8 ff a0 00 00 00'],
    ['lock xor32 [%r10-4], %r1', 'c3 1a fc ff a0 00 00 00'],
    ['lock fetch xor [%r10-8], %r1', 'db 1a f8 ff a1 00 00 00'],
    ['lock fetch xor32 [%r10-4], %r1', 'c3 1a fc ff a1 00 00 00'],
    ['lock xchg [%r10-8], %r1', 'db 1a f8 ff e1 00 00 00'],
    ['lock xchg32 [%r10-4], %r1', 'c3 1a fc ff e1 00 00 00'],
    ['lock cmpxchg [%r10-8], %r1', 'db 1a f8 ff f1 00 00 00'],
    ['lock cmpxchg32 [%r10-4], %r1', 'c3 1a fc ff f1 00 00 00'],
    // conditional jumps, JMP and JMP32, immediate and register
    ['jeq %r1, 3, +0', '15 01 00 00 03 00 00 00'],
    ['jeq32 %r1, %r2, +0', '1e 21 00 00 00 00 00 00'],
    ['jgt %r1, %r2, +0', '2d 21 00 00 00 00 00 00'],
    ['jgt32 %r1, 4, +0', '26 01 00 00 04 00 00 00'],
    ['jge %r1, 0xb, +0', '35 01 00 00 0b 00 00 00'],
    ['jge32 %r1, %r2, +0', '3e 21 00 00 00 00 00 00'],
    ['jset %r1, 0x8, +0', '45 01 00 00 08 00 00 00'],
    ['jset32 %r1, %r2, +0', '4e 21 00 00 00 00 00 00'],
    ['jne %r0, 15, +0', '55 00 00 00 0f 00 00 00'],
    ['jne32 %r2, 0xffffff80, +0', '56 02 00 00 80 ff ff ff'],
    ['jsgt %r1, -2, +0', '65 01 00 00 fe ff ff ff'],
    ['jsgt32 %r1, %r2, +0', '6e 21 00 00 00 00 00 00'],
    ['jsge %r1, %r2, +0', '7d 21 00 00 00 00 00 00'],
    ['jsge32 %r1, 1, +0', '76 01 00 00 01 00 00 00'],
    ['jlt %r1, 5, +0', 'a5 01 00 00 05 00 00 00'],
    ['jlt32 %r1, %r2, +0', 'ae 21 00 00 00 00 00 00'],
    ['jle %r1, %r2, +0', 'bd 21 00 00 00 00 00 00'],
    ['jle32 %r1, 6, +0', 'b6 01 00 00 06 00 00 00'],
    ['jslt %r1, %r2, +0', 'cd 21 00 00 00 00 00 00'],
    ['jslt32 %r1, -7, +0', 'c6 01 00 00 f9 ff ff ff'],
    ['jsle %r1, -1, +0', 'd5 01 00 00 ff ff ff ff'],
    ['jsle32 %r1, %r2, +0', 'de 21 00 00 00 00 00 00'],
    ['ja +0', '05 00 00 00 00 00 00 00'],
    ['ja32 +0', '06 00 00 00 00 00 00 00'],
    // calls
    ['call 5', '85 00 00 00 05 00 00 00'],
    ['call helper 5', '85 00 00 00 05 00 00 00'],
    ['call runtime 3', '85 20 00 00 03 00 00 00'],
    ['call %r2', '8d 02 00 00 00 00 00 00'],
  ])('%s', (line, bytes) => {
    expect(one(line)).toEqual([bytes]);
  });

  it('exit', () => {
    expect(slots('exit')).toEqual(['95 00 00 00 00 00 00 00']);
  });

  it('lddw takes two slots, the high word in the second imm', () => {
    expect(one('lddw %r0, 0x1122334455667788')).toEqual([
      '18 00 00 00 88 77 66 55',
      '00 00 00 00 44 33 22 11',
    ]);
    expect(one('lddw %r1, -2')).toEqual(['18 01 00 00 fe ff ff ff', '00 00 00 00 ff ff ff ff']);
  });

  it('resolves forward and backward labels to slot offsets, lddw counting two', () => {
    expect(slots('ja skip\nlddw %r0, 1\nskip:\nexit')[0]).toBe('05 00 02 00 00 00 00 00');
    const loop = slots('mov %r0, 3\ntop:\nsub %r0, 1\njne %r0, 0, top\nexit');
    expect(loop[2]).toBe('55 00 fe ff 00 00 00 00');
  });

  it('puts the ja32 and local-call targets in imm', () => {
    expect(slots('ja32 end\nmov %r0, 1\nend:\nexit')[0]).toBe('06 00 00 00 01 00 00 00');
    expect(slots('call local f\nexit\nf:\nmov %r0, 1\nexit')[0]).toBe('85 10 00 00 01 00 00 00');
  });

  it('sends a jump to an undefined `exit` label to the first exit instruction', () => {
    expect(slots('jne %r0, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit')[0]).toBe(
      '55 00 01 00 00 00 00 00',
    );
  });

  it('prefers an explicit `exit:` label over the first exit instruction', () => {
    const out = slots('jeq %r0, 0, exit\nexit\nmov %r0, 2\nexit:\nexit');
    expect(out[0]).toBe('15 00 02 00 00 00 00 00');
  });

  it('accepts comments, blank lines, indentation and a label before an instruction', () => {
    const { insns, labels } = assembleConformance(
      '# header\n\n  start: mov %r0, 1 # one\n\tnext:\n  exit # done\n',
    );
    expect(insns).toHaveLength(2);
    expect(labels).toEqual(
      new Map([
        ['start', 0],
        ['next', 1],
      ]),
    );
  });
});

describe("conformance syntax: the bpf_conformance assembler's ranges", () => {
  const imm32 = 'does not fit in 32 bits: decimal is -2147483648..2147483647, hex 0x0..0xffffffff';
  const off16 = 'does not fit in 16 bits: decimal is -32768..32767, hex 0x0..0xffff';

  it('takes a decimal immediate in the signed 32-bit range, a hex one in 0..0xffffffff', () => {
    expect(one('mov32 %r0, -2147483648')).toEqual(['b4 00 00 00 00 00 00 80']);
    expect(one('mov32 %r0, 2147483647')).toEqual(['b4 00 00 00 ff ff ff 7f']);
    expect(one('mov32 %r0, 0xffffffff')).toEqual(['b4 00 00 00 ff ff ff ff']);
    expect(one('jeq %r1, +0x80000000, +0')).toEqual(['15 01 00 00 00 00 00 80']);
  });

  it('takes a decimal offset in the signed 16-bit range, a hex one in 0..0xffff', () => {
    expect(one('ldxb %r0, [%r1-32768]')).toEqual(['71 10 00 80 00 00 00 00']);
    expect(one('ldxb %r0, [%r1+0xffff]')).toEqual(['71 10 ff ff 00 00 00 00']);
    expect(one('ja +0xffff')).toEqual(['05 00 ff ff 00 00 00 00']); // to itself
  });

  it.each([
    ['mov32 %r0, 2147483648', 12, `immediate 2147483648 ${imm32}`],
    ['mov %r0, 4294967295', 10, `immediate 4294967295 ${imm32}`],
    ['mov %r0, -2147483649', 10, `immediate -2147483649 ${imm32}`],
    ['mov32 %r0, 0x100000000', 12, `immediate 0x100000000 ${imm32}`],
    ['add %r0, -0x1', 10, `immediate -0x1 ${imm32}`],
    ['jeq %r0, 4294967295, +0', 10, `immediate 4294967295 ${imm32}`],
    ['stw [%r1], 3000000000', 12, `immediate 3000000000 ${imm32}`],
    ['call 2147483648', 6, `immediate 2147483648 ${imm32}`],
    ['ldxb %r0, [%r1+0x10000]', 15, `offset +0x10000 ${off16}`],
    ['ldxb %r0, [%r10-0x8]', 16, `offset -0x8 ${off16}`],
    ['ja +32768', 4, `jump offset +32768 ${off16}`],
  ])('refuses %j at column %i', (line, column, reason) => {
    const e = asmError(`${line}\nexit`);
    expect([e.line, e.column, e.reason]).toEqual([1, column, reason]);
  });
});

describe('conformance syntax: errors name the line and column', () => {
  it.each([
    ['mov %r0, 1\nfoo %r0\nexit', 2, 1, "unknown mnemonic 'foo'"],
    ['  add %r0\nexit', 1, 3, "'add' takes 2 operands, found 1"],
    ['mov %r0 %r1\nexit', 1, 1, "'mov' takes 2 operands, found 1"],
    ['exit %r0', 1, 1, "'exit' takes 0 operands, found 1"],
    ['jne %r0, 1\nexit', 1, 1, "'jne' takes 3 operands, found 2"],
    [
      'lddw %r0, 0x10000000000000000\nexit',
      1,
      11,
      'immediate 0x10000000000000000 does not fit in 64 bits',
    ],
    [
      'stw [%r1+40000], 1\nexit',
      1,
      9,
      'offset +40000 does not fit in 16 bits: decimal is -32768..32767',
    ],
    ['jne %r0, 1, +40000\nexit', 1, 13, 'jump offset +40000 does not fit in 16 bits'],
    ['add %r11, 1\nexit', 1, 5, "bad register '%r11'"],
    ['add %rx, 1\nexit', 1, 5, "bad register '%rx'"],
    ['add 1, %r1\nexit', 1, 5, "expected a register, found '1'"],
    ['jne %r0, 1, nowhere\nexit', 1, 13, "unknown label 'nowhere'"],
    ['ja end\nmov %r0, 0', 1, 4, "unknown label 'end'"],
    ['lock nand [%r1], %r2\nexit', 1, 6, "unknown atomic operation 'nand'"],
    ['movsx832 %r0, 5\nexit', 1, 15, 'needs a register source'],
    ['ldxw %r0, %r1\nexit', 1, 11, 'expected a memory operand'],
    ['call far 5\nexit', 1, 6, "call mode 'far'"],
    ['a:\na:\nexit', 2, 1, "label 'a' is already defined"],
    ['mov %r0, $1\nexit', 1, 10, "unexpected character '$'"],
    ['mov %r0, 12ab\nexit', 1, 10, "'12ab' is not a decimal or 0x hex number"],
  ])('%j -> line %i, column %i: %s', (source, line, column, reason) => {
    const e = asmError(source);
    expect({ line: e.line, column: e.column }).toEqual({ line, column });
    expect(e.reason).toContain(reason);
    expect(e.message).toMatch(/^EINVAL: line \d+, column \d+: /);
  });

  it('reports what validate() refuses at the offending instruction', () => {
    const r10 = asmError('mov %r0, 1\n  mov %r10, 1\nexit');
    expect([r10.line, r10.column, r10.reason]).toEqual([
      2,
      3,
      'r10 is the read-only frame pointer',
    ]);
    const noExit = asmError('mov %r0, 1\nadd %r0, 1');
    expect([noExit.line, noExit.reason]).toEqual([
      2,
      'last instruction is not an exit or unconditional jump',
    ]);
  });

  it('refuses an empty program', () => {
    expect(asmError('# nothing\n').reason).toBe('program is empty');
  });
});
