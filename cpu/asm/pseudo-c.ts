/**
 * Assembler for the LLVM / kernel pseudo-C eBPF syntax: what `llvm-objdump -d`
 * prints and `llvm-mc -triple bpf` accepts, plus the cpu v4 forms newer LLVM
 * prints and the per-CPU extension `rX = this_cpu_ptr(rY)`.
 *
 * ```
 *   r1 += r2          w1 = -w1          r1 s>>= 3         r1 s/= r2 (v4)
 *   r1 = be16 r1      r1 = bswap64 r1   r1 = (s8)r2       w1 = (s16)w2
 *   r2 = *(u64 *)(r1 + 0)               r2 = *(s8 *)(r1 - 1)
 *   *(u32 *)(r10 - 4) = w1              *(u8 *)(r1 + 0) = 5
 *   lock *(u64 *)(r1 + 0) += r2         r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)
 *   r2 = xchg_64(r1 + 0, r2)            w0 = cmpxchg32_32(r1 + 0, w0, w2)
 *   goto +3   gotol L   if w1 s< w2 goto L   if r1 & 4 goto +1
 *   call 1   call bpf_map_lookup_elem   call my_func   call pc+3   call kfunc(7)
 *   callx r2   exit   r0 = 0x1122334455667788 ll   r1 = my_map ll
 *   r1 = map_fd(3) ll   r1 = map_value(3, 16) ll   r1 = func(my_func) ll
 *   r1 = this_cpu_ptr(r2)
 * ```
 *
 * Labels are `name:` (`LBB0_1:` as llvm-objdump prints them), comments run
 * from `#`, `;` or `//` to the end of the line. A 32-bit field takes any value
 * in -2^31..2^32-1 and keeps its low 32 bits, as llvm-mc does.
 *
 * Each line is lexed and parsed into one statement on its own; jump and call
 * targets that name labels stay as fixups until every label is known. The
 * result then goes through validate(), whose complaint is moved back to the
 * line that produced the instruction, so every error is an AsmError naming a
 * line and column.
 */

import { bpfFuncId } from '../bpf-func-id.ts';
import { type Insn, insn, lddw } from '../insn.ts';
import {
  BPF_ADD,
  BPF_ADDR_PERCPU,
  BPF_ALU,
  BPF_ALU64,
  BPF_AND,
  BPF_ARSH,
  BPF_ATOMIC,
  BPF_CALL,
  BPF_CMPXCHG,
  BPF_DIV,
  BPF_END,
  BPF_EXIT,
  BPF_FETCH,
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
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_HELPER,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_PSEUDO_MAP_VALUE,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TO_BE,
  BPF_TO_LE,
  BPF_X,
  BPF_XCHG,
  BPF_XOR,
  sizeField,
} from '../opcodes.ts';
import { AsmError, validateAtSource } from './asm-error.ts';

/** What a name in `rX = name ll` stands for. */
export type AsmSymbol =
  /** A plain 64-bit value: `lddw` with src 0 (an address, a per-CPU offset, a constant). */
  | { readonly kind: 'value'; readonly value: bigint | number }
  /**
   * A map by fd: `lddw` with src 1 (BPF_PSEUDO_MAP_FD), imm = fd. With
   * `valueStride`, `name[i] + off` is the address of entry i's value plus
   * off: src 2 (BPF_PSEUDO_MAP_VALUE), next imm = i * valueStride + off.
   */
  | { readonly kind: 'map'; readonly fd: number; readonly valueStride?: number }
  /** An address inside a map's value: `lddw` with src 2 (BPF_PSEUDO_MAP_VALUE), imm = fd, next imm = offset. */
  | { readonly kind: 'map_value'; readonly fd: number; readonly offset?: number };

/** A name table, as a Map or a plain object. */
export type NameTable<T> = ReadonlyMap<string, T> | Readonly<Record<string, T>>;

/**
 * How names resolve, and whether to validate.
 *
 * @example
 * assemble('r1 = counts ll\ncall preempt_disable\nexit', {
 *   symbols: { counts: { kind: 'map', fd: 3 } },
 *   kfuncs: { preempt_disable: 1 },
 * });
 */
export interface AsmOptions {
  /** Names usable as `rX = name ll` (and `rX = name + 8 ll` for values and map values). */
  symbols?: NameTable<AsmSymbol>;
  /** kfunc names for `call name` (src 2, imm = id). */
  kfuncs?: NameTable<number>;
  /** Helper names for `call name` (src 0) besides the kernel's `bpf_*` ones, which they override. */
  helpers?: NameTable<number>;
  /** Run validate() on the result (default true); false assembles fragments. */
  validate?: boolean;
}

/**
 * Instruction slots ready for encode() or loading, with where they came from.
 *
 * @example
 * const { insns, labels, lines } = assemble('top:\nr0 = 1\nexit');
 * labels.get('top'); // 0
 * lines; // [2, 3]
 */
export interface AssembledProgram {
  insns: Insn[];
  /** Each label and the slot it names (the program length for a label at the end). */
  labels: Map<string, number>;
  /** The 1-based source line of each slot. */
  lines: number[];
}

