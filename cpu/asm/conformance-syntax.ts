/**
 * Assembler for the eBPF conformance suite's own syntax: the language of the
 * `-- asm` sections of `../shared/conformance/*.data`.
 *
 * One instruction per line, `#` starts a comment, `name:` defines a label
 * (alone or before an instruction). Registers are `%r0`-`%r10`; memory
 * operands are `[%rN]`, `[%rN+off]` or `[%rN-off]`; jump targets are labels
 * or `+N`/`-N` slots. Numbers are decimal or `0x` hex with the ranges of the
 * bpf_conformance assembler: in a 32-bit immediate decimal is signed
 * (-2147483648..2147483647) and hex unsigned (0x0..0xffffffff, so 0xffffffff
 * is -1), in a 16-bit offset likewise (-32768..32767, 0x0..0xffff); a minus
 * sign goes with decimal only. `lddw` takes -2^63..2^64-1.
 * Mnemonics, with their RFC 9669 encodings:
 *
 * - ALU: `add sub mul div sdiv or and lsh rsh mod smod xor mov arsh dst, src|imm`
 *   (ALU64; a `32` suffix selects ALU), `neg dst`, `neg32 dst`. Signed
 *   division and modulo set off = 1.
 * - Sign-extending moves, register source only: `movsx832`, `movsx1632`
 *   (ALU, off 8/16) and `movsx864`, `movsx1664`, `movsx3264` (ALU64, off 8/16/32).
 * - Byte order: `be16/32/64` (ALU, TO_BE), `le16/32/64` (ALU, TO_LE),
 *   `swap16/32/64` and `bswap16/32/64` (ALU64 END, the unconditional swap).
 * - Memory: `ldx{b,h,w,dw} dst, [src+off]`, sign-extending `ldxs{b,h,w}`
 *   (mode MEMSX), `st{b,h,w,dw} [dst+off], imm`, `stx{b,h,w,dw} [dst+off], src`,
 *   `lddw dst, imm64` (two slots).
 * - Atomics: `lock [fetch] {add,or,and,xor}[32] [dst+off], src`,
 *   `lock xchg[32]`, `lock cmpxchg[32]` (these two always fetch).
 * - Jumps: `ja target` (off), `ja32 target` (JMP32 JA, the 32-bit `gotol`
 *   offset in imm), `j{eq,gt,ge,set,ne,sgt,sge,lt,le,slt,sle}[32] dst, src|imm,
 *   target`, `exit`.
 * - Calls: `call N` or `call helper N` (helper), `call local label` (src 1,
 *   pc-relative imm), `call runtime N` (src 2, kfunc), `call %rN` (callx,
 *   opcode 0x8d with the register in dst, as the conformance suite encodes it).
 *
 * As in the suite's reference assembler, a jump to `exit` with no label of
 * that name lands on the program's first `exit` instruction.
 *
 * The result is checked with validate(); every error, the assembler's own or
 * the validator's, is an AsmError naming the line and column.
 *
 * @example
 * const { insns } = assembleConformance('mov32 %r0, 1\njne %r0, 1, exit\nadd %r0, 1\nexit');
 * insns[1]; // { code: 0x55, dst: 0, src: 0, off: 1, imm: 1 }
 */

import { type Insn, insn, lddw } from '../insn.ts';
import {
  BPF_ADD,
  BPF_ALU,
  BPF_ALU64,
  BPF_AND,
  BPF_ARSH,
  BPF_ATOMIC,
  BPF_B,
  BPF_CALL,
  BPF_CMPXCHG,
  BPF_DIV,
  BPF_DW,
  BPF_END,
  BPF_EXIT,
  BPF_FETCH,
  BPF_H,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JLE,
  BPF_JLT,
  BPF_JMP,
  BPF_JMP32,
  BPF_JNE,
  BPF_JSET,
  BPF_JSGE,
  BPF_JSGT,
  BPF_JSLE,
  BPF_JSLT,
  BPF_K,
  BPF_LDX,
  BPF_LSH,
  BPF_MEM,
  BPF_MEMSX,
  BPF_MOD,
  BPF_MOV,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_HELPER,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_REG_FP,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TO_BE,
  BPF_TO_LE,
  BPF_W,
  BPF_X,
  BPF_XCHG,
  BPF_XOR,
} from '../opcodes.ts';
import { AsmError, validateAtSource } from './asm-error.ts';

