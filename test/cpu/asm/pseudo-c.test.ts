import { describe, expect, it } from 'vitest';
import { AsmError } from '../../../cpu/asm/asm-error.ts';
import { assemble } from '../../../cpu/asm/pseudo-c.ts';
import { encode, type Insn } from '../../../cpu/insn.ts';

/** The hex bytes of each slot of a fragment (not validated). */
function hex(source: string, options = {}): string[] {
  const bytes = encode(assemble(source, { validate: false, ...options }).insns);
  const slots: string[] = [];
  for (let at = 0; at < bytes.length; at += 8) {
    slots.push(Buffer.from(bytes.subarray(at, at + 8)).toString('hex'));
  }
  return slots;
}

function asmError(source: string, options = {}): AsmError {
  try {
    assemble(source, options);
  } catch (err) {
    if (err instanceof AsmError) return err;
    throw err;
  }
  throw new Error(`assembled without error: ${source}`);
}

describe('assemble: encodings', () => {
  // Bytes as llvm-mc 14 produces them where it knows the instruction; the rest
  // follow RFC 9669 and the kernel (BPF_MOV64_PERCPU_REG for this_cpu_ptr).
  it.each([
    ['r1 += r2', '0f21000000000000'],
    ['w1 += 5', '0401000005000000'],
    ['r1 -= -1', '17010000ffffffff'],
    ['r1 = -r1', '8701000000000000'],
    ['w3 = -w3', '8403000000000000'],
    ['w1 = w2', 'bc21000000000000'],
    ['r0 = r10', 'bfa0000000000000'],
    ['r1 s>>= 3', 'c701000003000000'],
    ['w1 s>>= w2', 'cc21000000000000'],
    ['r1 /= r2', '3f21000000000000'],
    ['r1 %= 3', '9701000003000000'],
    ['w1 %= w9', '9c91000000000000'],
    ['r1 = 0xffffffff', 'b7010000ffffffff'],
    ['w1 = -2147483648', 'b401000000000080'],
    ['r1 = be16 r1', 'dc01000010000000'],
    ['r2 = le64 r2', 'd402000040000000'],
    ['r1 = bswap32 r1', 'd701000020000000'],
    ['r1 s/= r2', '3f21010000000000'],
    ['w1 s/= 7', '3401010007000000'],
    ['r1 s%= r2', '9f21010000000000'],
    ['r1 = (s8)r2', 'bf21080000000000'],
    ['r1 = (s32)r2', 'bf21200000000000'],
    ['w1 = (s16)w2', 'bc21100000000000'],
    ['r1 = this_cpu_ptr(r2)', 'bf21ffff00000000'],
    ['r2 = *(u64 *)(r1 + 0)', '7912000000000000'],
    ['w2 = *(u32 *)(r1 + 4)', '6112040000000000'],
    ['r1 = *(s8 *)(r2 + 1)', '9121010000000000'],
    ['r1 = *(s16 *)(r2 - 2)', '8921feff00000000'],
    ['r1 = *(s32 *)(r2)', '8121000000000000'],
    ['*(u32 *)(r10 - 4) = r1', '631afcff00000000'],
    ['*(u16 *)(r1 + 2) = w3', '6b31020000000000'],
    ['*(u8 *)(r1 + 0) = 5', '7201000005000000'],
    ['*(u64 *)(r1 + 8) = -1', '7a010800ffffffff'],
    ['lock *(u64 *)(r1 + 0) += r2', 'db21000000000000'],
    ['lock *(u32 *)(r1+0) |= w2', 'c321000040000000'],
    ['lock *(u32 *)(r1 + 0) += r2', 'c321000000000000'],
    ['lock *(u64 *)(r1 - 8) ^= r2', 'db21f8ffa0000000'],
    ['r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)', 'db21000001000000'],
    ['w2 = atomic_fetch_and((u32 *)(r1 + 0), w2)', 'c321000051000000'],
    ['r2 = xchg_64(r1 + 0, r2)', 'db210000e1000000'],
    ['w2 = xchg32_32(r1 + 4, w2)', 'c3210400e1000000'],
    ['r0 = cmpxchg_64(r1 + 0, r0, r2)', 'db210000f1000000'],
    ['w0 = cmpxchg32_32(r1 + 0, w0, w2)', 'c3210000f1000000'],
    ['goto +3', '0500030000000000'],
    ['goto -1', '0500ffff00000000'],
    ['gotol +70000', '0600000070110100'],
    ['if r1 > 5 goto +3', '2501030005000000'],
    ['if w1 s< w2 goto -1', 'ce21ffff00000000'],
    ['if r1 & r2 goto +0', '4d21000000000000'],
    ['if w1 & 5 goto +0', '4601000005000000'],
    ['if r1 != -1 goto +1', '55010100ffffffff'],
    ['call 1', '8500000001000000'],
    ['call bpf_map_lookup_percpu_elem', '85000000c3000000'],
    ['call bpf_this_cpu_ptr', '850000009a000000'],
    ['call pc+2', '8510000002000000'],
    ['call kfunc(7)', '8520000007000000'],
    ['callx r2', '8d02000000000000'],
    ['exit', '9500000000000000'],
  ])('%s', (source, expected) => {
    expect(hex(source)).toEqual([expected]);
  });

  it('encodes 64-bit immediates in two slots, any notation', () => {
    expect(hex('r0 = 0x1122334455667788 ll')).toEqual(['1800000088776655', '0000000044332211']);
    expect(hex('r1 = -1 ll')).toEqual(['18010000ffffffff', '00000000ffffffff']);
    expect(hex('r1 = 18446744073709551615 ll')).toEqual(hex('r1 = -1 ll'));
    expect(hex('r1 = 5 ll')).toEqual(['1801000005000000', '0000000000000000']);
  });

  it('encodes the lddw pseudo sources written out', () => {
    expect(hex('r1 = map_fd(3) ll')).toEqual(['1811000003000000', '0000000000000000']);
    expect(hex('r1 = map_value(3, 16) ll')).toEqual(['1821000003000000', '0000000010000000']);
    expect(hex('r1 = btf_id(9) ll')).toEqual(['1831000009000000', '0000000000000000']);
    expect(hex('r1 = map_idx(0) ll')).toEqual(['1851000000000000', '0000000000000000']);
    expect(hex('r1 = map_idx_value(1, -8) ll')).toEqual(['1861000001000000', '00000000f8ffffff']);
    expect(hex('r1 = func(+2) ll\nexit\nexit')[0]).toBe('1841000002000000');
  });

  it('resolves `rX = name ll` through the symbol table', () => {
    const symbols = {
      answer: { kind: 'value', value: 42n },
      counts: { kind: 'map', fd: 4 },
      slot: { kind: 'map_value', fd: 5, offset: 8 },
    } as const;
    expect(hex('r1 = answer ll', { symbols })).toEqual(['180100002a000000', '0000000000000000']);
    expect(hex('r1 = answer + 8 ll', { symbols })[0]).toBe('1801000032000000');
    expect(hex('r1 = counts ll', { symbols })).toEqual(['1811000004000000', '0000000000000000']);
    expect(hex('r1 = slot ll', { symbols })).toEqual(['1821000005000000', '0000000008000000']);
    expect(hex('r1 = slot - 4 ll', { symbols: new Map(Object.entries(symbols)) })[1]).toBe(
      '0000000004000000',
    );
  });

  it('resolves call names: local labels, then kfuncs, then helpers', () => {
    const source = 'call f\ncall preempt_disable\ncall bpf_ktime_get_ns\nexit\nf:\nexit';
    const { insns } = assemble(source, { kfuncs: { preempt_disable: 100 } });
    expect(insns.slice(0, 3).map((i) => [i.src, i.imm])).toEqual([
      [1, 3],
      [2, 100],
      [0, 5],
    ]);
    const own = assemble('call my_helper\nexit', { helpers: new Map([['my_helper', 9000]]) });
    expect(own.insns[0].imm).toBe(9000);
  });

  it('resolves labels in both directions and reports them as slot indexes', () => {
    const source = `
      r0 = 0
    LBB0_1:                     # llvm-objdump style label
      r0 += 1
      r1 = 0x100000000 ll       ; lddw takes two slots
      if r0 < 10 goto LBB0_1    // backward
      if r0 == 10 goto done
      r0 = 1
    done: exit`;
    const { insns, labels, lines } = assemble(source);
    expect(labels).toEqual(
      new Map([
        ['LBB0_1', 1],
        ['done', 7],
      ]),
    );
    expect(insns[4].off).toBe(-4);
    expect(insns[5].off).toBe(1);
    // Line 1 is the empty line after the opening backtick.
    expect(lines).toEqual([2, 4, 5, 5, 6, 7, 8, 9]);
  });

  it('accepts a label at the end of the program for jumps that are later appended', () => {
    const { labels } = assemble('goto +0\nexit\nend:');
    expect(labels.get('end')).toBe(2);
  });
});

