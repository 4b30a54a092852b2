/**
 * A program ready to run: validated once, with the pseudo `lddw` sources
 * resolved (the kernel verifier rewrites map fds and BTF ids into addresses
 * the same way), then pre-decoded into parallel typed arrays so the
 * interpreter never decodes bytes on its hot path.
 *
 * @example
 * const prog = loadProgram(assemble('r0 = 1\nexit'));
 * prog.length; // 2
 */

import { ErrnoError } from '../segments/errno.ts';
import { decode, encode, type Insn, lddwValue } from './insn.ts';
import {
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_IMM64,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_PSEUDO_MAP_VALUE,
  LDDW,
} from './opcodes.ts';
import { validate } from './validate.ts';

/**
 * Resolves the pseudo sources of `lddw` (RFC 9669 §5.4) to 64-bit values.
 * Each method returns the value, or throws an ErrnoError naming what is unknown.
 */
export interface PseudoResolver {
  /** src 1: map_by_fd(imm). */
  mapByFd?(fd: number): bigint;
  /** src 2: map_val(map_by_fd(imm)) + next_imm. */
  mapValueByFd?(fd: number, offset: number): bigint;
  /** src 3: var_addr(imm). */
  varAddr?(id: number): bigint;
  /** src 5: map_by_idx(imm). */
  mapByIdx?(idx: number): bigint;
  /** src 6: map_val(map_by_idx(imm)) + next_imm. */
  mapValueByIdx?(idx: number, offset: number): bigint;
}

export interface LoadOptions {
  resolver?: PseudoResolver;
  /** A name for reports; defaults to "prog". */
  name?: string;
  /** Names of instruction indexes (function entries, labels), for disassembly and backtraces. */
  symbols?: ReadonlyMap<number, string>;
  /** Source lines by instruction (a compiled object's BTF line_info), sorted by `insn`. */
  lines?: readonly SourceLine[];
}

/** The C source line an instruction came from. */
export interface SourceLine {
  readonly insn: number;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** The line's text. */
  readonly text: string;
}

export class LoadedProgram {
  readonly length: number;
  /** Opcode of each slot; 0 in the second slot of an `lddw`. */
  readonly code: Uint8Array;
  /** 2 * dst and 2 * src: word indexes of the registers' low halves. */
  readonly dst2: Uint8Array;
  readonly src2: Uint8Array;
  readonly src: Uint8Array;
  readonly off: Int32Array;
  /** imm; for `lddw`, slot i holds the low and slot i+1 the high word of the resolved value. */
  readonly imm: Int32Array;

  constructor(
    /** The instructions as written, pseudo sources unresolved. */
    readonly insns: readonly Insn[],
    readonly name: string,
    readonly symbols: ReadonlyMap<number, string>,
    resolved: readonly Insn[],
    /** Source lines, sorted by instruction; empty for assembled programs. */
    readonly lines: readonly SourceLine[] = [],
  ) {
    const n = resolved.length;
    this.length = n;
    this.code = new Uint8Array(n);
    this.dst2 = new Uint8Array(n);
    this.src2 = new Uint8Array(n);
    this.src = new Uint8Array(n);
    this.off = new Int32Array(n);
    this.imm = new Int32Array(n);
    resolved.forEach((ins, i) => {
      this.code[i] = ins.code;
      this.dst2[i] = ins.dst * 2;
      this.src2[i] = ins.src * 2;
      this.src[i] = ins.src;
      this.off[i] = ins.off;
      this.imm[i] = ins.imm;
    });
  }

  /** The program's bytes as written (pseudo sources unresolved). */
  bytes(): Uint8Array {
    return encode(this.insns);
  }

  /** The source line of the instruction at `pc`: the last line_info at or before it. */
  sourceLine(pc: number): SourceLine | undefined {
    let best: SourceLine | undefined;
    for (const l of this.lines) {
      if (l.insn > pc) break;
      best = l;
    }
    return best;
  }

  /** The nearest symbol at or before `pc`, as `name+offset`, for backtraces. */
  symbolize(pc: number): string {
    let best = -1;
    for (const at of this.symbols.keys()) if (at <= pc && at > best) best = at;
    if (best < 0) return `${this.name}+${pc}`;
    const name = this.symbols.get(best);
    return pc === best ? `${name}` : `${name}+${pc - best}`;
  }
}

/**
 * Validates and pre-decodes a program given as instructions or bytes.
 * Throws ErrnoError('EINVAL', 'insn N: ...') for an invalid encoding and for
 * a pseudo `lddw` source the resolver cannot resolve.
 */
export function loadProgram(
  program: readonly Insn[] | Uint8Array,
  opts: LoadOptions = {},
): LoadedProgram {
  const insns = program instanceof Uint8Array ? decode(program) : program.map((i) => ({ ...i }));
  validate(insns);
  const resolved = insns.map((i) => ({ ...i }));
  for (let i = 0; i < resolved.length; i++) {
    if (resolved[i].code !== LDDW) continue;
    const value = resolvePseudo(resolved[i], resolved[i + 1], i, opts.resolver ?? {});
    resolved[i].imm = Number(BigInt.asIntN(32, value));
    resolved[i + 1].imm = Number(BigInt.asIntN(32, value >> 32n));
    i++;
  }
  return new LoadedProgram(
    insns,
    opts.name ?? 'prog',
    opts.symbols ?? new Map(),
    resolved,
    opts.lines,
  );
}

function resolvePseudo(lo: Insn, hi: Insn, i: number, r: PseudoResolver): bigint {
  const need = <T>(fn: T | undefined, what: string): T => {
    if (fn === undefined)
      throw new ErrnoError('EINVAL', `insn ${i}: lddw ${what} has no resolver here`);
    return fn;
  };
  switch (lo.src) {
    case BPF_PSEUDO_IMM64:
      return lddwValue(lo, hi);
    case BPF_PSEUDO_MAP_FD:
      return need(r.mapByFd, 'map_by_fd').call(r, lo.imm);
    case BPF_PSEUDO_MAP_VALUE:
      return need(r.mapValueByFd, 'map_val(map_by_fd)').call(r, lo.imm, hi.imm);
    case BPF_PSEUDO_BTF_ID:
      return need(r.varAddr, 'var_addr').call(r, lo.imm);
    case BPF_PSEUDO_FUNC: {
      const target = i + lo.imm + 1;
      return BigInt(target);
    }
    case BPF_PSEUDO_MAP_IDX:
      return need(r.mapByIdx, 'map_by_idx').call(r, lo.imm);
    case BPF_PSEUDO_MAP_IDX_VALUE:
      return need(r.mapValueByIdx, 'map_val(map_by_idx)').call(r, lo.imm, hi.imm);
  }
  throw new ErrnoError('EINVAL', `insn ${i}: lddw pseudo source ${lo.src} is not 0-6`);
}