/** An assembled program and the slot index of each label it defines. */
export interface ConformanceProgram {
  insns: Insn[];
  /** Labels written in the source (`name:`), mapped to instruction slots. */
  labels: Map<string, number>;
}

interface Token {
  kind: 'word' | 'reg' | 'num' | 'punct';
  text: string;
  /** 1-based column of the first character. */
  col: number;
  /** Value of a `num` token. */
  value: bigint;
}

/** One comma-separated operand: its tokens and where it starts. */
interface Operand {
  tokens: Token[];
  col: number;
  text: string;
}

interface Fixup {
  slot: number;
  field: 'off' | 'imm';
  label: string;
  line: number;
  col: number;
}

/** What an encoder sees: where the instruction is, its operands, and the list of label fixups. */
interface Site {
  line: number;
  /** Column of the mnemonic. */
  col: number;
  mnemonic: string;
  ops: Operand[];
  /** Slot the instruction will occupy. */
  slot: number;
  fixups: Fixup[];
}

type Encoder = (s: Site) => Insn[];

/** An encoder and the number of comma-separated operands it takes. */
interface Spec {
  arity: number;
  encode: Encoder;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const OFF_MIN = -0x8000;
const OFF_MAX = 0x7fff;

/** Assembles conformance-syntax source; throws AsmError at the first problem. */
export function assembleConformance(source: string): ConformanceProgram {
  const insns: Insn[] = [];
  const positions: { line: number; column: number }[] = [];
  const labels = new Map<string, number>();
  const fixups: Fixup[] = [];
  let firstExit = -1;
  const lines = source.split(/\r?\n/);

  lines.forEach((text, index) => {
    const line = index + 1;
    let tokens = lex(text, line);
    while (tokens.length >= 2 && tokens[0].kind === 'word' && tokens[1].text === ':') {
      const name = tokens[0].text;
      if (labels.has(name)) {
        throw new AsmError(line, tokens[0].col, `label '${name}' is already defined`);
      }
      labels.set(name, insns.length);
      tokens = tokens.slice(2);
    }
    if (tokens.length === 0) return;
    const head = tokens[0];
    if (head.kind !== 'word') {
      throw new AsmError(line, head.col, `expected a mnemonic, found '${head.text}'`);
    }
    let mnemonic = head.text;
    let rest = tokens.slice(1);
    let spec: Spec | undefined;
    if (mnemonic === 'lock') {
      ({ mnemonic, rest, spec } = lockSpec(rest, line, head.col + head.text.length));
    } else {
      spec = MNEMONICS.get(mnemonic);
      if (spec === undefined) throw new AsmError(line, head.col, `unknown mnemonic '${mnemonic}'`);
    }
    const ops = splitOperands(rest, text, line);
    if (ops.length !== spec.arity) {
      throw new AsmError(
        line,
        head.col,
        `'${mnemonic}' takes ${spec.arity} operand${spec.arity === 1 ? '' : 's'}, found ${ops.length}`,
      );
    }
    const site: Site = { line, col: head.col, mnemonic, ops, slot: insns.length, fixups };
    const out = spec.encode(site);
    if (mnemonic === 'exit' && firstExit < 0) firstExit = insns.length;
    for (const ins of out) {
      insns.push(ins);
      positions.push({ line, column: head.col });
    }
  });

  for (const f of fixups) {
    const target = labels.get(f.label) ?? (f.label === 'exit' && firstExit >= 0 ? firstExit : -1);
    if (target < 0) throw new AsmError(f.line, f.col, `unknown label '${f.label}'`);
    const delta = target - (f.slot + 1);
    if (f.field === 'off' && (delta < OFF_MIN || delta > OFF_MAX)) {
      throw new AsmError(
        f.line,
        f.col,
        `jump to '${f.label}' is ${delta} slots away, beyond 16 bits`,
      );
    }
    insns[f.slot][f.field] = delta;
  }

  validateAtSource(insns, (slot) => positions[slot], lines.length);
  return { insns, labels };
}

// ---- lexing ----

const PUNCT = new Set(['[', ']', '+', '-', ',', ':']);

function lex(text: string, line: number): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '#') break;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    const col = i + 1;
    if (PUNCT.has(c)) {
      tokens.push({ kind: 'punct', text: c, col, value: 0n });
      i++;
      continue;
    }
    const m = /^(%?[A-Za-z_.][\w.]*|\d\w*)/.exec(text.slice(i));
    if (m === null) throw new AsmError(line, col, `unexpected character '${c}'`);
    const word = m[1];
    i += word.length;
    if (word.startsWith('%')) {
      tokens.push({ kind: 'reg', text: word, col, value: 0n });
    } else if (/^\d/.test(word)) {
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(word)) {
        throw new AsmError(line, col, `'${word}' is not a decimal or 0x hex number`);
      }
      tokens.push({ kind: 'num', text: word, col, value: BigInt(word) });
    } else {
      tokens.push({ kind: 'word', text: word, col, value: 0n });
    }
  }
  return tokens;
}