describe('assemble: errors name the line, the column and what was expected', () => {
  const cases: [string, number, number, string][] = [
    ['r11 = 1\nexit', 1, 1, "expected a register, found 'r11'"],
    ['r0 = 0\n  goto foo\nexit', 2, 8, "unknown label 'foo'"],
    ['r1 = 4294967296\nexit', 1, 6, 'immediate 4294967296 does not fit in 32 bits'],
    ['r1 += -2147483649\nexit', 1, 7, 'immediate -2147483649 does not fit in 32 bits'],
    ['goto +40000\nexit', 1, 6, 'jump offset out of range: 40000 does not fit in 16 bits'],
    ['r1 = *(u64 *)(r2 + 40000)\nexit', 1, 20, 'offset 40000 does not fit in 16 bits'],
    ['if r1 > w2 goto +0\nexit', 1, 9, "expected a 64-bit register (r0-r10), found 'w2'"],
    ['w1 += r2\nexit', 1, 7, "expected a 32-bit register (w0-w10), found 'r2'"],
    ['r1 = be16 r2\nexit', 1, 11, "byte swap works in place: expected 'r1', found 'r2'"],
    [
      'r1 = *(u128 *)(r2 + 0)\nexit',
      1,
      8,
      "expected a size (u8, u16, u32, u64, s8, s16 or s32), found 'u128'",
    ],
    ['r1 = 5 +\nexit', 1, 8, "expected end of line, found '+'"],
    ['r1 = foo ll\nexit', 1, 6, "unknown symbol 'foo'"],
    ['call nowhere\nexit', 1, 6, "unknown function 'nowhere': not a label, kfunc or helper"],
    ['mov r0, 1\nexit', 1, 1, "expected an instruction, found 'mov'"],
    ['x:\nx:\nexit', 2, 1, "label 'x' is already defined on line 1"],
    ['r1 = 12ab\nexit', 1, 6, "malformed number '12ab'"],
    ['r1 = @\nexit', 1, 6, "unexpected character '@'"],
    ['r0 = cmpxchg_64(r1 + 0, r1, r2)\nexit', 1, 25, "expected r0, found 'r1'"],
  ];
  it.each(cases)('%j', (source, line, column, reason) => {
    const err = asmError(source);
    expect({ line: err.line, column: err.column, reason: err.reason }).toEqual({
      line,
      column,
      reason,
    });
    expect(err.message).toBe(`EINVAL: line ${line}, column ${column}: ${reason}`);
  });

  it('reports what validate() refuses at the line of the offending instruction', () => {
    const r10 = asmError('r0 = 0\n  r10 = 1\nexit');
    expect([r10.line, r10.column, r10.reason]).toEqual([
      2,
      3,
      'r10 is the read-only frame pointer',
    ]);
    const fallsOff = asmError('r0 = 0\nr0 += 1');
    expect([fallsOff.line, fallsOff.reason]).toEqual([
      2,
      'last instruction is not an exit or unconditional jump',
    ]);
    const outside = asmError('goto +5\nexit');
    expect(outside.line).toBe(1);
    expect(outside.reason).toMatch(/out of range/);
    expect(asmError('# nothing here\n').reason).toBe('program is empty');
  });

  it('skips validation for fragments when asked', () => {
    const insns: Insn[] = assemble('r0 += 1', { validate: false }).insns;
    expect(insns).toHaveLength(1);
  });
});
