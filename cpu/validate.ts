/**
 * Load-time checks of an instruction stream, the encoding part of what the
 * kernel verifier does before anything runs: known opcodes, reserved fields
 * zero, registers in range, no write to the frame pointer, `lddw` whole, every
 * jump and local call landing on an instruction inside the program, and a
 * last instruction that cannot fall off the end. The first problem found is
 * thrown as an InsnError, `EINVAL: insn N: ...`.
 *
 * Legacy packet loads (BPF_ABS/BPF_IND) decode and encode but are refused
 * here: they need a socket buffer this machine does not model.
 *
 * @example
 * validate(decode(bytes)); // throws ErrnoError('EINVAL', 'insn 3: unknown opcode 0xff')
 */

import { ErrnoError } from '../segments/errno.ts';
import type { Insn } from './insn.ts';
import {
  BPF_ABS,
  BPF_ADD,
  BPF_ADDR_PERCPU,
  BPF_ALU,
  BPF_ALU64,
  BPF_AND,
  BPF_ATOMIC,
  BPF_CALL,
  BPF_CMPXCHG,
  BPF_DIV,
  BPF_DW,
  BPF_END,
  BPF_EXIT,
  BPF_FETCH,
  BPF_IND,
  BPF_JA,
  BPF_JMP,
  BPF_JMP32,
  BPF_JSLE,
  BPF_LD,
  BPF_LDX,
  BPF_MEM,
  BPF_MEMSX,
  BPF_MOD,
  BPF_MOV,
  BPF_NEG,
  BPF_OR,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_REG_FP,
  BPF_ST,
  BPF_STX,
  BPF_W,
  BPF_X,
  BPF_XCHG,
  BPF_XOR,
  bpfClass,
  bpfMode,
  bpfOp,
  bpfSize,
  bpfSrc,
  LDDW,
} from './opcodes.ts';

const ATOMIC_OPS = new Set([
  BPF_ADD,
  BPF_OR,
  BPF_AND,
  BPF_XOR,
  BPF_ADD | BPF_FETCH,
  BPF_OR | BPF_FETCH,
  BPF_AND | BPF_FETCH,
  BPF_XOR | BPF_FETCH,
  BPF_XCHG,
  BPF_CMPXCHG,
]);

/** Throws the first encoding error in `insns`; returns normally if there is none. */
export function validate(insns: readonly Insn[]): void {
  const n = insns.length;
  if (n === 0) throw new ErrnoError('EINVAL', 'program is empty');
  const isSecondSlot = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (insns[i].code === LDDW) {
      if (i + 1 >= n) throw fail(i, 'lddw is truncated: its second slot is missing');
      isSecondSlot[i + 1] = 1;
      i++;
    }
  }
  for (let i = 0; i < n; i++) {
    if (isSecondSlot[i]) continue;
    checkInsn(insns, i, n, isSecondSlot);
  }
  const last = lastInsnIndex(n, isSecondSlot);
  const code = insns[last].code;
  const cls = bpfClass(code);
  const endsFlow =
    (cls === BPF_JMP && (bpfOp(code) === BPF_EXIT || bpfOp(code) === BPF_JA)) ||
    (cls === BPF_JMP32 && bpfOp(code) === BPF_JA);
  if (!endsFlow) throw fail(last, 'last instruction is not an exit or unconditional jump');
}

function lastInsnIndex(n: number, isSecondSlot: Uint8Array): number {
  return isSecondSlot[n - 1] ? n - 2 : n - 1;
}

/** An invalid instruction: which one, and why. */
export class InsnError extends ErrnoError {
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {
    super('EINVAL', `insn ${index}: ${reason}`);
  }
}

function fail(i: number, why: string): InsnError {
  return new InsnError(i, why);
}

const hex = (v: number) => `0x${v.toString(16).padStart(2, '0')}`;

