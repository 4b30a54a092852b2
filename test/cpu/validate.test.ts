import { describe, expect, it } from 'vitest';
import { EXIT_INSN, type Insn, insn, lddw } from '../../cpu/insn.ts';
import { validate } from '../../cpu/validate.ts';

const ok = (...prog: Insn[]) => expect(() => validate(prog)).not.toThrow();
const bad = (msg: string, ...prog: Insn[]) => expect(() => validate(prog)).toThrow(msg);

describe('load-time validation', () => {
  it('accepts a valid program of every class', () => {
    ok(
      insn(0xb7, 0, 0, 0, 1), // r0 = 1
      insn(0xbf, 1, 10, -1), // r1 = this_cpu_ptr(r10)
      insn(0xbf, 2, 1, 32), // r2 = (s32)r1
      insn(0x3f, 2, 1, 1), // r2 s/= r1
      insn(0xd7, 2, 0, 0, 64), // r2 = bswap64 r2
      ...lddw(3, 0x1122334455667788n),
      insn(0x91, 4, 10, -1), // r4 = *(s8 *)(r10 - 1)
      insn(0xdb, 10, 0, -8, 0xf1), // r0 = cmpxchg_64(r10 - 8, r0, r0)
      insn(0x06, 0, 0, 0, 0), // gotol +0
      insn(0x85, 0, 1, 0, 0), // call local +0
      EXIT_INSN,
    );
  });

  it('names the instruction index of an unknown opcode', () => {
    bad('EINVAL: insn 1: unknown opcode 0xff', insn(0xb7), insn(0xff), EXIT_INSN);
    bad('insn 0: unknown opcode 0xe7', insn(0xe7), EXIT_INSN);
    bad('insn 0: unknown opcode 0x0d', insn(0x0d), EXIT_INSN); // ja with BPF_X
  });

  it('requires reserved fields to be zero', () => {
    bad('insn 0: reserved field src is 1, must be 0 for opcode 0x07', insn(0x07, 0, 1), EXIT_INSN);
    bad('insn 0: reserved field imm is 5', insn(0x0f, 0, 1, 0, 5), EXIT_INSN);
    bad('insn 0: reserved field off is 2', insn(0x07, 0, 0, 2), EXIT_INSN);
    bad('insn 0: reserved field dst is 1', { ...EXIT_INSN, dst: 1 });
  });

  it('refuses bad registers and writes to the frame pointer', () => {
    bad('insn 0: bad dst register r11', insn(0x07, 11), EXIT_INSN);
    bad('insn 0: bad src register r12', insn(0x0f, 0, 12), EXIT_INSN);
    bad('insn 0: r10 is the read-only frame pointer', insn(0xb7, 10), EXIT_INSN);
  });

  it('refuses a truncated lddw and a bad second slot', () => {
    bad('insn 1: lddw is truncated', EXIT_INSN, insn(0x18));
    bad('insn 1: second slot of lddw', insn(0x18), insn(0x07), EXIT_INSN);
  });

  it('refuses jumps out of range or into an lddw', () => {
    bad(
      'insn 0: jump to 5 is out of range (program has 2 instructions)',
      insn(0x05, 0, 0, 4),
      EXIT_INSN,
    );
    bad('insn 0: jump to -1 is out of range', insn(0x15, 0, 0, -2), EXIT_INSN);
    bad('insn 0: jump to 2 lands inside an lddw', insn(0x05, 0, 0, 1), ...lddw(0, 1n), EXIT_INSN);
    bad('insn 0: jump to 7 is out of range', insn(0x85, 0, 1, 0, 6), EXIT_INSN);
  });

  it('refuses a program that can fall off its end', () => {
    bad('insn 0: last instruction is not an exit or unconditional jump', insn(0xb7));
    bad('program is empty');
  });

  it('refuses unknown widths, atomics and sign-extension offsets', () => {
    bad('insn 0: byte swap width 8', insn(0xd4, 0, 0, 0, 8), EXIT_INSN);
    bad('insn 0: unknown atomic operation 0x02', insn(0xdb, 1, 2, 0, 2), EXIT_INSN);
    bad('insn 0: atomic operations are 32 or 64 bits only', insn(0xd3, 1, 2, 0, 0), EXIT_INSN);
    bad('insn 0: mov offset 32 is not a sign-extension width', insn(0xbc, 0, 1, 32), EXIT_INSN);
    bad('insn 0: mov offset -1 is not', insn(0xbc, 0, 1, -1), EXIT_INSN);
    bad('insn 0: division offset 2', insn(0x37, 0, 0, 2, 1), EXIT_INSN);
  });

  it('refuses legacy packet access with a reason', () => {
    bad(
      'insn 0: legacy packet access 0x20 (BPF_ABS/BPF_IND) is not supported',
      insn(0x20),
      EXIT_INSN,
    );
  });
});
