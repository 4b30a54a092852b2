/**
 * Disassembler to the LLVM / kernel pseudo-C syntax. For the instructions
 * LLVM 14 knows, a line is what `llvm-objdump -d` prints for it, modulo
 * whitespace and the `<symbol+offset>` note after a jump; with
 * `{ alu32: true }` it is what `llvm-objdump -d --mattr=+alu32` prints
 * (`w1 = *(u32 *)(r2 + 0)`). Plain LLVM 14 cannot print most 32-bit atomics
 * (and misreads `atomic_fetch_add` on u32 as `lock ... +=`); those come out
 * as alu32 mode prints them. What LLVM 14 does not know at all (cpu v4,
 * `%=`, `if r1 & r2`, stores of immediates, local and kfunc calls, pseudo
 * `lddw` sources, `this_cpu_ptr`, `callx` with its register in dst) comes out in
 * the form newer LLVM prints, or else in the syntax cpu/asm/pseudo-c.ts
 * documents, so that `assemble(disassemble(insns).join('\n'))` gives back the
 * same instructions for every program validate() accepts.
 *
 * @example
 * disassemble([insn(0xb7, 0, 0, 0, 1), EXIT_INSN]); // ['r0 = 1', 'exit']
 */

import { bpfFuncName } from './bpf-func-id.ts';
import { type Insn, lddwValue } from './insn.ts';
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
  BPF_DW,
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
  BPF_LD,
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
  BPF_PSEUDO_IMM64,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_PSEUDO_MAP_VALUE,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
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
  sizeBytes,
} from './opcodes.ts';

/**
 * Printing choices; the defaults match plain `llvm-objdump -d`.
 *
 * @example
 * disassemble(insns, { alu32: true, labels: true, helperNames: true });
 */
export interface DisasmOptions {
  /**
   * Name 32-bit loads, stores and `lock` operands `wN`, as
   * `llvm-objdump --mattr=+alu32` does; default false, as plain `llvm-objdump -d`.
   */
  alu32?: boolean;
  /**
   * Print jump and call targets as labels: the given map (label → slot), or
   * `true` to name every target `LBB0_<slot>`. `disassemble` then also emits
   * `name:` lines before the labelled instructions.
   */
  labels?: ReadonlyMap<string, number> | boolean;
  /** Print `call bpf_map_lookup_elem` instead of `call 1` for known helpers. */
  helperNames?: boolean;
  /** Names of kfunc ids, printed as `call name` instead of `call kfunc(id)`. */
  kfuncNames?: ReadonlyMap<number, string>;
  /**
   * Names a 64-bit immediate (a symbol's address or per-CPU pointer), printed
   * as `r1 = name ll`, which the assembler reads back with the same symbols.
   */
  symbolOf?: (value: bigint) => string | undefined;
}

/**
 * The text of the instruction at slot `i`; an `lddw` is read whole from slots
 * `i` and `i + 1`. Opcodes that are not eBPF print as `<unknown>`.
 *
 * @example
 * disassembleInsn([insn(0x25, 1, 0, 3, 5)], 0); // 'if r1 > 5 goto +3'
 */
export function disassembleInsn(
  insns: readonly Insn[],
  i: number,
  opts: DisasmOptions = {},
): string {
  return formatInsn(insns, i, contextFor(insns, opts));
}

/**
 * One line per instruction (an `lddw` is one line). With `labels`, each
 * labelled instruction is preceded by a `name:` line, so the text reassembles.
 *
 * @example
 * disassemble(assemble('if r1 == 0 goto +1\nr0 = 1\nexit').insns, { labels: true });
 * // ['if r1 == 0 goto LBB0_2', 'r0 = 1', 'LBB0_2:', 'exit']
 */