/**
 * Assembles pseudo-C source into instruction slots; throws an AsmError naming
 * the line and column of the first problem.
 *
 * @example
 * const { insns } = assemble('r0 = 0\nif r1 > 5 goto out\nr0 = 1\nout:\nexit');
 * insns.length; // 4
 */
export function assemble(source: string, options: AsmOptions = {}): AssembledProgram {
  const ctx = new Resolver(options);
  const stmts: Stmt[] = [];
  const labels = new Map<string, number>();
  const labelLines = new Map<string, number>();
  let slot = 0;
  source.split(/\r?\n/).forEach((text, index) => {
    const line = index + 1;
    const p = new LineParser(lex(text, line), line, text.length + 1);
    for (const label of p.labels()) {
      const earlier = labelLines.get(label.text);
      if (earlier !== undefined) {
        throw p.fail(label, `label '${label.text}' is already defined on line ${earlier}`);
      }
      labels.set(label.text, slot);
      labelLines.set(label.text, line);
    }
    const stmt = p.statement(ctx);
    if (stmt === undefined) return;
    stmts.push(stmt);
    slot += stmt.slots.length;
  });

  const insns: Insn[] = [];
  const lines: number[] = [];
  const stmtOfSlot: Stmt[] = [];
  for (const stmt of stmts) {
    if (stmt.fixup) applyFixup(stmt, insns.length, labels, ctx);
    for (const s of stmt.slots) {
      insns.push(s);
      lines.push(stmt.line);
      stmtOfSlot.push(stmt);
    }
  }
  if (options.validate !== false) {
    const at = (slot: number) => {
      const stmt = stmtOfSlot[slot];
      return stmt && { line: stmt.line, column: stmt.col };
    };
    validateAtSource(insns, at, stmts.at(-1)?.line ?? 1);
  }
  return { insns, labels, lines };
}

// ---------------------------------------------------------------------------
// Lexer

interface Token {
  kind: 'ident' | 'num' | 'punct' | 'string' | 'end';
  text: string;
  /** 1-based column of the first character. */
  col: number;
}

/** Operators, longest first so that `<<=` is not read as `<` `<=`. */
const PUNCT = [
  's>>=',
  '<<=',
  '>>=',
  's>=',
  's<=',
  's/=',
  's%=',
  's>',
  's<',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '|=',
  '&=',
  '^=',
  '==',
  '!=',
  '>=',
  '<=',
  '>',
  '<',
  '=',
  '&',
  '(',
  ')',
  '*',
  '+',
  '-',
  ',',
  ':',
  '[',
  ']',
];

const IDENT = /[A-Za-z_.$][\w.$]*/y;
const NUMBER = /(0[xX][0-9a-fA-F]+|[0-9]+)(?![\w.$])/y;
const NUMBER_START = /[0-9]/;

function lex(text: string, line: number): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#' || c === ';' || (c === '/' && text[i + 1] === '/')) break;
    const col = i + 1;
    if (c === '"') {
      const [value, length] = lexString(text, i, line);
      tokens.push({ kind: 'string', text: value, col });
      i += length;
      continue;
    }
    const punct = PUNCT.find((p) => text.startsWith(p, i));
    if (punct !== undefined) {
      tokens.push({ kind: 'punct', text: punct, col });
      i += punct.length;
      continue;
    }
    if (NUMBER_START.test(c)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (m === null) {
        const bad = /[\w.$]+/y;
        bad.lastIndex = i;
        throw new AsmError(line, col, `malformed number '${bad.exec(text)?.[0] ?? c}'`);
      }
      tokens.push({ kind: 'num', text: m[0], col });
      i += m[0].length;
      continue;
    }
    IDENT.lastIndex = i;
    const m = IDENT.exec(text);
    if (m !== null) {
      tokens.push({ kind: 'ident', text: m[0], col });
      i += m[0].length;
      continue;
    }
    throw new AsmError(line, col, `unexpected character '${c}'`);
  }
  return tokens;
}

const STRING_ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  '\\': '\\',
  '"': '"',
  '0': '\0',
};

/** A `"..."` literal at `at` with C's \n \t \\ \" \0 escapes: its value and its length in the source. */
function lexString(text: string, at: number, line: number): [string, number] {
  let value = '';
  for (let i = at + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '"') return [value, i + 1 - at];
    if (c !== '\\') {
      value += c;
      continue;
    }
    const e = STRING_ESCAPES[text[++i]];
    if (e === undefined)
      throw new AsmError(line, i, `unknown escape '\\${text[i] ?? ''}' in a string`);
    value += e;
  }
  throw new AsmError(line, at + 1, 'unterminated string');
}

// ---------------------------------------------------------------------------
// Parser

/** One source line's instruction: its slots, and a label reference still to resolve. */
interface Stmt {
  slots: Insn[];
  line: number;
  col: number;
  fixup?: Fixup;
}

type Fixup =
  /** A jump (or `func(label)`) to a label: slot-relative offset into `off` (16 bits) or `imm`. */
  | { kind: 'jump'; field: 'off' | 'imm'; label: Token; line: number }
  /** `call name`: a local function, a kfunc or a helper, decided once labels are known. */
  | { kind: 'call'; name: Token; line: number };

