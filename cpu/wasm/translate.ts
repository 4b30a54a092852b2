/**
 * Translates a loaded eBPF program into one WebAssembly function, the fast
 * tier's code. The function runs the program from a basic block's first
 * instruction and returns to the host at any point the interpreter must
 * decide, always at an instruction boundary with the exact count:
 *
 * - Registers r0-r10 are i64 locals, loaded from the saved context (its
 *   words in the shared memory) on entry and stored back on every exit.
 * - Basic blocks are the nested wasm blocks of a loop-switch: a `br_table`
 *   on the block number enters the right one; falling through costs nothing,
 *   a taken jump sets the number and branches back to the loop.
 * - The instruction budget is charged per block on entry. When what is left
 *   is smaller than the block, the function returns SHORT with pc at the
 *   block: the host interprets the rest one instruction at a time, so a
 *   budget stop lands on the same instruction as under the interpreter.
 * - Every memory access tests the interpreter's fast range [fastLow,
 *   fastEnd) inline (and alignment, for atomics). Anything else (a fault, a
 *   watched range, a wrap-around) returns INTERP with pc at the access and
 *   the rest of the block refunded: the interpreter executes it, raising the
 *   same CpuFault or showing it to the sanitizer's probe.
 * - Helpers and kfuncs are an imported call; local calls, `exit`, `callx`
 *   and BPF_MOV64_PERCPU_REG while a probe is set return INTERP.
 *
 * @example
 * const code = translate(program);
 * code.labelOf[0]; // 0: the entry is block 0
 */

import { type WasmModule, wasm } from '../../segments/wasm-api.ts';
import { CTX_PC } from '../context.ts';
import {
  BPF_ADD,
  BPF_ADDR_PERCPU,
  BPF_AND,
  BPF_CMPXCHG,
  BPF_FETCH,
  BPF_OR,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_XCHG,
  BPF_XOR,
  LDDW,
} from '../opcodes.ts';
import type { LoadedProgram } from '../program.ts';
import { ATOMIC_RMW, encodeModule, I32, I64, Op, VOID, WasmCode } from './encoder.ts';

/** Why the code returned to the host (the low two bits of its result). */
export const Exit = {
  /** Run the instruction at pc with the interpreter, then the rest of its block. */
  Interp: 0,
  /** The budget left is smaller than the block at pc. */
  Short: 1,
  /** A helper asked to stop, or moved pc or the program: pc is in the context. */
  Host: 2,
} as const;

/** The most budget one call takes: the result packs `left * 4 + exit` into an i32. */
export const MAX_CALL_BUDGET = (1 << 29) - 1;

export interface Translation {
  /** Block number of each instruction that starts a block, -1 elsewhere. */
  readonly labelOf: Int32Array;
  /** Instructions from each pc to the end of its block, inclusive: where the interpreter hands back. */
  readonly stepsToLeader: Int32Array;
  readonly blocks: number;
  /** The module's bytes (for a worker to compile its own copy). */
  readonly bytes: Uint8Array;
  readonly module: WasmModule;
}

// Parameters of `run`, then its locals.
const P_CTX = 0;
const P_BUDGET = 1;
const P_ENTRY = 2;
const P_FAST_LOW = 3;
const P_FAST_END = 4;
const P_GS = 5;
const P_FLAGS = 6;
const PARAMS = [I32, I32, I32, I32, I32, I32, I32];
const R0 = 7; // r0..r10: 7..17
const L_ADDR = 18;
const L_FL = 19;
const L_GS = 20;
const L_TMP = 21;
/** fastEnd - size, for size 1, 2, 4, 8: 22..25. */
const L_FE = [0, 22, 23, 0, 24, 0, 0, 0, 25];
const L_LEFT = 26;
const L_LABEL = 27;
const L_STATUS = 28;
const L_PCOUT = 29;
const L_T32 = 30;
const LOCALS = [...Array(19).fill(I64), I32, I32, I32, I32, I32];