export function disassemble(insns: readonly Insn[], opts: DisasmOptions = {}): string[] {
  const ctx = contextFor(insns, opts);
  const lines: string[] = [];
  for (let i = 0; i < insns.length; i++) {
    const name = ctx.names.get(i);
    if (name !== undefined) lines.push(`${name}:`);
    lines.push(formatInsn(insns, i, ctx));
    if (insns[i].code === LDDW && i + 1 < insns.length) i++;
  }
  return lines;
}

interface Context {
  alu32: boolean;
  helperNames: boolean;
  kfuncNames: ReadonlyMap<number, string>;
  symbolOf: (value: bigint) => string | undefined;
  /** Slot → label, for targets printed by name. */
  names: ReadonlyMap<number, string>;
}

function contextFor(insns: readonly Insn[], opts: DisasmOptions): Context {
  const names = new Map<number, string>();
  if (opts.labels instanceof Map) {
    for (const [name, slot] of opts.labels) if (!names.has(slot)) names.set(slot, name);
  } else if (opts.labels === true) {
    for (const slot of jumpTargets(insns)) names.set(slot, `LBB0_${slot}`);
  }
  return {
    alu32: opts.alu32 ?? false,
    helperNames: opts.helperNames ?? false,
    kfuncNames: opts.kfuncNames ?? new Map(),
    symbolOf: opts.symbolOf ?? (() => undefined),
    names,
  };
}

/** Slots that some jump, local call or `func(...)` lddw lands on, in order. */
function jumpTargets(insns: readonly Insn[]): number[] {
  const targets = new Set<number>();
  for (let i = 0; i < insns.length; i++) {
    const rel = relativeTarget(insns[i]);
    if (rel !== undefined) targets.add(i + 1 + rel);
    if (insns[i].code === LDDW) i++;
  }
  return [...targets].sort((a, b) => a - b);
}

/** The slot offset an instruction jumps or points to, if it has one. */
function relativeTarget(ins: Insn): number | undefined {
  const cls = bpfClass(ins.code);
  const op = bpfOp(ins.code);
  if (ins.code === LDDW) return ins.src === BPF_PSEUDO_FUNC ? ins.imm : undefined;
  if (cls === BPF_JMP32 && op === BPF_JA) return ins.imm;
  if (cls !== BPF_JMP && cls !== BPF_JMP32) return undefined;
  if (op === BPF_CALL) {
    return bpfSrc(ins.code) === BPF_X || ins.src !== BPF_PSEUDO_CALL ? undefined : ins.imm;
  }
  if (op === BPF_EXIT) return undefined;
  return ins.off;
}

const ALU_OPS: Record<number, string> = {
  [BPF_ADD]: '+=',
  [BPF_SUB]: '-=',
  [BPF_MUL]: '*=',
  [BPF_DIV]: '/=',
  [BPF_OR]: '|=',
  [BPF_AND]: '&=',
  [BPF_LSH]: '<<=',
  [BPF_RSH]: '>>=',
  [BPF_MOD]: '%=',
  [BPF_XOR]: '^=',
  [BPF_ARSH]: 's>>=',
};

const JUMP_OPS: Record<number, string> = {
  [BPF_JEQ]: '==',
  [BPF_JGT]: '>',
  [BPF_JGE]: '>=',
  [BPF_JSET]: '&',
  [BPF_JNE]: '!=',
  [BPF_JSGT]: 's>',
  [BPF_JSGE]: 's>=',
  [BPF_JLT]: '<',
  [BPF_JLE]: '<=',
  [BPF_JSLT]: 's<',
  [BPF_JSLE]: 's<=',
};

const ATOMIC_OPS: Record<number, string> = {
  [BPF_ADD]: 'add',
  [BPF_OR]: 'or',
  [BPF_AND]: 'and',
  [BPF_XOR]: 'xor',
};

const PSEUDO_NAMES: Record<number, string> = {
  [BPF_PSEUDO_MAP_FD]: 'map_fd',
  [BPF_PSEUDO_MAP_VALUE]: 'map_value',
  [BPF_PSEUDO_BTF_ID]: 'btf_id',
  [BPF_PSEUDO_FUNC]: 'func',
  [BPF_PSEUDO_MAP_IDX]: 'map_idx',
  [BPF_PSEUDO_MAP_IDX_VALUE]: 'map_idx_value',
};