interface Reg {
  n: number;
  /** A 32-bit `wN` name rather than `rN`. */
  w: boolean;
  tok: Token;
}

type Target = { rel: number; tok: Token } | { label: Token };

const REGISTER = /^([rw])([0-9]+)$/;

/** Where printk puts its format: the bottom of the 512-byte frame, away from the usual locals. */
const PRINTK_FMT_OFF = -512;
/** The longest format, NUL included, that printk packs (bpf_trace_printk reads up to 128 bytes). */
const PRINTK_MAX = 128;

const ALU_OPS: Record<string, { op: number; off: number }> = {
  '+=': { op: BPF_ADD, off: 0 },
  '-=': { op: BPF_SUB, off: 0 },
  '*=': { op: BPF_MUL, off: 0 },
  '/=': { op: BPF_DIV, off: 0 },
  '|=': { op: BPF_OR, off: 0 },
  '&=': { op: BPF_AND, off: 0 },
  '<<=': { op: BPF_LSH, off: 0 },
  '>>=': { op: BPF_RSH, off: 0 },
  '%=': { op: BPF_MOD, off: 0 },
  '^=': { op: BPF_XOR, off: 0 },
  's>>=': { op: BPF_ARSH, off: 0 },
  's/=': { op: BPF_DIV, off: 1 },
  's%=': { op: BPF_MOD, off: 1 },
};

const JUMP_OPS: Record<string, number> = {
  '==': BPF_JEQ,
  '>': BPF_JGT,
  '>=': BPF_JGE,
  '&': BPF_JSET,
  '!=': BPF_JNE,
  's>': BPF_JSGT,
  's>=': BPF_JSGE,
  '<': BPF_JLT,
  '<=': BPF_JLE,
  's<': BPF_JSLT,
  's<=': BPF_JSLE,
};

const LOCK_OPS: Record<string, number> = {
  '+=': BPF_ADD,
  '|=': BPF_OR,
  '&=': BPF_AND,
  '^=': BPF_XOR,
};

const FETCH_OPS: Record<string, number> = {
  atomic_fetch_add: BPF_ADD,
  atomic_fetch_or: BPF_OR,
  atomic_fetch_and: BPF_AND,
  atomic_fetch_xor: BPF_XOR,
};

/** `rX = le16 rX` and friends: class, source bit and width. */
const BYTE_SWAPS: Record<string, { cls: number; src: number; bits: number }> = {};
for (const bits of [16, 32, 64]) {
  BYTE_SWAPS[`le${bits}`] = { cls: BPF_ALU, src: BPF_TO_LE, bits };
  BYTE_SWAPS[`be${bits}`] = { cls: BPF_ALU, src: BPF_TO_BE, bits };
  BYTE_SWAPS[`bswap${bits}`] = { cls: BPF_ALU64, src: BPF_TO_LE, bits };
}

/** `rX = map_fd(3) ll` and friends: the lddw pseudo sources written out (RFC 9669 §5.4). */
const PSEUDO_SOURCES: Record<string, number> = {
  map_fd: BPF_PSEUDO_MAP_FD,
  map_value: BPF_PSEUDO_MAP_VALUE,
  btf_id: BPF_PSEUDO_BTF_ID,
  func: BPF_PSEUDO_FUNC,
  map_idx: BPF_PSEUDO_MAP_IDX,
  map_idx_value: BPF_PSEUDO_MAP_IDX_VALUE,
};

const INT32_MIN = -(2n ** 31n);
const UINT32_MAX = 2n ** 32n - 1n;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

class LineParser {
  private pos = 0;
  /** A label reference in this line's instruction, resolved by assemble() later. */
  private fixup: Fixup | undefined;

  constructor(
    private readonly tokens: Token[],
    readonly line: number,
    endCol: number,
  ) {
    tokens.push({ kind: 'end', text: '', col: endCol });
  }

  fail(tok: Token, reason: string): AsmError {
    return new AsmError(this.line, tok.col, reason);
  }

  /** The labels defined at the start of the line (`name:`), consumed. */
  labels(): Token[] {
    const found: Token[] = [];
    while (this.peek().kind === 'ident' && this.peek(1).text === ':') {
      const tok = this.next();
      this.next();
      if (REGISTER.test(tok.text))
        throw this.fail(tok, `a register name cannot be a label: '${tok.text}'`);
      found.push(tok);
    }
    return found;
  }

  /** The instruction on this line, or undefined if the line has none. */
  statement(ctx: Resolver): Stmt | undefined {
    const first = this.peek();
    if (first.kind === 'end') return undefined;
    const slots = this.instruction(ctx);
    const rest = this.peek();
    if (rest.kind !== 'end') throw this.fail(rest, `expected end of line, found ${describe(rest)}`);
    return { slots, line: this.line, col: first.col, fixup: this.fixup };
  }

