/**
 * One eBPF instruction slot and its 8-byte encoding:
 * `code:8 | dst:4 src:4 | off:16 | imm:32`, little-endian, as in RFC 9669 §3.
 * A wide instruction (`lddw`) takes two slots; its second slot is a pseudo
 * instruction whose `imm` holds the upper 32 bits. Jump offsets count slots.
 *
 * @example
 * const bytes = encode([{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 42 }, EXIT_INSN]);
 * decode(bytes)[0].imm; // 42
 */

import { ErrnoError } from '../segments/errno.ts';

export interface Insn {
  /** Opcode byte. */
  code: number;
  /** Destination register, 0-15 as encoded (0-10 valid). */
  dst: number;
  /** Source register, or the pseudo source of `lddw` and `call`. */
  src: number;
  /** Signed 16-bit offset. */
  off: number;
  /** Signed 32-bit immediate. */
  imm: number;
}

export const INSN_SIZE = 8;

export const EXIT_INSN: Readonly<Insn> = Object.freeze({
  code: 0x95,
  dst: 0,
  src: 0,
  off: 0,
  imm: 0,
});

export function insn(code: number, dst = 0, src = 0, off = 0, imm = 0): Insn {
  return { code, dst, src, off, imm };
}

/** The two slots of `lddw dst, value` with the given pseudo source. */
export function lddw(dst: number, value: bigint, src = 0): [Insn, Insn] {
  const v = BigInt.asUintN(64, value);
  return [
    insn(0x18, dst, src, 0, Number(BigInt.asIntN(32, v))),
    insn(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n))),
  ];
}

/** The 64-bit value of an `lddw` whose first slot is `lo` and second `hi`. */
export function lddwValue(lo: Insn, hi: Insn): bigint {
  return (BigInt(hi.imm >>> 0) << 32n) | BigInt(lo.imm >>> 0);
}

export function encode(insns: readonly Insn[]): Uint8Array {
  const out = new Uint8Array(insns.length * INSN_SIZE);
  const view = new DataView(out.buffer);
  insns.forEach((ins, i) => {
    checkFields(ins, i);
    const at = i * INSN_SIZE;
    out[at] = ins.code;
    out[at + 1] = (ins.src << 4) | ins.dst;
    view.setInt16(at + 2, ins.off, true);
    view.setInt32(at + 4, ins.imm, true);
  });
  return out;
}

export function decode(bytes: Uint8Array): Insn[] {
  if (bytes.length % INSN_SIZE !== 0) {
    throw new ErrnoError(
      'EINVAL',
      `program of ${bytes.length} bytes is not a whole number of 8-byte instructions`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const insns: Insn[] = [];
  for (let at = 0; at < bytes.length; at += INSN_SIZE) {
    insns.push({
      code: bytes[at],
      dst: bytes[at + 1] & 0x0f,
      src: bytes[at + 1] >> 4,
      off: view.getInt16(at + 2, true),
      imm: view.getInt32(at + 4, true),
    });
  }
  return insns;
}

function checkFields(ins: Insn, i: number): void {
  const bad = (what: string, v: number) =>
    new ErrnoError('EINVAL', `insn ${i}: ${what} ${v} does not fit its field`);
  if (!Number.isInteger(ins.code) || ins.code < 0 || ins.code > 0xff) throw bad('opcode', ins.code);
  if (!Number.isInteger(ins.dst) || ins.dst < 0 || ins.dst > 15) throw bad('dst register', ins.dst);
  if (!Number.isInteger(ins.src) || ins.src < 0 || ins.src > 15) throw bad('src register', ins.src);
  if (!Number.isInteger(ins.off) || ins.off < -0x8000 || ins.off > 0x7fff)
    throw bad('offset', ins.off);
  if (!Number.isInteger(ins.imm) || ins.imm < -0x8000_0000 || ins.imm > 0x7fff_ffff) {
    throw bad('immediate', ins.imm);
  }
}