const UNKNOWN = '<unknown>';

function formatInsn(insns: readonly Insn[], i: number, ctx: Context): string {
  const ins = insns[i];
  switch (bpfClass(ins.code)) {
    case BPF_ALU:
    case BPF_ALU64:
      return formatAlu(ins);
    case BPF_JMP:
    case BPF_JMP32:
      return formatJump(ins, i, ctx);
    case BPF_LD:
      return ins.code === LDDW && i + 1 < insns.length
        ? formatLddw(ins, insns[i + 1], i, ctx)
        : UNKNOWN;
    case BPF_LDX:
      return formatLoad(ins, ctx);
    case BPF_ST:
    case BPF_STX:
      return formatStore(ins, ctx);
  }
  return UNKNOWN;
}

function formatAlu(ins: Insn): string {
  const is64 = bpfClass(ins.code) === BPF_ALU64;
  const x = bpfSrc(ins.code) === BPF_X;
  const op = bpfOp(ins.code);
  const reg = is64 ? 'r' : 'w';
  const dst = `${reg}${ins.dst}`;
  const src = x ? `${reg}${ins.src}` : String(ins.imm);
  switch (op) {
    case BPF_NEG:
      return x ? UNKNOWN : `${dst} = -${dst}`;
    case BPF_END: {
      if (is64 && x) return UNKNOWN;
      const name = is64 ? 'bswap' : x ? 'be' : 'le';
      return `r${ins.dst} = ${name}${ins.imm} r${ins.dst}`;
    }
    case BPF_MOV:
      if (!x) return `${dst} = ${src}`;
      if (ins.off === BPF_ADDR_PERCPU) return `${dst} = this_cpu_ptr(${src})`;
      return ins.off === 0 ? `${dst} = ${src}` : `${dst} = (s${ins.off})${src}`;
    case BPF_DIV:
    case BPF_MOD:
      return `${dst} ${ins.off === 1 ? 's' : ''}${ALU_OPS[op]} ${src}`;
  }
  const text = ALU_OPS[op];
  return text === undefined ? UNKNOWN : `${dst} ${text} ${src}`;
}

function formatJump(ins: Insn, i: number, ctx: Context): string {
  const jmp32 = bpfClass(ins.code) === BPF_JMP32;
  const x = bpfSrc(ins.code) === BPF_X;
  const op = bpfOp(ins.code);
  switch (op) {
    case BPF_JA:
      return jmp32 ? `gotol ${target(ins.imm, i, ctx)}` : `goto ${target(ins.off, i, ctx)}`;
    case BPF_EXIT:
      return jmp32 ? UNKNOWN : 'exit';
    case BPF_CALL:
      if (jmp32) return UNKNOWN;
      return x ? `callx r${ins.dst}` : formatCall(ins, i, ctx);
  }
  const cmp = JUMP_OPS[op];
  if (cmp === undefined) return UNKNOWN;
  const reg = jmp32 ? 'w' : 'r';
  const src = x ? `${reg}${ins.src}` : String(ins.imm);
  return `if ${reg}${ins.dst} ${cmp} ${src} goto ${target(ins.off, i, ctx)}`;
}

function formatCall(ins: Insn, i: number, ctx: Context): string {
  switch (ins.src) {
    case BPF_PSEUDO_HELPER: {
      const name = ctx.helperNames ? bpfFuncName(ins.imm) : undefined;
      return `call ${name ?? ins.imm}`;
    }
    case BPF_PSEUDO_CALL: {
      const name = ctx.names.get(i + 1 + ins.imm);
      return `call ${name ?? `pc${signed(ins.imm)}`}`;
    }
    case BPF_PSEUDO_KFUNC_CALL:
      return `call ${ctx.kfuncNames.get(ins.imm) ?? `kfunc(${ins.imm})`}`;
  }
  return UNKNOWN;
}