  private instruction(ctx: Resolver): Insn[] {
    const first = this.peek();
    if (first.kind === 'punct' && first.text === '*') return this.store();
    if (first.kind !== 'ident') {
      throw this.fail(first, `expected an instruction, found ${describe(first)}`);
    }
    if (REGISTER.test(first.text)) return this.registerStatement(ctx);
    this.next();
    switch (first.text) {
      case 'exit':
        return [insn(BPF_JMP | BPF_EXIT)];
      case 'goto':
        return this.jump(insn(BPF_JMP | BPF_JA), 'off');
      case 'gotol':
        return this.jump(insn(BPF_JMP32 | BPF_JA), 'imm');
      case 'if':
        return this.conditionalJump();
      case 'call':
        return this.call();
      case 'callx': {
        const r = this.reg('r');
        return [insn(BPF_JMP | BPF_CALL | BPF_X, r.n)];
      }
      case 'lock':
        return this.lock();
      case 'printk':
        return this.printk();
    }
    throw this.fail(first, `expected an instruction, found ${describe(first)}`);
  }

  // `rX op= ...` and `rX = ...`
  private registerStatement(ctx: Resolver): Insn[] {
    const dst = this.reg('rw');
    const opTok = this.next();
    const alu = ALU_OPS[opTok.text];
    if (opTok.kind === 'punct' && alu !== undefined) {
      const cls = dst.w ? BPF_ALU : BPF_ALU64;
      const src = this.regOrImm(dst.w ? 'w' : 'r');
      return [aluInsn(cls, alu.op, dst.n, src, alu.off)];
    }
    if (opTok.text !== '=') {
      throw this.fail(
        opTok,
        `expected an assignment operator ('=', '+=', ...), found ${describe(opTok)}`,
      );
    }
    return this.assignment(dst, ctx);
  }

  private assignment(dst: Reg, ctx: Resolver): Insn[] {
    const tok = this.peek();
    const cls = dst.w ? BPF_ALU : BPF_ALU64;
    const width = dst.w ? 'w' : 'r';
    if (tok.kind === 'punct') {
      if (tok.text === '-' && this.peek(1).kind === 'ident') {
        this.next();
        const src = this.reg(width);
        this.sameRegister(dst, src, 'negation');
        return [insn(cls | BPF_NEG | BPF_K, dst.n)];
      }
      if (tok.text === '*') return this.load(dst);
      if (tok.text === '(') return this.signExtendingMove(dst);
      return this.immediateMove(dst);
    }
    if (tok.kind === 'num') return this.immediateMove(dst);
    if (tok.kind !== 'ident') throw this.fail(tok, `expected a value, found ${describe(tok)}`);

    if (REGISTER.test(tok.text)) {
      const src = this.reg(width);
      return [insn(cls | BPF_MOV | BPF_X, dst.n, src.n)];
    }
    const swap = BYTE_SWAPS[tok.text];
    if (swap !== undefined) {
      this.next();
      const src = this.reg(width);
      this.sameRegister(dst, src, 'byte swap');
      return [insn(swap.cls | BPF_END | swap.src, dst.n, 0, 0, swap.bits)];
    }
    const fetchOp = FETCH_OPS[tok.text];
    if (fetchOp !== undefined) return this.atomicFetch(dst, fetchOp);
    switch (tok.text) {
      case 'xchg_64':
      case 'xchg32_32':
        return this.exchange(dst, tok.text === 'xchg_64' ? 8 : 4);
      case 'cmpxchg_64':
      case 'cmpxchg32_32':
        return this.compareExchange(dst, tok.text === 'cmpxchg_64' ? 8 : 4);
      case 'this_cpu_ptr': {
        this.next();
        this.requireWidth(dst, 'r');
        this.expect('(');
        const src = this.reg('r');
        this.expect(')');
        return [insn(BPF_ALU64 | BPF_MOV | BPF_X, dst.n, src.n, BPF_ADDR_PERCPU)];
      }
    }
    const pseudo = PSEUDO_SOURCES[tok.text];
    if (pseudo !== undefined && this.peek(1).text === '(') return this.pseudoLoad(dst, pseudo);
    return this.symbolLoad(dst, ctx);
  }

  // `rX = 5`, `wX = -1`, `rX = 0x1122334455667788 ll`
  private immediateMove(dst: Reg): Insn[] {
    const { value, tok } = this.signedNumber();
    if (this.accept('ll')) {
      this.requireWidth(dst, 'r');
      return lddw(dst.n, this.imm64(value, tok));
    }
    const cls = dst.w ? BPF_ALU : BPF_ALU64;
    return [insn(cls | BPF_MOV | BPF_K, dst.n, 0, 0, this.imm32(value, tok))];
  }