/** `flags` bit: a probe is set, so BPF_MOV64_PERCPU_REG goes to the interpreter. */
export const FLAG_PROBE = 1;
/** `flags` bit: other threads share the memory, so atomics must be wasm atomics. */
export const FLAG_CONCURRENT = 2;

/** Opcodes that end a basic block: every jump, call and exit. */
function endsBlock(code: number): boolean {
  const cls = code & 7;
  return cls === 0x05 || cls === 0x06;
}

/**
 * Compiles `prog` for any shared memory (PhysicalMemory.allocate). Throws a
 * RangeError for a program too big for one function (more blocks than a
 * br_table holds), which the caller turns into "interpret this one".
 */
export function translate(prog: LoadedProgram): Translation {
  const n = prog.length;
  const { code, off, imm, src } = prog;
  const D = prog.dst2;
  const S = prog.src2;
  const leader = new Uint8Array(n + 1);
  leader[0] = 1;
  for (let i = 0; i < n; i++) {
    const c = code[i];
    if (c === LDDW) {
      if (src[i] === BPF_PSEUDO_FUNC) mark(leader, imm[i], n);
      i++;
      continue;
    }
    if (!endsBlock(c)) continue;
    mark(leader, i + 1, n);
    const op = c & 0xf0;
    if (c === 0x06) mark(leader, i + imm[i] + 1, n);
    else if (op === 0x80) {
      if (c === 0x85 && src[i] === BPF_PSEUDO_CALL) mark(leader, i + imm[i] + 1, n);
    } else if (op !== 0x90) mark(leader, i + off[i] + 1, n);
  }
  const labelOf = new Int32Array(n).fill(-1);
  const starts: number[] = [];
  for (let i = 0; i < n; i++) {
    if (leader[i] && code[i] !== 0) {
      labelOf[i] = starts.length;
      starts.push(i);
    }
  }
  const blocks = starts.length;
  if (blocks > 60000)
    throw new RangeError(`${blocks} basic blocks is more than one br_table holds`);
  // Instructions per block and the steps from each pc to its block's end.
  const stepsToLeader = new Int32Array(n + 1).fill(1);
  const counts = new Int32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const end = b + 1 < blocks ? starts[b + 1] : n;
    let k = 0;
    for (let i = starts[b]; i < end; i += code[i] === LDDW ? 2 : 1) k++;
    counts[b] = k;
    let left = k;
    for (let i = starts[b]; i < end; i += code[i] === LDDW ? 2 : 1) stepsToLeader[i] = left--;
  }

  const w = new WasmCode();
  // Entry: registers from the context, fast range and gs base widened once.
  for (let r = 0; r <= 10; r++) {
    w.op(Op.local_get)
      .u32(P_CTX)
      .op(Op.i64_load)
      .mem(2, 8 * r)
      .op(Op.local_set)
      .u32(R0 + r);
  }
  w.op(Op.local_get).u32(P_FAST_LOW).op(Op.i64_extend_i32_u).op(Op.local_set).u32(L_FL);
  for (const size of [1, 2, 4, 8]) {
    w.op(Op.local_get).u32(P_FAST_END).op(Op.i64_extend_i32_u);
    w.op(Op.i64_const).s32(size).op(Op.i64_sub).op(Op.local_set).u32(L_FE[size]);
  }
  w.op(Op.local_get).u32(P_GS).op(Op.i64_extend_i32_u).op(Op.local_set).u32(L_GS);
  w.op(Op.local_get).u32(P_BUDGET).op(Op.local_set).u32(L_LEFT);
  w.op(Op.local_get).u32(P_ENTRY).op(Op.local_set).u32(L_LABEL);
  w.op(Op.block).byte(VOID); // $out
  w.op(Op.loop).byte(VOID); // $dispatch
  for (let b = 0; b < blocks; b++) w.op(Op.block).byte(VOID);
  w.op(Op.local_get).u32(L_LABEL).op(Op.br_table).u32(blocks);
  for (let b = 0; b < blocks; b++) w.u32(b);
  w.u32(blocks); // any other number: out (never taken, the host passes a block)

  // Block b's code follows the end of wasm block b; `extra` counts ifs open inside it.
  let b = 0;
  let extra = 0;
  const toDispatch = () => blocks - 1 - b + extra;
  const toOut = () => blocks - b + extra;
  const exitWith = (status: number, pc: number, refund: number) => {
    w.op(Op.i32_const).s32(pc).op(Op.local_set).u32(L_PCOUT);
    if (refund !== 0) {
      w.op(Op.local_get).u32(L_LEFT).op(Op.i32_const).s32(refund).op(Op.i32_add);
      w.op(Op.local_set).u32(L_LEFT);
    }
    w.op(Op.i32_const).s32(status).op(Op.local_set).u32(L_STATUS);
    w.op(Op.br).u32(toOut());
  };
  const openIf = () => {
    w.op(Op.if).byte(VOID);
    extra++;
  };
  const closeIf = () => {
    w.op(Op.end);
    extra--;
  };
  let selfLoopAt = -1;
  const goto = (target: number) => {
    if (target === selfLoopAt) {
      w.op(Op.br).u32(extra - 1);
      return;
    }
    const label = target >= 0 && target < n ? labelOf[target] : -1;
    if (label < 0) {
      // Out of the program or into an lddw (validation refuses both): the interpreter faults.
      exitWith(Exit.Interp, target, 0);
      return;
    }
    w.op(Op.i32_const).s32(label).op(Op.local_set).u32(L_LABEL);
    w.op(Op.br).u32(toDispatch());
  };
  const reg = (r2: number) => R0 + (r2 >> 1);
  const get = (local: number) => w.op(Op.local_get).u32(local);
  const set = (local: number) => w.op(Op.local_set).u32(local);
  const i64 = (v: number) => w.op(Op.i64_const).s32(v);

  for (b = 0; b < blocks; b++) {
    w.op(Op.end);
    const start = starts[b];
    const end = b + 1 < blocks ? starts[b + 1] : n;
    const count = counts[b];
    // A block that jumps to itself (a tight loop) loops in place, not through the dispatch.
    const selfLoop = jumpsTo(prog, start, end, start);
    selfLoopAt = selfLoop ? start : -1;
    if (selfLoop) {
      w.op(Op.loop).byte(VOID);
      extra++;
    }
    // Charge the block, or hand the rest of the budget to the interpreter.
    get(L_LEFT).op(Op.i32_const).s32(count).op(Op.i32_lt_u);
    openIf();
    exitWith(Exit.Short, start, 0);
    closeIf();
    get(L_LEFT).op(Op.i32_const).s32(count).op(Op.i32_sub);
    set(L_LEFT);
    let j = 0;
    let i = start;
    let fellOff = true;
    for (; i < end; i += code[i] === LDDW ? 2 : 1, j++) {
      const refund = count - j;
      const c = code[i];
      const d = reg(D[i]);
      const s = reg(S[i]);
      /** The address `base + off` in L_ADDR, checked as the interpreter's fast path does. */
      const address = (base: number, size: number, atomic: boolean) => {
        get(base).op(Op.i64_const).s32(off[i]).op(Op.i64_add).op(Op.local_tee).u32(L_ADDR);
        get(L_FL).op(Op.i64_lt_u);
        get(L_ADDR).op(Op.local_get).u32(L_FE[size]).op(Op.i64_gt_u).op(Op.i32_or);
        if (atomic) {
          get(L_ADDR)
            .op(Op.i32_wrap_i64)
            .op(Op.i32_const)
            .s32(size - 1)
            .op(Op.i32_and);
          w.op(Op.i32_or);
        }
        openIf();
        exitWith(Exit.Interp, i, refund);
        closeIf();
        get(L_ADDR).op(Op.i32_wrap_i64);
      };
      const cls = c & 7;
      if (cls === 0x07 || cls === 0x04) {
        const alu64 = cls === 0x07;
        const isReg = (c & 0x08) !== 0;
        const op = c & 0xf0;
        const pushSrc = () => {
          if (alu64) {
            if (isReg) get(s);
            else i64(imm[i]);
          } else if (isReg) get(s).op(Op.i32_wrap_i64);
          else w.op(Op.i32_const).s32(imm[i]);
        };
        const pushDst = () => {
          get(d);
          if (!alu64) w.op(Op.i32_wrap_i64);
        };
        const finish = () => {
          if (!alu64) w.op(Op.i64_extend_i32_u);
          set(d);
        };
        const simple = (op64: number, op32: number) => {
          pushDst();
          pushSrc();
          w.op(alu64 ? op64 : op32);
          finish();
        };
        switch (op) {
          case 0x00:
            simple(Op.i64_add, Op.i32_add);
            break;
          case 0x10:
            simple(Op.i64_sub, Op.i32_sub);
            break;
          case 0x20:
            simple(Op.i64_mul, Op.i32_mul);
            break;
          case 0x40:
            simple(Op.i64_or, Op.i32_or);
            break;
          case 0x50:
            simple(Op.i64_and, Op.i32_and);
            break;
          case 0x60:
            simple(Op.i64_shl, Op.i32_shl);
            break;
          case 0x70:
            simple(Op.i64_shr_u, Op.i32_shr_u);
            break;
          case 0xa0:
            simple(Op.i64_xor, Op.i32_xor);
            break;
          case 0xc0:
            simple(Op.i64_shr_s, Op.i32_shr_s);
            break;
          case 0x80: // neg
            if (alu64) i64(0);
            else w.op(Op.i32_const).s32(0);
            pushDst();
            w.op(alu64 ? Op.i64_sub : Op.i32_sub);
            finish();
            break;
          case 0x30: // div: by zero gives 0; signed INT_MIN / -1 wraps (wasm would trap)
          case 0x90: {
            // mod: by zero leaves dst (its low word for mod32)
            const isDiv = op === 0x30;
            const signed = off[i] === 1;
            const ty = alu64 ? I64 : I32;
            const tmp = alu64 ? L_TMP : L_T32;
            pushSrc();
            w.op(Op.local_tee)
              .u32(tmp)
              .op(alu64 ? Op.i64_eqz : Op.i32_eqz);
            w.op(Op.if).byte(ty);
            if (isDiv) {
              if (alu64) i64(0);
              else w.op(Op.i32_const).s32(0);
            } else pushDst();
            w.op(Op.else);
            if (signed && isDiv) {
              get(tmp);
              if (alu64) i64(-1).op(Op.i64_eq);
              else w.op(Op.i32_const).s32(-1).op(Op.i32_eq);
              w.op(Op.if).byte(ty);
              if (alu64) i64(0);
              else w.op(Op.i32_const).s32(0);
              pushDst();
              w.op(alu64 ? Op.i64_sub : Op.i32_sub);
              w.op(Op.else);
              pushDst();
              get(tmp).op(alu64 ? Op.i64_div_s : Op.i32_div_s);
              w.op(Op.end);
            } else {
              pushDst();
              get(tmp);
              if (isDiv)
                w.op(
                  alu64
                    ? signed
                      ? Op.i64_div_s
                      : Op.i64_div_u
                    : signed
                      ? Op.i32_div_s
                      : Op.i32_div_u,
                );
              else
                w.op(
                  alu64
                    ? signed
                      ? Op.i64_rem_s
                      : Op.i64_rem_u
                    : signed
                      ? Op.i32_rem_s
                      : Op.i32_rem_u,
                );
            }
            w.op(Op.end);
            finish();
            break;
          }
          case 0xb0: {
            // mov, movsx, and BPF_MOV64_PERCPU_REG
            if (!isReg) {
              if (alu64) i64(imm[i]);
              else w.op(Op.i64_const).s64(imm[i], 0);
              set(d);
              break;
            }
            const o = off[i];
            if (alu64 && o === BPF_ADDR_PERCPU) {
              get(P_FLAGS).op(Op.i32_const).s32(FLAG_PROBE).op(Op.i32_and);
              openIf();
              exitWith(Exit.Interp, i, refund);
              closeIf();
              get(s);
              get(L_GS).op(Op.i64_add);
              set(d);
              break;
            }
            get(s);
            if (alu64) {
              if (o === 8) w.op(Op.i64_extend8_s);
              else if (o === 16) w.op(Op.i64_extend16_s);
              else if (o === 32) w.op(Op.i64_extend32_s);
            } else {
              w.op(Op.i32_wrap_i64);
              if (o === 8) w.op(Op.i32_extend8_s);
              else if (o === 16) w.op(Op.i32_extend16_s);
              w.op(Op.i64_extend_i32_u);
            }
            set(d);
            break;
          }
          case 0xd0: {
            // le, be, bswap: a little-endian host, so only `be` and `bswap` swap
            const width = imm[i];
            const swap = c !== 0xd4;
            if (!swap) {
              if (width === 16)
                get(d).op(Op.i64_const).s32(0xffff).op(Op.i64_and).op(Op.local_set).u32(d);
              else if (width === 32)
                get(d).op(Op.i32_wrap_i64).op(Op.i64_extend_i32_u).op(Op.local_set).u32(d);
              break;
            }
            if (width === 16) {
              get(d)
                .op(Op.i64_const)
                .s32(0xff)
                .op(Op.i64_and)
                .op(Op.i64_const)
                .s32(8)
                .op(Op.i64_shl);
              get(d)
                .op(Op.i64_const)
                .s32(8)
                .op(Op.i64_shr_u)
                .op(Op.i64_const)
                .s32(0xff)
                .op(Op.i64_and);
              w.op(Op.i64_or);
            } else if (width === 32) {
              get(d).op(Op.i32_wrap_i64);
              bswap32(w);
              w.op(Op.i64_extend_i32_u);
            } else {
              get(d).op(Op.i32_wrap_i64);
              bswap32(w);
              w.op(Op.i64_extend_i32_u).op(Op.i64_const).s32(32).op(Op.i64_shl);
              get(d).op(Op.i64_const).s32(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64);
              bswap32(w);
              w.op(Op.i64_extend_i32_u).op(Op.i64_or);
            }
            set(d);
            break;
          }
          default:
            exitWith(Exit.Interp, i, refund);
        }
        continue;
      }
      if (c === LDDW) {
        w.op(Op.i64_const).s64(imm[i], imm[i + 1]);
        set(d);
        continue;
      }
      if (cls === 0x01) {
        // loads, zero- or (BPF_MEMSX) sign-extending
        const size = [4, 2, 1, 8][(c >> 3) & 3];
        const signed = (c & 0xe0) === 0x80;
        address(s, size, false);
        const ops: Record<number, number> = signed
          ? { 1: Op.i64_load8_s, 2: Op.i64_load16_s, 4: Op.i64_load32_s }
          : { 1: Op.i64_load8_u, 2: Op.i64_load16_u, 4: Op.i64_load32_u, 8: Op.i64_load };
        w.op(ops[size]).mem(0, 0);
        set(d);
        continue;
      }
      if (cls === 0x02 || (cls === 0x03 && (c & 0xe0) === 0x60)) {
        const size = [4, 2, 1, 8][(c >> 3) & 3];
        address(d, size, false);
        if (cls === 0x02) i64(imm[i]);
        else get(s);
        const ops: Record<number, number> = {
          1: Op.i64_store8,
          2: Op.i64_store16,
          4: Op.i64_store32,
          8: Op.i64_store,
        };
        w.op(ops[size]).mem(0, 0);
        continue;
      }
      if (c === 0xc3 || c === 0xdb) {
        const size = c === 0xdb ? 8 : 4;
        const a = imm[i];
        const kind =
          a === BPF_CMPXCHG
            ? 'cmpxchg'
            : a === BPF_XCHG
              ? 'xchg'
              : ({ [BPF_ADD]: 'add', [BPF_OR]: 'or', [BPF_AND]: 'and', [BPF_XOR]: 'xor' } as const)[
                  a & ~BPF_FETCH
                ];
        if (kind === undefined) {
          exitWith(Exit.Interp, i, refund);
          continue;
        }
        address(d, size, true);
        w.op(Op.local_set).u32(L_T32);
        if (kind === 'add' && !(a & BPF_FETCH)) {
          // The common non-fetching add: a plain add when no other thread shares the memory.
          get(P_FLAGS).op(Op.i32_const).s32(FLAG_CONCURRENT).op(Op.i32_and);
          w.op(Op.if).byte(VOID);
          get(L_T32);
          get(s);
          const rmw = ATOMIC_RMW.add;
          w.op(Op.atomic)
            .u32(size === 8 ? rmw.w64 : rmw.w32)
            .mem(size === 8 ? 3 : 2, 0);
          w.op(Op.drop);
          w.op(Op.else);
          get(L_T32);
          get(L_T32)
            .op(size === 8 ? Op.i64_load : Op.i64_load32_u)
            .mem(size === 8 ? 3 : 2, 0);
          get(s).op(Op.i64_add);
          w.op(size === 8 ? Op.i64_store : Op.i64_store32).mem(size === 8 ? 3 : 2, 0);
          w.op(Op.end);
          continue;
        }
        get(L_T32);
        if (kind === 'cmpxchg') get(R0);
        get(s);
        const rmw = ATOMIC_RMW[kind];
        w.op(Op.atomic)
          .u32(size === 8 ? rmw.w64 : rmw.w32)
          .mem(size === 8 ? 3 : 2, 0);
        if (kind === 'cmpxchg') set(R0);
        else if (a & BPF_FETCH) set(s);
        else w.op(Op.drop);
        continue;
      }
      if (cls === 0x05 || cls === 0x06) {
        fellOff = false;
        const op = c & 0xf0;
        if (op === 0x00) {
          const target = c === 0x06 ? i + imm[i] + 1 : i + off[i] + 1;
          if (target !== end || labelOf[target] !== b + 1) goto(target);
          continue;
        }
        if (op === 0x90 || c === 0x8d || (c === 0x85 && src[i] === BPF_PSEUDO_CALL)) {
          exitWith(Exit.Interp, i, refund);
          continue;
        }
        if (c === 0x85) {
          // A helper or kfunc: registers to the context, the host call, registers back.
          for (let r = 0; r <= 9; r++)
            get(P_CTX)
              .op(Op.local_get)
              .u32(R0 + r)
              .op(Op.i64_store)
              .mem(2, 8 * r);
          w.op(Op.i32_const).s32(src[i] === BPF_PSEUDO_KFUNC_CALL ? 1 : 0);
          w.op(Op.i32_const).s32(imm[i]).op(Op.i32_const).s32(i);
          get(L_LEFT).op(Op.call).u32(0);
          w.op(Op.local_set).u32(L_T32);
          for (let r = 0; r <= 9; r++)
            get(P_CTX)
              .op(Op.i64_load)
              .mem(2, 8 * r)
              .op(Op.local_set)
              .u32(R0 + r);
          get(L_T32);
          openIf();
          get(P_CTX)
            .op(Op.i32_load)
            .mem(2, 4 * CTX_PC)
            .op(Op.local_set)
            .u32(L_PCOUT);
          w.op(Op.i32_const).s32(Exit.Host).op(Op.local_set).u32(L_STATUS);
          w.op(Op.br).u32(toOut());
          closeIf();
          fellOff = true; // on to the next instruction, the next block
          continue;
        }
        // Conditional jumps, 64- or 32-bit.
        const jmp32 = cls === 0x06;
        const isReg = (c & 0x08) !== 0;
        get(d);
        if (jmp32) w.op(Op.i32_wrap_i64);
        if (isReg) {
          get(s);
          if (jmp32) w.op(Op.i32_wrap_i64);
        } else if (jmp32) w.op(Op.i32_const).s32(imm[i]);
        else i64(imm[i]);
        const cmp = JUMP_CMP[op];
        if (cmp === undefined) {
          w.op(Op.drop).op(Op.drop);
          exitWith(Exit.Interp, i, refund);
          continue;
        }
        if (op === 0x40) {
          // jset: (dst & src) != 0
          if (jmp32) w.op(Op.i32_and).op(Op.i32_const).s32(0).op(Op.i32_ne);
          else w.op(Op.i64_and).op(Op.i64_const).s32(0).op(Op.i64_ne);
        } else w.op(jmp32 ? cmp - 0x0b : cmp);
        openIf();
        goto(i + off[i] + 1);
        closeIf();
        fellOff = true;
        continue;
      }
      // Anything else (legacy packet loads, unknown opcodes): the interpreter decides.
      exitWith(Exit.Interp, i, refund);
      fellOff = false;
    }
    if (fellOff && (b + 1 >= blocks || starts[b + 1] !== i)) {
      // Past the last instruction: the interpreter reports it.
      exitWith(Exit.Interp, i, 0);
    }
    if (selfLoop) {
      w.op(Op.end);
      extra--;
    }
  }
  w.op(Op.end); // loop
  w.op(Op.end); // $out
  // Exit: registers and pc to the context; `left * 4 + status`.
  for (let r = 0; r <= 9; r++)
    get(P_CTX)
      .op(Op.local_get)
      .u32(R0 + r)
      .op(Op.i64_store)
      .mem(2, 8 * r);
  get(P_CTX)
    .op(Op.local_get)
    .u32(L_PCOUT)
    .op(Op.i32_store)
    .mem(2, 4 * CTX_PC);
  get(L_LEFT).op(Op.i32_const).s32(2).op(Op.i32_shl).op(Op.local_get).u32(L_STATUS).op(Op.i32_or);

  const bytes = encodeModule({
    types: [
      { params: [I32, I32, I32, I32], results: [I32] },
      { params: PARAMS, results: [I32] },
    ],
    funcImports: [{ module: 'env', name: 'helper', type: 0 }],
    memory: { module: 'env', name: 'memory', min: 1, max: 0x1_0000, shared: true },
    funcs: [{ name: 'run', type: 1, locals: LOCALS, body: w }],
  });
  return {
    labelOf,
    stepsToLeader,
    blocks,
    bytes,
    module: new wasm.Module(bytes as Uint8Array<ArrayBuffer>),
  };
}