function formatLddw(lo: Insn, hi: Insn, i: number, ctx: Context): string {
  const dst = `r${lo.dst}`;
  if (lo.src === BPF_PSEUDO_IMM64) {
    const value = lddwValue(lo, hi);
    return `${dst} = ${ctx.symbolOf(value) ?? BigInt.asIntN(64, value)} ll`;
  }
  const name = PSEUDO_NAMES[lo.src];
  if (name === undefined) return UNKNOWN;
  const first = lo.src === BPF_PSEUDO_FUNC ? target(lo.imm, i, ctx) : String(lo.imm);
  const withOffset = lo.src === BPF_PSEUDO_MAP_VALUE || lo.src === BPF_PSEUDO_MAP_IDX_VALUE;
  const second = withOffset || hi.imm !== 0 ? `, ${hi.imm}` : '';
  return `${dst} = ${name}(${first}${second}) ll`;
}

function formatLoad(ins: Insn, ctx: Context): string {
  const mode = bpfMode(ins.code);
  const size = bpfSize(ins.code);
  const bits = sizeBytes(size) * 8;
  const addr = address(ins.src, ins.off);
  if (mode === BPF_MEMSX) return size === BPF_DW ? UNKNOWN : `r${ins.dst} = *(s${bits} *)(${addr})`;
  if (mode !== BPF_MEM) return UNKNOWN;
  return `${valueReg(ins.dst, size, ctx.alu32)} = *(u${bits} *)(${addr})`;
}

function formatStore(ins: Insn, ctx: Context): string {
  const mode = bpfMode(ins.code);
  const size = bpfSize(ins.code);
  const type = `u${sizeBytes(size) * 8}`;
  const addr = address(ins.dst, ins.off);
  if (bpfClass(ins.code) === BPF_ST) {
    return mode === BPF_MEM ? `*(${type} *)(${addr}) = ${ins.imm}` : UNKNOWN;
  }
  if (mode === BPF_MEM) return `*(${type} *)(${addr}) = ${valueReg(ins.src, size, ctx.alu32)}`;
  if (mode !== BPF_ATOMIC || (size !== BPF_W && size !== BPF_DW)) return UNKNOWN;

  const reg = size === BPF_W ? 'w' : 'r';
  const src = `${reg}${ins.src}`;
  const suffix = size === BPF_W ? '32_32' : '_64';
  if (ins.imm === BPF_XCHG) return `${src} = xchg${suffix}(${addr}, ${src})`;
  if (ins.imm === BPF_CMPXCHG) return `${reg}0 = cmpxchg${suffix}(${addr}, ${reg}0, ${src})`;
  const op = ATOMIC_OPS[ins.imm & ~BPF_FETCH];
  if (op === undefined || (ins.imm & 0x0e) !== 0) return UNKNOWN;
  if (ins.imm & BPF_FETCH) return `${src} = atomic_fetch_${op}((${type} *)(${addr}), ${src})`;
  // LLVM 14 without alu32 knows only the 32-bit add, and names its operand rN.
  const lockReg = size === BPF_W && ins.imm === BPF_ADD && !ctx.alu32 ? `r${ins.src}` : src;
  return `lock *(${type} *)(${addr}) ${ALU_OPS[ins.imm]} ${lockReg}`;
}

/** The register operand of a load or store: `wN` for sub-64-bit accesses in alu32 mode. */
function valueReg(n: number, size: number, alu32: boolean): string {
  return `${alu32 && size !== BPF_DW ? 'w' : 'r'}${n}`;
}

function address(base: number, off: number): string {
  return off < 0 ? `r${base} - ${-off}` : `r${base} + ${off}`;
}

function signed(n: number): string {
  return n < 0 ? String(n) : `+${n}`;
}

function target(rel: number, i: number, ctx: Context): string {
  return ctx.names.get(i + 1 + rel) ?? signed(rel);
}