  // `rX = name ll`, `rX = name + 8 ll`, `rX = map[2] + 8 ll`
  private symbolLoad(dst: Reg, ctx: Resolver): Insn[] {
    const name = this.next();
    let index: { value: bigint; tok: Token } | undefined;
    if (this.accept('[')) {
      index = this.number();
      this.expect(']');
    }
    let addend = 0n;
    const sign = this.peek();
    if (sign.text === '+' || sign.text === '-') {
      this.next();
      addend = this.number().value;
      if (sign.text === '-') addend = -addend;
    }
    const ll = this.peek();
    if (!this.accept('ll'))
      throw this.fail(ll, `expected 'll' after symbol '${name.text}', found ${describe(ll)}`);
    this.requireWidth(dst, 'r');
    const symbol = ctx.symbol(name.text);
    if (symbol === undefined) throw this.fail(name, `unknown symbol '${name.text}'`);
    const integer = (v: bigint | number | undefined, what: string): bigint => {
      if (typeof v === 'bigint') return v;
      if (v === undefined) return 0n;
      if (Number.isSafeInteger(v)) return BigInt(v);
      throw this.fail(name, `symbol '${name.text}' has ${what} ${v}, not an integer`);
    };
    switch (symbol.kind) {
      case 'value':
        if (index !== undefined) throw this.fail(index.tok, `'${name.text}' is not a map`);
        return lddw(dst.n, this.imm64(integer(symbol.value, 'value') + addend, name));
      case 'map': {
        if (index !== undefined) {
          if (symbol.valueStride === undefined)
            throw this.fail(index.tok, `map '${name.text}' has no directly addressable values`);
          const [lo, hi] = lddw(dst.n, 0n, BPF_PSEUDO_MAP_VALUE);
          lo.imm = this.imm32(integer(symbol.fd, 'fd'), name);
          hi.imm = this.imm32(index.value * BigInt(symbol.valueStride) + addend, index.tok);
          return [lo, hi];
        }
        if (addend !== 0n)
          throw this.fail(sign, `map '${name.text}' takes no offset; use a map_value symbol`);
        const [lo, hi] = lddw(dst.n, 0n, BPF_PSEUDO_MAP_FD);
        lo.imm = this.imm32(integer(symbol.fd, 'fd'), name);
        return [lo, hi];
      }
      case 'map_value': {
        if (index !== undefined) throw this.fail(index.tok, `'${name.text}' is not a map`);
        const [lo, hi] = lddw(dst.n, 0n, BPF_PSEUDO_MAP_VALUE);
        lo.imm = this.imm32(integer(symbol.fd, 'fd'), name);
        hi.imm = this.imm32(integer(symbol.offset, 'offset') + addend, name);
        return [lo, hi];
      }
    }
  }

  // `rX = map_value(3, 16) ll`, `rX = func(label) ll`, ...
  private pseudoLoad(dst: Reg, src: number): Insn[] {
    this.next();
    this.requireWidth(dst, 'r');
    this.expect('(');
    const [lo, hi] = lddw(dst.n, 0n, src);
    if (src === BPF_PSEUDO_FUNC) {
      const target = this.target();
      if ('label' in target)
        this.fixup = { kind: 'jump', field: 'imm', label: target.label, line: this.line };
      else lo.imm = this.relative(target.rel, 32, target.tok);
    } else {
      const { value, tok } = this.signedNumber();
      lo.imm = this.imm32(value, tok);
    }
    if (this.accept(',')) {
      const { value, tok } = this.signedNumber();
      hi.imm = this.imm32(value, tok);
    }
    this.expect(')');
    this.expect('ll');
    return [lo, hi];
  }

  // `rX = (s8)rY`
  private signExtendingMove(dst: Reg): Insn[] {
    this.expect('(');
    const cast = this.next();
    const bits = { s8: 8, s16: 16, s32: dst.w ? undefined : 32 }[cast.text];
    if (bits === undefined) {
      const allowed = dst.w ? 's8 or s16' : 's8, s16 or s32';
      throw this.fail(cast, `expected a sign-extension cast (${allowed}), found ${describe(cast)}`);
    }
    this.expect(')');
    const src = this.reg(dst.w ? 'w' : 'r');
    return [insn((dst.w ? BPF_ALU : BPF_ALU64) | BPF_MOV | BPF_X, dst.n, src.n, bits)];
  }

  // `rX = *(u32 *)(rY + off)`, `rX = *(s8 *)(rY + off)`
  private load(dst: Reg): Insn[] {
    this.expect('*');
    const size = this.sizeCast(true);
    if (dst.w && (size.bytes === 8 || size.signed)) {
      throw this.fail(
        dst.tok,
        `expected a 64-bit register (r0-r10) for a ${size.tok.text} load, found '${dst.tok.text}'`,
      );
    }
    const mem = this.memory();
    const mode = size.signed ? BPF_MEMSX : BPF_MEM;
    return [insn(BPF_LDX | mode | sizeField(size.bytes), dst.n, mem.base.n, mem.off)];
  }

  // `*(u32 *)(rX + off) = rY | imm`
  private store(): Insn[] {
    this.expect('*');
    const size = this.sizeCast(false);
    const mem = this.memory();
    this.expect('=');
    const value = this.regOrImm(size.bytes === 8 ? 'r' : 'rw');
    const sz = sizeField(size.bytes);
    if ('n' in value) {
      return [insn(BPF_STX | BPF_MEM | sz, mem.base.n, value.n, mem.off)];
    } else {
      return [insn(BPF_ST | BPF_MEM | sz, mem.base.n, 0, mem.off, value.imm)];
    }
  }