function splitOperands(tokens: Token[], text: string, line: number): Operand[] {
  if (tokens.length === 0) return [];
  const ops: Operand[] = [];
  let current: Token[] = [];
  const close = (at: number) => {
    if (current.length === 0) throw new AsmError(line, at, 'empty operand');
    const first = current[0];
    const last = current[current.length - 1];
    ops.push({
      tokens: current,
      col: first.col,
      text: text.slice(first.col - 1, last.col - 1 + last.text.length),
    });
    current = [];
  };
  for (const t of tokens) {
    if (t.text === ',') close(t.col);
    else current.push(t);
  }
  close(text.length + 1);
  return ops;
}

// ---- operands ----

function register(s: Site, op: Operand): number {
  const [t] = op.tokens;
  if (op.tokens.length !== 1 || t.kind !== 'reg') {
    throw new AsmError(s.line, op.col, `expected a register, found '${op.text}'`);
  }
  const m = /^%r(\d+)$/.exec(t.text);
  const r = m ? Number(m[1]) : -1;
  if (r < 0 || r > BPF_REG_FP) {
    throw new AsmError(s.line, t.col, `bad register '${t.text}' (registers are %r0-%r10)`);
  }
  return r;
}

/** A number as written: its value (sign applied) and whether its digits are hex. */
interface Literal {
  value: bigint;
  hex: boolean;
}

/** An optionally signed number made of `tokens[from..]`, or undefined if they are not one. */
function literal(tokens: Token[], from = 0): Literal | undefined {
  const rest = tokens.slice(from);
  const signed = rest[0]?.text === '-' || rest[0]?.text === '+';
  const digits = signed ? rest[1] : rest[0];
  if (rest.length !== (signed ? 2 : 1) || digits.kind !== 'num') return undefined;
  const value = rest[0].text === '-' ? -digits.value : digits.value;
  return { value, hex: /^0x/i.test(digits.text) };
}

function numberOperand(s: Site, op: Operand, what: string): Literal {
  const lit = literal(op.tokens);
  if (lit === undefined) throw new AsmError(s.line, op.col, `expected ${what}, found '${op.text}'`);
  return lit;
}

/**
 * A `bits`-wide signed instruction field written as `lit`, with the
 * bpf_conformance assembler's ranges: decimal is signed, hex spans the
 * field's bits unsigned (so 0xffffffff is -1) and takes no minus sign.
 */