function checkInsn(insns: readonly Insn[], i: number, n: number, isSecondSlot: Uint8Array): void {
  const ins = insns[i];
  const { code, dst, src, off, imm } = ins;
  const unknown = () => fail(i, `unknown opcode ${hex(code)}`);
  const reserved = (field: string, value: number) =>
    fail(i, `reserved field ${field} is ${value}, must be 0 for opcode ${hex(code)}`);
  const needZero = (fields: Partial<Record<'dst' | 'src' | 'off' | 'imm', number>>) => {
    for (const [field, value] of Object.entries(fields)) {
      if (value !== 0) throw reserved(field, value as number);
    }
  };
  const checkReg = (which: string, r: number) => {
    if (r > BPF_REG_FP) throw fail(i, `bad ${which} register r${r}`);
  };
  const writesDst = () => {
    checkReg('dst', dst);
    if (dst === BPF_REG_FP) throw fail(i, 'r10 is the read-only frame pointer');
  };
  const checkTarget = (delta: number) => {
    const target = i + delta + 1;
    if (target < 0 || target >= n) {
      throw fail(i, `jump to ${target} is out of range (program has ${n} instructions)`);
    }
    if (isSecondSlot[target]) throw fail(i, `jump to ${target} lands inside an lddw`);
  };

  switch (bpfClass(code)) {
    case BPF_ALU:
    case BPF_ALU64: {
      const is64 = bpfClass(code) === BPF_ALU64;
      const op = bpfOp(code);
      const x = bpfSrc(code) === BPF_X;
      if (op > BPF_END) throw unknown();
      writesDst();
      if (op === BPF_NEG) {
        if (x) throw unknown();
        needZero({ src, off, imm });
        return;
      }
      if (op === BPF_END) {
        if (is64 && x) throw unknown();
        needZero({ src, off });
        if (imm !== 16 && imm !== 32 && imm !== 64) {
          throw fail(i, `byte swap width ${imm} is not 16, 32 or 64`);
        }
        return;
      }
      if (op === BPF_DIV || op === BPF_MOD) {
        if (off !== 0 && off !== 1) throw fail(i, `division offset ${off} is not 0 or 1 (signed)`);
      } else if (op === BPF_MOV && x) {
        const sx = is64 ? [0, 8, 16, 32] : [0, 8, 16];
        if (!(sx.includes(off) || (is64 && off === BPF_ADDR_PERCPU))) {
          throw fail(i, `mov offset ${off} is not a sign-extension width`);
        }
      } else {
        needZero({ off });
      }
      if (x) {
        checkReg('src', src);
        needZero({ imm });
        return;
      }
      needZero({ src });
      return;
    }
    case BPF_JMP:
    case BPF_JMP32: {
      const jmp32 = bpfClass(code) === BPF_JMP32;
      const op = bpfOp(code);
      const x = bpfSrc(code) === BPF_X;
      if (op > BPF_JSLE) throw unknown();
      if (op === BPF_JA) {
        if (x) throw unknown();
        if (jmp32) {
          needZero({ dst, src, off });
          checkTarget(imm);
          return;
        }
        needZero({ dst, src, imm });
        checkTarget(off);
        return;
      }
      if (op === BPF_CALL) {
        if (jmp32) throw unknown();
        if (x) {
          // callx: the conformance suite's helper call through a register named in dst.
          checkReg('dst', dst);
          needZero({ src, off, imm });
          return;
        }
        needZero({ dst });
        if (src === BPF_PSEUDO_CALL) {
          needZero({ off });
          checkTarget(imm);
          return;
        }
        if (src !== 0 && src !== BPF_PSEUDO_KFUNC_CALL)
          throw fail(i, `call source ${src} is not 0, 1 or 2`);
        needZero({ off });
        return;
      }
      if (op === BPF_EXIT) {
        if (jmp32 || x) throw unknown();
        needZero({ dst, src, off, imm });
        return;
      }
      checkReg('dst', dst);
      if (x) {
        checkReg('src', src);
        needZero({ imm });
      } else {
        needZero({ src });
      }
      checkTarget(off);
      return;
    }
    case BPF_LD: {
      if (code === LDDW) {
        writesDst();
        needZero({ off });
        if (src > BPF_PSEUDO_MAP_IDX_VALUE) throw fail(i, `lddw pseudo source ${src} is not 0-6`);
        if (src === BPF_PSEUDO_FUNC) checkTarget(imm);
        const next = insns[i + 1];
        if (next.code !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0) {
          throw fail(i + 1, 'second slot of lddw must have opcode, registers and offset 0');
        }
        return;
      }
      const mode = bpfMode(code);
      if (mode === BPF_ABS || mode === BPF_IND) {
        throw fail(i, `legacy packet access ${hex(code)} (BPF_ABS/BPF_IND) is not supported`);
      }
      throw unknown();
    }
    case BPF_LDX: {
      const mode = bpfMode(code);
      if (mode !== BPF_MEM && !(mode === BPF_MEMSX && bpfSize(code) !== BPF_DW)) throw unknown();
      writesDst();
      checkReg('src', src);
      needZero({ imm });
      return;
    }
    case BPF_ST: {
      if (bpfMode(code) !== BPF_MEM) throw unknown();
      checkReg('dst', dst);
      needZero({ src });
      return;
    }
    case BPF_STX: {
      const mode = bpfMode(code);
      checkReg('dst', dst);
      checkReg('src', src);
      if (mode === BPF_MEM) {
        needZero({ imm });
        return;
      }
      if (mode !== BPF_ATOMIC) throw unknown();
      const size = bpfSize(code);
      if (size !== BPF_W && size !== BPF_DW)
        throw fail(i, 'atomic operations are 32 or 64 bits only');
      if (!ATOMIC_OPS.has(imm)) throw fail(i, `unknown atomic operation ${hex(imm)}`);
      // A fetching atomic writes the old value into src (cmpxchg writes r0 instead).
      if (imm & BPF_FETCH && imm !== BPF_CMPXCHG && src === BPF_REG_FP) {
        throw fail(i, 'r10 is the read-only frame pointer');
      }
      return;
    }
  }
  throw unknown();
}