  /**
   * `printk "r6 = %d\n", r6`: bpf_printk. The format and its NUL are stored
   * with immediate stores at the bottom of the 512-byte stack frame (r10 -
   * 512 up), then bpf_trace_printk(fmt, size, args...) is called. Like any
   * call it clobbers r0-r5 and keeps r6-r9, so its up to three arguments
   * must be in r0 or r6-r9 (r1-r5 carry the call's own arguments).
   */
  private printk(): Insn[] {
    const fmt = this.next();
    if (fmt.kind !== 'string')
      throw this.fail(fmt, `printk needs a format string, found ${describe(fmt)}`);
    const args: Reg[] = [];
    while (this.accept(',')) {
      const r = this.reg('r');
      if (r.n >= 1 && r.n <= 5) {
        throw this.fail(
          r.tok,
          `printk argument r${r.n}: r1-r5 carry the call's arguments; use r0 or r6-r9`,
        );
      }
      args.push(r);
    }
    if (args.length > 3)
      throw this.fail(args[3].tok, 'printk takes at most 3 arguments, as bpf_trace_printk does');
    const bytes = new TextEncoder().encode(`${fmt.text}\0`);
    if (bytes.length > PRINTK_MAX) {
      throw this.fail(fmt, `printk format of ${bytes.length} bytes with its NUL > ${PRINTK_MAX}`);
    }
    const out: Insn[] = [];
    const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
    padded.set(bytes);
    const words = new DataView(padded.buffer);
    for (let at = 0; at < padded.length; at += 4) {
      out.push(
        insn(BPF_ST | BPF_MEM | sizeField(4), 10, 0, PRINTK_FMT_OFF + at, words.getInt32(at, true)),
      );
    }
    args.forEach((r, k) => {
      out.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 3 + k, r.n));
    });
    out.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, 10));
    out.push(insn(BPF_ALU64 | BPF_ADD | BPF_K, 1, 0, 0, PRINTK_FMT_OFF));
    out.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, bytes.length));
    out.push(insn(BPF_JMP | BPF_CALL, 0, 0, 0, bpfFuncId('bpf_trace_printk')!));
    return out;
  }

  // `lock *(u64 *)(rX + off) += rY`
  private lock(): Insn[] {
    this.expect('*');
    const size = this.atomicSize();
    const mem = this.memory();
    const opTok = this.next();
    const op = LOCK_OPS[opTok.text];
    if (opTok.kind !== 'punct' || op === undefined) {
      throw this.fail(opTok, `expected '+=', '|=', '&=' or '^=', found ${describe(opTok)}`);
    }
    const src = this.reg(size === 8 ? 'r' : 'rw');
    return [atomicInsn(size, mem, src.n, op)];
  }

  // `rX = atomic_fetch_add((u64 *)(rY + off), rX)`
  private atomicFetch(dst: Reg, op: number): Insn[] {
    this.next();
    this.expect('(');
    const size = this.atomicSize();
    this.requireWidth(dst, size === 8 ? 'r' : 'w');
    const mem = this.memory();
    this.expect(',');
    const src = this.reg(dst.w ? 'w' : 'r');
    this.sameRegister(dst, src, 'atomic fetch');
    this.expect(')');
    return [atomicInsn(size, mem, src.n, op | BPF_FETCH)];
  }

  // `rX = xchg_64(rY + off, rX)`
  private exchange(dst: Reg, size: 4 | 8): Insn[] {
    this.next();
    this.requireWidth(dst, size === 8 ? 'r' : 'w');
    this.expect('(');
    const mem = this.address();
    this.expect(',');
    const src = this.reg(dst.w ? 'w' : 'r');
    this.sameRegister(dst, src, 'exchange');
    this.expect(')');
    return [atomicInsn(size, mem, src.n, BPF_XCHG)];
  }

  // `r0 = cmpxchg_64(rY + off, r0, rZ)`
  private compareExchange(dst: Reg, size: 4 | 8): Insn[] {
    const name = this.next();
    const r0 = size === 8 ? 'r0' : 'w0';
    if (dst.tok.text !== r0)
      throw this.fail(dst.tok, `${name.text} writes ${r0}, found '${dst.tok.text}'`);
    this.expect('(');
    const mem = this.address();
    this.expect(',');
    const old = this.next();
    if (old.text !== r0) throw this.fail(old, `expected ${r0}, found ${describe(old)}`);
    this.expect(',');
    const src = this.reg(dst.w ? 'w' : 'r');
    this.expect(')');
    return [atomicInsn(size, mem, src.n, BPF_CMPXCHG)];
  }

  // `if rX op (rY | imm) goto target`
  private conditionalJump(): Insn[] {
    const dst = this.reg('rw');
    const opTok = this.next();
    const op = JUMP_OPS[opTok.text];
    if (opTok.kind !== 'punct' || op === undefined) {
      throw this.fail(
        opTok,
        `expected a comparison ('==', '>', 's<', '&', ...), found ${describe(opTok)}`,
      );
    }
    const src = this.regOrImm(dst.w ? 'w' : 'r');
    this.expect('goto');
    const cls = dst.w ? BPF_JMP32 : BPF_JMP;
    const jump =
      'n' in src
        ? insn(cls | op | BPF_X, dst.n, src.n)
        : insn(cls | op | BPF_K, dst.n, 0, 0, src.imm);
    return this.jump(jump, 'off');
  }

  private jump(jump: Insn, field: 'off' | 'imm'): Insn[] {
    const target = this.target();
    if ('label' in target) {
      this.fixup = { kind: 'jump', field, label: target.label, line: this.line };
    } else {
      jump[field] = this.relative(target.rel, field === 'off' ? 16 : 32, target.tok);
    }
    return [jump];
  }

  // `call 1`, `call name`, `call pc+3`, `call kfunc(7)`
  private call(): Insn[] {
    const tok = this.peek();
    const code = BPF_JMP | BPF_CALL | BPF_K;
    if (tok.kind === 'num' || tok.text === '-' || tok.text === '+') {
      const { value, tok: numTok } = this.signedNumber();
      return [insn(code, 0, BPF_PSEUDO_HELPER, 0, this.imm32(value, numTok))];
    }
    if (tok.kind !== 'ident') throw this.fail(tok, `expected a function, found ${describe(tok)}`);
    this.next();
    const next = this.peek();
    if (tok.text === 'pc' && (next.text === '+' || next.text === '-')) {
      const { value, tok: numTok } = this.signedNumber();
      const rel = this.relative(Number(value), 32, numTok);
      return [insn(code, 0, BPF_PSEUDO_CALL, 0, rel)];
    }
    if (tok.text === 'kfunc' && next.text === '(') {
      this.next();
      const { value, tok: numTok } = this.signedNumber();
      this.expect(')');
      return [insn(code, 0, BPF_PSEUDO_KFUNC_CALL, 0, this.imm32(value, numTok))];
    }
    this.fixup = { kind: 'call', name: tok, line: this.line };
    return [insn(code)];
  }

  // Operands

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.pos + ahead, this.tokens.length - 1)];
  }

  private next(): Token {
    const tok = this.peek();
    if (this.pos < this.tokens.length - 1) this.pos++;
    return tok;
  }

  private accept(text: string): boolean {
    if (this.peek().kind === 'end' || this.peek().text !== text) return false;
    this.next();
    return true;
  }

  private expect(text: string): Token {
    const tok = this.next();
    if (tok.kind === 'end' || tok.text !== text) {
      throw this.fail(tok, `expected '${text}', found ${describe(tok)}`);
    }
    return tok;
  }

  private reg(want: 'r' | 'w' | 'rw'): Reg {
    const tok = this.next();
    const m = tok.kind === 'ident' ? REGISTER.exec(tok.text) : null;
    if (m === null || m[2].length > 2 || Number(m[2]) > 10) {
      throw this.fail(tok, `expected a register, found ${describe(tok)}`);
    }
    const reg = { n: Number(m[2]), w: m[1] === 'w', tok };
    if (want !== 'rw') this.requireWidth(reg, want);
    return reg;
  }

  private requireWidth(reg: Reg, want: 'r' | 'w'): void {
    if (reg.w === (want === 'w')) return;
    const expected = want === 'r' ? 'a 64-bit register (r0-r10)' : 'a 32-bit register (w0-w10)';
    throw this.fail(reg.tok, `expected ${expected}, found '${reg.tok.text}'`);
  }

  private sameRegister(dst: Reg, src: Reg, what: string): void {
    if (src.n !== dst.n) {
      throw this.fail(
        src.tok,
        `${what} works in place: expected '${dst.tok.text}', found '${src.tok.text}'`,
      );
    }
  }

  private regOrImm(width: 'r' | 'w' | 'rw'): Reg | { imm: number } {
    const tok = this.peek();
    if (tok.kind === 'ident') return this.reg(width);
    const { value, tok: numTok } = this.signedNumber('a register or an immediate');
    return { imm: this.imm32(value, numTok) };
  }

  private number(what = 'a number'): { value: bigint; tok: Token } {
    const tok = this.next();
    if (tok.kind !== 'num') throw this.fail(tok, `expected ${what}, found ${describe(tok)}`);
    return { value: BigInt(tok.text), tok };
  }

  private signedNumber(what = 'a number'): { value: bigint; tok: Token } {
    const sign = this.peek();
    if (sign.text === '-' || sign.text === '+') {
      this.next();
      const { value } = this.number(what);
      return { value: sign.text === '-' ? -value : value, tok: sign };
    }
    return this.number(what);
  }

  private imm32(value: bigint, tok: Token): number {
    if (value < INT32_MIN || value > UINT32_MAX) {
      throw this.fail(tok, `immediate ${value} does not fit in 32 bits`);
    }
    return Number(BigInt.asIntN(32, value));
  }

  private imm64(value: bigint, tok: Token): bigint {
    if (value < INT64_MIN || value > UINT64_MAX) {
      throw this.fail(tok, `immediate ${value} does not fit in 64 bits`);
    }
    return value;
  }

  private relative(rel: number, bits: 16 | 32, tok: Token): number {
    checkJumpRange(rel, bits, (reason) => this.fail(tok, reason));
    return rel;
  }

  /** `+3`, `-1`, `3` (slots after the next instruction) or a label. */
  private target(): Target {
    const tok = this.peek();
    if (tok.kind === 'ident' && !REGISTER.test(tok.text)) return { label: this.next() };
    if (tok.kind === 'num' || tok.text === '+' || tok.text === '-') {
      const { value, tok: numTok } = this.signedNumber('a jump target');
      return { rel: Number(value), tok: numTok };
    }
    throw this.fail(tok, `expected a jump target (+N, -N or a label), found ${describe(tok)}`);
  }

  /** `(u64 *)` and, for loads, `(s8 *)`, `(s16 *)`, `(s32 *)`. */
  private sizeCast(allowSigned: boolean): { bytes: number; signed: boolean; tok: Token } {
    this.expect('(');
    const tok = this.next();
    const m = /^([us])(8|16|32|64)$/.exec(tok.text);
    if (m === null || tok.kind !== 'ident' || (m[1] === 's' && (!allowSigned || m[2] === '64'))) {
      const allowed = allowSigned ? 'u8, u16, u32, u64, s8, s16 or s32' : 'u8, u16, u32 or u64';
      throw this.fail(tok, `expected a size (${allowed}), found ${describe(tok)}`);
    }
    this.expect('*');
    this.expect(')');
    return { bytes: Number(m[2]) / 8, signed: m[1] === 's', tok };
  }

  private atomicSize(): 4 | 8 {
    const size = this.sizeCast(false);
    if (size.bytes !== 4 && size.bytes !== 8) {
      throw this.fail(size.tok, `expected an atomic size (u32 or u64), found '${size.tok.text}'`);
    }
    return size.bytes;
  }

  /** `(rX + off)`, `(rX - off)` or `(rX)`. */
  private memory(): { base: Reg; off: number } {
    this.expect('(');
    const mem = this.address();
    this.expect(')');
    return mem;
  }

  /** `rX + off`, `rX - off` or `rX`. */
  private address(): { base: Reg; off: number } {
    const base = this.reg('r');
    const sign = this.peek();
    if (sign.text !== '+' && sign.text !== '-') return { base, off: 0 };
    this.next();
    const { value, tok } = this.signedNumber('an offset');
    const off = sign.text === '-' ? -value : value;
    if (off < -32768n || off > 32767n)
      throw this.fail(tok, `offset ${off} does not fit in 16 bits`);
    return { base, off: Number(off) };
  }
}