function field(s: Site, col: number, text: string, lit: Literal, bits: 16 | 32, what: string) {
  const half = 1n << BigInt(bits - 1);
  const [min, max] = lit.hex ? [0n, 2n * half - 1n] : [-half, half - 1n];
  if (lit.value < min || lit.value > max) {
    throw new AsmError(
      s.line,
      col,
      `${what} ${text} does not fit in ${bits} bits: decimal is ${-half}..${half - 1n}, hex 0x0..0x${(2n * half - 1n).toString(16)}`,
    );
  }
  return Number(BigInt.asIntN(bits, lit.value));
}

/** A 32-bit immediate, stored as the signed field. */
function imm32(s: Site, op: Operand): number {
  return field(s, op.col, op.text, numberOperand(s, op, 'a 32-bit immediate'), 32, 'immediate');
}

function isRegister(op: Operand): boolean {
  return op.tokens.length === 1 && op.tokens[0].kind === 'reg';
}

/** `[%rN]`, `[%rN+off]` or `[%rN-off]`. */
function memory(s: Site, op: Operand): { reg: number; off: number } {
  const t = op.tokens;
  const bad = () =>
    new AsmError(s.line, op.col, `expected a memory operand [%rN+off], found '${op.text}'`);
  if (t.length < 3 || t[0].text !== '[' || t[t.length - 1].text !== ']') throw bad();
  const inner = t.slice(1, -1);
  const reg = register(s, { tokens: [inner[0]], col: inner[0].col, text: inner[0].text });
  if (inner.length === 1) return { reg, off: 0 };
  const off = literal(inner, 1);
  if (off === undefined || inner[1].kind !== 'punct') throw bad();
  const text = `${inner[1].text}${inner[2].text}`;
  return { reg, off: field(s, inner[1].col, text, off, 16, 'offset') };
}

/** A jump target: `+N`/`-N` slots, or a label resolved once the whole program is read. */
function target(s: Site, op: Operand, into: 'off' | 'imm'): number {
  const t = op.tokens;
  if (t.length === 1 && t[0].kind === 'word') {
    s.fixups.push({ slot: s.slot, field: into, label: t[0].text, line: s.line, col: op.col });
    return 0;
  }
  const lit = numberOperand(s, op, 'a label or +N/-N jump offset');
  return field(s, op.col, op.text, lit, into === 'off' ? 16 : 32, 'jump offset');
}

// ---- encoders ----

const ALU_OPS: [string, number][] = [
  ['add', BPF_ADD],
  ['sub', BPF_SUB],
  ['mul', BPF_MUL],
  ['div', BPF_DIV],
  ['or', BPF_OR],
  ['and', BPF_AND],
  ['lsh', BPF_LSH],
  ['rsh', BPF_RSH],
  ['mod', BPF_MOD],
  ['xor', BPF_XOR],
  ['mov', BPF_MOV],
  ['arsh', BPF_ARSH],
];

const JMP_OPS: [string, number][] = [
  ['jeq', BPF_JEQ],
  ['jgt', BPF_JGT],
  ['jge', BPF_JGE],
  ['jset', BPF_JSET],
  ['jne', BPF_JNE],
  ['jsgt', BPF_JSGT],
  ['jsge', BPF_JSGE],
  ['jlt', BPF_JLT],
  ['jle', BPF_JLE],
  ['jslt', BPF_JSLT],
  ['jsle', BPF_JSLE],
];

const SIZES: [string, number][] = [
  ['b', BPF_B],
  ['h', BPF_H],
  ['w', BPF_W],
  ['dw', BPF_DW],
];

const ATOMIC_OPS = new Map<string, number>([
  ['add', BPF_ADD],
  ['or', BPF_OR],
  ['and', BPF_AND],
  ['xor', BPF_XOR],
  ['xchg', BPF_XCHG],
  ['cmpxchg', BPF_CMPXCHG],
]);

/** `op dst, src|imm`: register source when the second operand is a register. */
function alu(cls: number, op: number, off = 0): Spec {
  return {
    arity: 2,
    encode: (s) => {
      const dst = register(s, s.ops[0]);
      if (isRegister(s.ops[1])) return [insn(cls | op | BPF_X, dst, register(s, s.ops[1]), off)];
      return [insn(cls | op | BPF_K, dst, 0, off, imm32(s, s.ops[1]))];
    },
  };
}