/** Whether a jump in [start, end) goes to `target`. */
function jumpsTo(prog: LoadedProgram, start: number, end: number, target: number): boolean {
  for (let i = start; i < end; i += prog.code[i] === LDDW ? 2 : 1) {
    const c = prog.code[i];
    const cls = c & 7;
    if ((cls !== 0x05 && cls !== 0x06) || (c & 0xf0) === 0x80 || (c & 0xf0) === 0x90) continue;
    const t = c === 0x06 ? i + prog.imm[i] + 1 : i + prog.off[i] + 1;
    if (t === target) return true;
  }
  return false;
}

function mark(leader: Uint8Array, at: number, n: number): void {
  if (at >= 0 && at < n) leader[at] = 1;
}

/** The i64 comparison of each conditional jump op; the i32 one is 0x0b lower. */
const JUMP_CMP: Record<number, number> = {
  16: Op.i64_eq,
  32: Op.i64_gt_u,
  48: Op.i64_ge_u,
  64: Op.i64_ne,
  80: Op.i64_ne,
  96: Op.i64_gt_s,
  112: Op.i64_ge_s,
  160: Op.i64_lt_u,
  176: Op.i64_le_u,
  192: Op.i64_lt_s,
  208: Op.i64_le_s,
};

/** bswap32 of the i32 on the stack: (rotl 8 & 0x00ff00ff) | (rotr 8 & 0xff00ff00). */
function bswap32(w: WasmCode): void {
  w.op(Op.local_tee).u32(L_T32).op(Op.i32_const).s32(8).op(Op.i32_rotl);
  w.op(Op.i32_const).s32(0x00ff00ff).op(Op.i32_and);
  w.op(Op.local_get).u32(L_T32).op(Op.i32_const).s32(8).op(0x78 /* i32.rotr */);
  w.op(Op.i32_const)
    .s32(0xff00ff00 | 0)
    .op(Op.i32_and)
    .op(Op.i32_or);
}