function describe(tok: Token): string {
  return tok.kind === 'end' ? 'end of line' : `'${tok.text}'`;
}

function aluInsn(
  cls: number,
  op: number,
  dst: number,
  src: Reg | { imm: number },
  off: number,
): Insn {
  return 'n' in src
    ? insn(cls | op | BPF_X, dst, src.n, off)
    : insn(cls | op | BPF_K, dst, 0, off, src.imm);
}

function atomicInsn(size: 4 | 8, mem: { base: Reg; off: number }, src: number, imm: number): Insn {
  return insn(BPF_STX | BPF_ATOMIC | sizeField(size), mem.base.n, src, mem.off, imm);
}

function checkJumpRange(rel: number, bits: 16 | 32, fail: (reason: string) => AsmError): void {
  const limit = 2 ** (bits - 1);
  if (rel < -limit || rel >= limit) {
    throw fail(`jump offset out of range: ${rel} does not fit in ${bits} bits`);
  }
}

// ---------------------------------------------------------------------------
// Names and fixups

/** Looks names up in the options' tables and the kernel's helper list. */
class Resolver {
  private readonly symbols: ReadonlyMap<string, AsmSymbol>;
  private readonly kfuncs: ReadonlyMap<string, number>;
  private readonly helpers: ReadonlyMap<string, number>;