/** `movsx<from><to> dst, src`: a register-source mov with the source width in off. */
function movsx(cls: number, width: number): Spec {
  return {
    arity: 2,
    encode: (s) => {
      const dst = register(s, s.ops[0]);
      if (!isRegister(s.ops[1])) {
        throw new AsmError(s.line, s.ops[1].col, `'${s.mnemonic}' needs a register source`);
      }
      return [insn(cls | BPF_MOV | BPF_X, dst, register(s, s.ops[1]), width)];
    },
  };
}

/** `neg dst` and the byte-order instructions: one register, a fixed imm. */
function unary(code: number, imm = 0): Spec {
  return { arity: 1, encode: (s) => [insn(code, register(s, s.ops[0]), 0, 0, imm)] };
}

function jump(cls: number, op: number): Spec {
  return {
    arity: 3,
    encode: (s) => {
      const dst = register(s, s.ops[0]);
      const x = isRegister(s.ops[1]);
      const src = x ? register(s, s.ops[1]) : 0;
      const imm = x ? 0 : imm32(s, s.ops[1]);
      return [insn(cls | op | (x ? BPF_X : BPF_K), dst, src, target(s, s.ops[2], 'off'), imm)];
    },
  };
}

const CALL: Spec = {
  arity: 1,
  encode: (s) => {
    const op = s.ops[0];
    const [mode, ...rest] = op.tokens;
    if (isRegister(op)) return [insn(BPF_JMP | BPF_CALL | BPF_X, register(s, op))];
    if (mode.kind !== 'word') {
      return [insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_HELPER, 0, imm32(s, op))];
    }
    const arg: Operand = {
      tokens: rest,
      col: rest[0]?.col ?? op.col + op.text.length,
      text: op.text.slice(mode.text.length).trim(),
    };
    if (rest.length === 0) {
      throw new AsmError(s.line, arg.col, `'call ${mode.text}' needs a target`);
    }
    switch (mode.text) {
      case 'local':
        return [insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, target(s, arg, 'imm'))];
      case 'helper':
        return [insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_HELPER, 0, imm32(s, arg))];
      case 'runtime':
        return [insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, imm32(s, arg))];
    }
    throw new AsmError(
      s.line,
      mode.col,
      `call mode '${mode.text}' is not local, helper or runtime (or write call N, call %rN)`,
    );
  },
};