  constructor(options: AsmOptions) {
    this.symbols = toMap(options.symbols);
    this.kfuncs = toMap(options.kfuncs);
    this.helpers = toMap(options.helpers);
  }

  symbol(name: string): AsmSymbol | undefined {
    return this.symbols.get(name);
  }

  kfunc(name: string): number | undefined {
    return this.kfuncs.get(name);
  }

  helper(name: string): number | undefined {
    return this.helpers.get(name) ?? bpfFuncId(name);
  }
}

function toMap<T>(table: NameTable<T> | undefined): ReadonlyMap<string, T> {
  if (table === undefined) return new Map();
  if (table instanceof Map) return table;
  return new Map(Object.entries(table as Readonly<Record<string, T>>));
}

function applyFixup(
  stmt: Stmt,
  slot: number,
  labels: ReadonlyMap<string, number>,
  ctx: Resolver,
): void {
  const fixup = stmt.fixup!;
  const first = stmt.slots[0];
  const fail = (tok: Token, reason: string) => new AsmError(fixup.line, tok.col, reason);
  if (fixup.kind === 'jump') {
    const target = labels.get(fixup.label.text);
    if (target === undefined) throw fail(fixup.label, `unknown label '${fixup.label.text}'`);
    const rel = target - (slot + 1);
    checkJumpRange(rel, fixup.field === 'off' ? 16 : 32, (reason) => fail(fixup.label, reason));
    first[fixup.field] = rel;
    return;
  }
  const name = fixup.name.text;
  const local = labels.get(name);
  if (local !== undefined) {
    first.src = BPF_PSEUDO_CALL;
    first.imm = local - (slot + 1);
    return;
  }
  const kfunc = ctx.kfunc(name);
  if (kfunc !== undefined) {
    first.src = BPF_PSEUDO_KFUNC_CALL;
    first.imm = kfunc;
    return;
  }
  const helper = ctx.helper(name);
  if (helper === undefined) {
    throw fail(fixup.name, `unknown function '${name}': not a label, kfunc or helper`);
  }
  first.imm = helper;
}