function buildMnemonics(): Map<string, Spec> {
  const t = new Map<string, Spec>();
  for (const [name, op] of ALU_OPS) {
    t.set(name, alu(BPF_ALU64, op));
    t.set(`${name}32`, alu(BPF_ALU, op));
  }
  t.set('sdiv', alu(BPF_ALU64, BPF_DIV, 1));
  t.set('sdiv32', alu(BPF_ALU, BPF_DIV, 1));
  t.set('smod', alu(BPF_ALU64, BPF_MOD, 1));
  t.set('smod32', alu(BPF_ALU, BPF_MOD, 1));
  t.set('neg', unary(BPF_ALU64 | BPF_NEG));
  t.set('neg32', unary(BPF_ALU | BPF_NEG));
  t.set('movsx832', movsx(BPF_ALU, 8));
  t.set('movsx1632', movsx(BPF_ALU, 16));
  t.set('movsx864', movsx(BPF_ALU64, 8));
  t.set('movsx1664', movsx(BPF_ALU64, 16));
  t.set('movsx3264', movsx(BPF_ALU64, 32));
  for (const width of [16, 32, 64]) {
    t.set(`be${width}`, unary(BPF_ALU | BPF_END | BPF_TO_BE, width));
    t.set(`le${width}`, unary(BPF_ALU | BPF_END | BPF_TO_LE, width));
    t.set(`swap${width}`, unary(BPF_ALU64 | BPF_END | BPF_TO_LE, width));
    t.set(`bswap${width}`, unary(BPF_ALU64 | BPF_END | BPF_TO_LE, width));
  }
  for (const [suffix, size] of SIZES) {
    t.set(`ldx${suffix}`, {
      arity: 2,
      encode: (s) => {
        const { reg, off } = memory(s, s.ops[1]);
        return [insn(BPF_LDX | BPF_MEM | size, register(s, s.ops[0]), reg, off)];
      },
    });
    if (size !== BPF_DW) {
      t.set(`ldxs${suffix}`, {
        arity: 2,
        encode: (s) => {
          const { reg, off } = memory(s, s.ops[1]);
          return [insn(BPF_LDX | BPF_MEMSX | size, register(s, s.ops[0]), reg, off)];
        },
      });
    }
    t.set(`st${suffix}`, {
      arity: 2,
      encode: (s) => {
        const { reg, off } = memory(s, s.ops[0]);
        return [insn(BPF_ST | BPF_MEM | size, reg, 0, off, imm32(s, s.ops[1]))];
      },
    });
    t.set(`stx${suffix}`, {
      arity: 2,
      encode: (s) => {
        const { reg, off } = memory(s, s.ops[0]);
        return [insn(BPF_STX | BPF_MEM | size, reg, register(s, s.ops[1]), off)];
      },
    });
  }
  t.set('lddw', {
    arity: 2,
    encode: (s) => {
      const { value } = numberOperand(s, s.ops[1], 'a 64-bit immediate');
      if (value < INT64_MIN || value > UINT64_MAX) {
        throw new AsmError(
          s.line,
          s.ops[1].col,
          `immediate ${s.ops[1].text} does not fit in 64 bits: ${INT64_MIN}..${UINT64_MAX}`,
        );
      }
      return lddw(register(s, s.ops[0]), value);
    },
  });
  for (const [name, op] of JMP_OPS) {
    t.set(name, jump(BPF_JMP, op));
    t.set(`${name}32`, jump(BPF_JMP32, op));
  }
  t.set('ja', {
    arity: 1,
    encode: (s) => [insn(BPF_JMP | BPF_JA, 0, 0, target(s, s.ops[0], 'off'))],
  });
  t.set('ja32', {
    arity: 1,
    encode: (s) => [insn(BPF_JMP32 | BPF_JA, 0, 0, 0, target(s, s.ops[0], 'imm'))],
  });
  t.set('exit', { arity: 0, encode: () => [insn(BPF_JMP | BPF_EXIT)] });
  t.set('call', CALL);
  return t;
}

const MNEMONICS = buildMnemonics();

/**
 * `lock [fetch] op[32] [dst+off], src`: reads the words after `lock` and
 * returns the spec of that atomic operation and the operand tokens.
 */
function lockSpec(
  words: Token[],
  line: number,
  endCol: number,
): { mnemonic: string; rest: Token[]; spec: Spec } {
  let i = 0;
  const fetch = words[0]?.text === 'fetch';
  if (fetch) i++;
  const opTok = words[i];
  if (opTok === undefined || opTok.kind !== 'word') {
    throw new AsmError(line, opTok?.col ?? endCol, 'lock needs an atomic operation');
  }
  const wide = !opTok.text.endsWith('32');
  const name = wide ? opTok.text : opTok.text.slice(0, -2);
  const base = ATOMIC_OPS.get(name);
  if (base === undefined) {
    throw new AsmError(line, opTok.col, `unknown atomic operation '${opTok.text}'`);
  }
  const imm = fetch ? base | BPF_FETCH : base;
  const code = BPF_STX | BPF_ATOMIC | (wide ? BPF_DW : BPF_W);
  const mnemonic = `lock ${fetch ? 'fetch ' : ''}${opTok.text}`;
  const spec: Spec = {
    arity: 2,
    encode: (s) => {
      const { reg, off } = memory(s, s.ops[0]);
      return [insn(code, reg, register(s, s.ops[1]), off, imm)];
    },
  };
  return { mnemonic, rest: words.slice(i + 1), spec };
}
