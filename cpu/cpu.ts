/**
 * One emulated CPU: the eBPF interpreter, a GS-style base register and the
 * helper/kfunc tables. `run(ctx, budget)` executes the context's program
 * until exit, a fault, a helper's stop request, or `budget` instructions,
 * leaving every bit of state in the context so it can resume later, here or
 * on another CPU (which is exactly what migration does).
 *
 * Design of the hot loop (after uBPF's vm): one switch over the pre-decoded
 * opcode (case labels are the named opcodes of opcodes.ts), registers as
 * (lo, hi) Int32 pairs in the context's word array, one address check
 * (`address`, inlined) on every memory access, and everything rare (helpers,
 * local calls, faults, wide division) out of line. No allocation and no
 * BigInt on the paths the benchmarks exercise.
 *
 * Memory accesses: an address is valid when its high word is 0 and the access
 * lies in [memory.lowLimit, memory.size). Atomics are plain read-modify-writes in
 * the single-threaded engine and `Atomics` operations when `concurrent` is
 * set (parallel mode); both require natural alignment, as the verifier does.
 *
 * @example
 * const cpu = new Cpu({ memory });
 * const ctx = new CpuContext(loadProgram(insns), stackTop);
 * if (cpu.run(ctx, 1_000_000) === StopReason.Exit) console.log(ctx.reg(0));
 */

import type { PhysicalMemory } from '../segments/memory.ts';
import {
  arsh64,
  bswap,
  lsh64,
  mul64,
  rsh64,
  sdiv64,
  smod64,
  toLe,
  udiv64,
  umod64,
} from './alu64.ts';
import {
  type CpuContext,
  CTX_DEPTH,
  CTX_FRAMES,
  CTX_PC,
  CTX_STACK_TOP,
  FRAME_WORDS,
} from './context.ts';
import { CpuFault } from './fault.ts';
import { HelperTable } from './helpers.ts';
import {
  BPF_ADD,
  BPF_ADDR_PERCPU,
  BPF_AND,
  BPF_CMPXCHG,
  BPF_FETCH,
  BPF_OR,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_X,
  BPF_XCHG,
  BPF_XOR,
  MAX_BPF_STACK,
  MAX_CALL_FRAMES,
} from './opcodes.ts';

/**
 * The opcodes `run` dispatches on, by the kernel's instruction names: _IMM is
 * BPF_K, _REG is BPF_X, a load's or store's suffix is its size. A const enum
 * in this file rather than constants imported from opcodes.ts because that is
 * what costs nothing: esbuild (tsx, vitest) and tsc replace each member with its
 * number, and V8 compiles a switch over number literals to a jump table, where
 * the same switch over `const` variables compares case by case (7-10x slower on
 * Node 20, measured). test/cpu/interpreter-opcodes.test.ts checks every value
 * against the fields of opcodes.ts.
 */
export enum Op {
  // ALU64 (64-bit operations).
  ADD64_IMM = 0x07, // BPF_ALU64 | BPF_ADD | BPF_K
  SUB64_IMM = 0x17, // BPF_ALU64 | BPF_SUB | BPF_K
  MUL64_IMM = 0x27, // BPF_ALU64 | BPF_MUL | BPF_K
  DIV64_IMM = 0x37, // BPF_ALU64 | BPF_DIV | BPF_K
  OR64_IMM = 0x47, // BPF_ALU64 | BPF_OR | BPF_K
  AND64_IMM = 0x57, // BPF_ALU64 | BPF_AND | BPF_K
  LSH64_IMM = 0x67, // BPF_ALU64 | BPF_LSH | BPF_K
  RSH64_IMM = 0x77, // BPF_ALU64 | BPF_RSH | BPF_K
  NEG64 = 0x87, // BPF_ALU64 | BPF_NEG
  MOD64_IMM = 0x97, // BPF_ALU64 | BPF_MOD | BPF_K
  XOR64_IMM = 0xa7, // BPF_ALU64 | BPF_XOR | BPF_K
  MOV64_IMM = 0xb7, // BPF_ALU64 | BPF_MOV | BPF_K
  ARSH64_IMM = 0xc7, // BPF_ALU64 | BPF_ARSH | BPF_K
  ADD64_REG = 0x0f, // BPF_ALU64 | BPF_ADD | BPF_X
  SUB64_REG = 0x1f, // BPF_ALU64 | BPF_SUB | BPF_X
  MUL64_REG = 0x2f, // BPF_ALU64 | BPF_MUL | BPF_X
  DIV64_REG = 0x3f, // BPF_ALU64 | BPF_DIV | BPF_X
  OR64_REG = 0x4f, // BPF_ALU64 | BPF_OR | BPF_X
  AND64_REG = 0x5f, // BPF_ALU64 | BPF_AND | BPF_X
  LSH64_REG = 0x6f, // BPF_ALU64 | BPF_LSH | BPF_X
  RSH64_REG = 0x7f, // BPF_ALU64 | BPF_RSH | BPF_X
  MOD64_REG = 0x9f, // BPF_ALU64 | BPF_MOD | BPF_X
  XOR64_REG = 0xaf, // BPF_ALU64 | BPF_XOR | BPF_X
  MOV64_REG = 0xbf, // BPF_ALU64 | BPF_MOV | BPF_X
  ARSH64_REG = 0xcf, // BPF_ALU64 | BPF_ARSH | BPF_X
  /** v4 `bswap`: BPF_ALU64 | BPF_END | BPF_TO_LE, whatever the byte order. */
  BSWAP = 0xd7, // BPF_ALU64 | BPF_END | BPF_TO_LE
  // ALU (32-bit operations; results zero-extend).
  ADD32_IMM = 0x04, // BPF_ALU | BPF_ADD | BPF_K
  SUB32_IMM = 0x14, // BPF_ALU | BPF_SUB | BPF_K
  MUL32_IMM = 0x24, // BPF_ALU | BPF_MUL | BPF_K
  DIV32_IMM = 0x34, // BPF_ALU | BPF_DIV | BPF_K
  OR32_IMM = 0x44, // BPF_ALU | BPF_OR | BPF_K
  AND32_IMM = 0x54, // BPF_ALU | BPF_AND | BPF_K
  LSH32_IMM = 0x64, // BPF_ALU | BPF_LSH | BPF_K
  RSH32_IMM = 0x74, // BPF_ALU | BPF_RSH | BPF_K
  NEG32 = 0x84, // BPF_ALU | BPF_NEG
  MOD32_IMM = 0x94, // BPF_ALU | BPF_MOD | BPF_K
  XOR32_IMM = 0xa4, // BPF_ALU | BPF_XOR | BPF_K
  MOV32_IMM = 0xb4, // BPF_ALU | BPF_MOV | BPF_K
  ARSH32_IMM = 0xc4, // BPF_ALU | BPF_ARSH | BPF_K
  ADD32_REG = 0x0c, // BPF_ALU | BPF_ADD | BPF_X
  SUB32_REG = 0x1c, // BPF_ALU | BPF_SUB | BPF_X
  MUL32_REG = 0x2c, // BPF_ALU | BPF_MUL | BPF_X
  DIV32_REG = 0x3c, // BPF_ALU | BPF_DIV | BPF_X
  OR32_REG = 0x4c, // BPF_ALU | BPF_OR | BPF_X
  AND32_REG = 0x5c, // BPF_ALU | BPF_AND | BPF_X
  LSH32_REG = 0x6c, // BPF_ALU | BPF_LSH | BPF_X
  RSH32_REG = 0x7c, // BPF_ALU | BPF_RSH | BPF_X
  MOD32_REG = 0x9c, // BPF_ALU | BPF_MOD | BPF_X
  XOR32_REG = 0xac, // BPF_ALU | BPF_XOR | BPF_X
  MOV32_REG = 0xbc, // BPF_ALU | BPF_MOV | BPF_X
  ARSH32_REG = 0xcc, // BPF_ALU | BPF_ARSH | BPF_X
  /** `le16/32/64`: truncate to the width (no swap on a little-endian machine). */
  LE = 0xd4, // BPF_ALU | BPF_END | BPF_TO_LE
  /** `be16/32/64`: swap the bytes of the width. */
  BE = 0xdc, // BPF_ALU | BPF_END | BPF_TO_BE
  // Loads and stores.
  LDDW = 0x18, // BPF_LD | BPF_IMM | BPF_DW: dst = a 64-bit immediate, two slots
  LDXW = 0x61, // BPF_LDX | BPF_MEM | BPF_W
  LDXH = 0x69, // BPF_LDX | BPF_MEM | BPF_H
  LDXB = 0x71, // BPF_LDX | BPF_MEM | BPF_B
  LDXDW = 0x79, // BPF_LDX | BPF_MEM | BPF_DW
  /** v4 sign-extending loads (no 64-bit form: a DW load has nothing to extend). */
  LDXSW = 0x81, // BPF_LDX | BPF_MEMSX | BPF_W
  LDXSH = 0x89, // BPF_LDX | BPF_MEMSX | BPF_H
  LDXSB = 0x91, // BPF_LDX | BPF_MEMSX | BPF_B
  STW = 0x62, // BPF_ST | BPF_MEM | BPF_W
  STH = 0x6a, // BPF_ST | BPF_MEM | BPF_H
  STB = 0x72, // BPF_ST | BPF_MEM | BPF_B
  STDW = 0x7a, // BPF_ST | BPF_MEM | BPF_DW
  STXW = 0x63, // BPF_STX | BPF_MEM | BPF_W
  STXH = 0x6b, // BPF_STX | BPF_MEM | BPF_H
  STXB = 0x73, // BPF_STX | BPF_MEM | BPF_B
  STXDW = 0x7b, // BPF_STX | BPF_MEM | BPF_DW
  ATOMIC_W = 0xc3, // BPF_STX | BPF_ATOMIC | BPF_W
  ATOMIC_DW = 0xdb, // BPF_STX | BPF_ATOMIC | BPF_DW
  // Jumps, calls and exit.
  JA = 0x05, // BPF_JMP | BPF_JA
  /** v4 `gotol`: the offset is the 32-bit imm. */
  JA32 = 0x06, // BPF_JMP32 | BPF_JA
  JEQ_IMM = 0x15, // BPF_JMP | BPF_JEQ | BPF_K
  JEQ_REG = 0x1d, // BPF_JMP | BPF_JEQ | BPF_X
  JGT_IMM = 0x25, // BPF_JMP | BPF_JGT | BPF_K
  JGT_REG = 0x2d, // BPF_JMP | BPF_JGT | BPF_X
  JGE_IMM = 0x35, // BPF_JMP | BPF_JGE | BPF_K
  JGE_REG = 0x3d, // BPF_JMP | BPF_JGE | BPF_X
  JSET_IMM = 0x45, // BPF_JMP | BPF_JSET | BPF_K
  JSET_REG = 0x4d, // BPF_JMP | BPF_JSET | BPF_X
  JNE_IMM = 0x55, // BPF_JMP | BPF_JNE | BPF_K
  JNE_REG = 0x5d, // BPF_JMP | BPF_JNE | BPF_X
  JSGT_IMM = 0x65, // BPF_JMP | BPF_JSGT | BPF_K
  JSGT_REG = 0x6d, // BPF_JMP | BPF_JSGT | BPF_X
  JSGE_IMM = 0x75, // BPF_JMP | BPF_JSGE | BPF_K
  JSGE_REG = 0x7d, // BPF_JMP | BPF_JSGE | BPF_X
  JLT_IMM = 0xa5, // BPF_JMP | BPF_JLT | BPF_K
  JLT_REG = 0xad, // BPF_JMP | BPF_JLT | BPF_X
  JLE_IMM = 0xb5, // BPF_JMP | BPF_JLE | BPF_K
  JLE_REG = 0xbd, // BPF_JMP | BPF_JLE | BPF_X
  JSLT_IMM = 0xc5, // BPF_JMP | BPF_JSLT | BPF_K
  JSLT_REG = 0xcd, // BPF_JMP | BPF_JSLT | BPF_X
  JSLE_IMM = 0xd5, // BPF_JMP | BPF_JSLE | BPF_K
  JSLE_REG = 0xdd, // BPF_JMP | BPF_JSLE | BPF_X
  JEQ32_IMM = 0x16, // BPF_JMP32 | BPF_JEQ | BPF_K
  JEQ32_REG = 0x1e, // BPF_JMP32 | BPF_JEQ | BPF_X
  JGT32_IMM = 0x26, // BPF_JMP32 | BPF_JGT | BPF_K
  JGT32_REG = 0x2e, // BPF_JMP32 | BPF_JGT | BPF_X
  JGE32_IMM = 0x36, // BPF_JMP32 | BPF_JGE | BPF_K
  JGE32_REG = 0x3e, // BPF_JMP32 | BPF_JGE | BPF_X
  JSET32_IMM = 0x46, // BPF_JMP32 | BPF_JSET | BPF_K
  JSET32_REG = 0x4e, // BPF_JMP32 | BPF_JSET | BPF_X
  JNE32_IMM = 0x56, // BPF_JMP32 | BPF_JNE | BPF_K
  JNE32_REG = 0x5e, // BPF_JMP32 | BPF_JNE | BPF_X
  JSGT32_IMM = 0x66, // BPF_JMP32 | BPF_JSGT | BPF_K
  JSGT32_REG = 0x6e, // BPF_JMP32 | BPF_JSGT | BPF_X
  JSGE32_IMM = 0x76, // BPF_JMP32 | BPF_JSGE | BPF_K
  JSGE32_REG = 0x7e, // BPF_JMP32 | BPF_JSGE | BPF_X
  JLT32_IMM = 0xa6, // BPF_JMP32 | BPF_JLT | BPF_K
  JLT32_REG = 0xae, // BPF_JMP32 | BPF_JLT | BPF_X
  JLE32_IMM = 0xb6, // BPF_JMP32 | BPF_JLE | BPF_K
  JLE32_REG = 0xbe, // BPF_JMP32 | BPF_JLE | BPF_X
  JSLT32_IMM = 0xc6, // BPF_JMP32 | BPF_JSLT | BPF_K
  JSLT32_REG = 0xce, // BPF_JMP32 | BPF_JSLT | BPF_X
  JSLE32_IMM = 0xd6, // BPF_JMP32 | BPF_JSLE | BPF_K
  JSLE32_REG = 0xde, // BPF_JMP32 | BPF_JSLE | BPF_X
  CALL = 0x85, // BPF_JMP | BPF_CALL
  /** `callx`: a helper call through the register in dst (the conformance suite's). */
  CALLX = 0x8d, // BPF_JMP | BPF_CALL | BPF_X
  EXIT = 0x95, // BPF_JMP | BPF_EXIT
}

/** What an access does, for `address`: an atomic is a write that must be aligned. */
enum Access {
  Read,
  Write,
  Atomic,
}

export const StopReason = {
  /** The program's main function executed `exit`; r0 holds the result. */
  Exit: 0,
  /** The instruction budget ran out; the context resumes where it stopped. */
  Budget: 1,
  /** A CPU exception; `cpu.fault` says what, the context's pc points at the instruction. */
  Fault: 2,
  /** A helper asked to stop (`cpu.requestStop()`); pc is after the call. */
  Stop: 3,
} as const;
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

/**
 * Observes rare instructions without slowing the common ones: the machine
 * uses it for DEBUG_PREEMPT's check of `this_cpu_ptr`. A probe may throw a
 * CpuFault to kill the task.
 */
export interface CpuProbe {
  /** BPF_MOV64_PERCPU_REG at instruction `pc` is about to add gsBase. */
  thisCpuPtr(cpu: Cpu, ctx: CpuContext, pc: number): void;
  /**
   * The load, store or atomic at instruction `pc` is about to access `size`
   * bytes at `addr`, inside the range set with `cpu.watch` (the sanitizer's
   * per-CPU memory). Atomics are writes.
   */
  memAccess?(
    cpu: Cpu,
    ctx: CpuContext,
    pc: number,
    addr: number,
    size: number,
    kind: 'read' | 'write',
  ): void;
}

export interface CpuOptions {
  memory: PhysicalMemory;
  /** CPU number; 0 by default. */
  id?: number;
  helpers?: HelperTable;
  kfuncs?: HelperTable;
  /** This CPU's per-CPU offset (`__per_cpu_offset[cpu]`). */
  gsBase?: number;
  /** Other threads share the memory: use `Atomics` for atomic instructions. */
  concurrent?: boolean;
}

export class Cpu {
  readonly id: number;
  readonly memory: PhysicalMemory;
  helpers: HelperTable;
  kfuncs: HelperTable;
  /** GS-style base register: `this_cpu_ptr(p) = p + gsBase`. */
  gsBase: number;
  concurrent: boolean;
  probe: CpuProbe | null = null;
  /**
   * Accesses overlapping [watchLo, watchHi) are shown to `probe.memAccess`;
   * set with `watch`. Empty by default.
   */
  private watchLo = 0;
  private watchHi = 0;
  /** The fast path of `address` passes [fastLow, fastEnd); set by each `run`. */
  private fastLow = 0;
  private fastEnd = 0;
  /**
   * Instructions executed by the last `run`; while a helper, kfunc or probe
   * runs, the count so far in the current run (the call included).
   */
  executed = 0;
  /** Total instructions executed by this CPU. */
  totalExecuted = 0;
  /** The exception of the last run that stopped with StopReason.Fault. */
  fault: CpuFault | null = null;
  /** The context being run, while `run` is on the stack. */
  current: CpuContext | null = null;
  private stopRequested = false;
  /** The call depth whose `exit` ends a run: 0, or a callback's frame while one runs. */
  private exitDepth = 0;
  private readonly i32: Int32Array;
  private readonly i64: BigInt64Array;

  constructor(opts: CpuOptions) {
    this.memory = opts.memory;
    this.id = opts.id ?? 0;
    this.helpers = opts.helpers ?? new HelperTable('helper');
    this.kfuncs = opts.kfuncs ?? new HelperTable('kfunc');
    this.gsBase = opts.gsBase ?? 0;
    this.concurrent = opts.concurrent ?? false;
    this.i32 = new Int32Array(opts.memory.buffer);
    this.i64 = new BigInt64Array(opts.memory.buffer);
  }

  /**
   * Shows every access overlapping [lo, hi) to `probe.memAccess`, from the
   * next `run` on; `watch(0, 0)` stops watching. Every access below `hi`
   * then takes the slow path (raising the fast path's lower bound is what
   * keeps the fast path free of a watch test), so this is cheapest for a
   * range low in memory, as per-CPU memory is.
   *
   * @example
   * cpu.watch(chunkStart, chunkEnd);
   */
  watch(lo: number, hi: number): void {
    this.watchLo = lo;
    this.watchHi = hi;
  }

  /**
   * Called by a helper (bpf_for_each_map_elem, bpf_loop): runs the guest
   * function at instruction `target` of the running program on a new call
   * frame with r1.. = `args`, to its `exit`, and returns its r0. The helper
   * still runs whole: a stop that a helper inside asks for is kept for when
   * the outer helper returns. A fault inside is thrown, so it faults the
   * task at the outer call; so does a callback that runs `budget`
   * instructions without returning.
   *
   * @example
   * const stop = cpu.callback(ctx, callbackPc, [mapAddr, keyAddr, valueAddr, cbCtx]);
   */
  callback(ctx: CpuContext, target: number, args: readonly number[], budget = 1 << 24): number {
    const R = ctx.words;
    const returnPc = R[CTX_PC];
    const depth = R[CTX_DEPTH];
    const outer = { exitDepth: this.exitDepth, executed: this.executed };
    let stopLater = this.stopRequested;
    this.enterFrame(R, returnPc - 1, returnPc, target);
    for (let k = 0; k < args.length; k++) ctx.setRegNumber(k + 1, args[k]);
    R[CTX_PC] = target;
    this.exitDepth = depth + 1;
    try {
      for (let left = budget; ; ) {
        const reason = this.run(ctx, left);
        left -= this.executed;
        if (reason === StopReason.Exit) break;
        if (reason === StopReason.Fault) throw this.fault;
        if (reason === StopReason.Stop) stopLater = true;
        else if (left <= 0) {
          throw new CpuFault(
            'bug',
            returnPc - 1,
            `callback at insn ${target} ran ${budget} instructions without returning`,
          );
        }
      }
    } finally {
      this.exitDepth = outer.exitDepth;
      this.executed = outer.executed;
      this.current = ctx;
    }
    const r0 = ctx.regNumber(0);
    this.leaveFrame(R, depth + 1);
    R[CTX_PC] = returnPc;
    this.stopRequested = stopLater;
    return r0;
  }

  /** Called by a helper: stop the run loop once the helper returns. */
  requestStop(): void {
    this.stopRequested = true;
  }

  /**
   * Runs `ctx` for at most `budget` instructions (an `lddw` counts as one).
   * Returns why it stopped; `executed` says how many instructions ran.
   */
  run(ctx: CpuContext, budget: number): StopReason {
    const R = ctx.words;
    const prog = ctx.program;
    const code = prog.code;
    const D = prog.dst2;
    const S = prog.src2;
    const OFF = prog.off;
    const IMM = prog.imm;
    const dv = this.memory.view;
    // Everything below the end of the watched range takes the slow path, which
    // shows the watched part to the probe: no cost per access when not watching.
    this.fastLow = Math.max(this.watchHi, this.memory.lowLimit);
    this.fastEnd = this.memory.size;
    const exitDepth = this.exitDepth;
    let pc = R[CTX_PC];
    let i = pc;
    let n = 0;
    this.fault = null;
    this.current = ctx;
    try {
      for (;;) {
        if (n >= budget) {
          R[CTX_PC] = pc;
          return this.stop(n, StopReason.Budget);
        }
        n++;
        i = pc++;
        switch (code[i]) {
          // ---- ALU64, immediate operand (sign-extended to 64 bits) ----
          case Op.ADD64_IMM: {
            const d = D[i];
            const a = R[d];
            const b = IMM[i];
            const lo = (a + b) | 0;
            R[d + 1] = (R[d + 1] + (b >> 31) + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
            R[d] = lo;
            break;
          }
          case Op.SUB64_IMM: {
            const d = D[i];
            const a = R[d];
            const b = IMM[i];
            R[d] = (a - b) | 0;
            R[d + 1] = (R[d + 1] - (b >> 31) - (a >>> 0 < b >>> 0 ? 1 : 0)) | 0;
            break;
          }
          case Op.MUL64_IMM:
            mul64(R, D[i], IMM[i], IMM[i] >> 31);
            break;
          case Op.DIV64_IMM:
            if (OFF[i] === 0) udiv64(R, D[i], IMM[i], IMM[i] >> 31);
            else sdiv64(R, D[i], IMM[i], IMM[i] >> 31);
            break;
          case Op.OR64_IMM: {
            const d = D[i];
            R[d] |= IMM[i];
            R[d + 1] |= IMM[i] >> 31;
            break;
          }
          case Op.AND64_IMM: {
            const d = D[i];
            R[d] &= IMM[i];
            R[d + 1] &= IMM[i] >> 31;
            break;
          }
          case Op.LSH64_IMM:
            lsh64(R, D[i], IMM[i] & 63);
            break;
          case Op.RSH64_IMM:
            rsh64(R, D[i], IMM[i] & 63);
            break;
          case Op.NEG64: {
            const d = D[i];
            const lo = R[d];
            R[d] = -lo | 0;
            R[d + 1] = (~R[d + 1] + (lo === 0 ? 1 : 0)) | 0;
            break;
          }
          case Op.MOD64_IMM:
            if (OFF[i] === 0) umod64(R, D[i], IMM[i], IMM[i] >> 31);
            else smod64(R, D[i], IMM[i], IMM[i] >> 31);
            break;
          case Op.XOR64_IMM: {
            const d = D[i];
            R[d] ^= IMM[i];
            R[d + 1] ^= IMM[i] >> 31;
            break;
          }
          case Op.MOV64_IMM: {
            const d = D[i];
            R[d] = IMM[i];
            R[d + 1] = IMM[i] >> 31;
            break;
          }
          case Op.ARSH64_IMM:
            arsh64(R, D[i], IMM[i] & 63);
            break;
          case Op.BSWAP:
            bswap(R, D[i], IMM[i]);
            break;

          // ---- ALU64, register operand ----
          case Op.ADD64_REG: {
            const d = D[i];
            const s = S[i];
            const a = R[d];
            const lo = (a + R[s]) | 0;
            R[d + 1] = (R[d + 1] + R[s + 1] + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
            R[d] = lo;
            break;
          }
          case Op.SUB64_REG: {
            const d = D[i];
            const s = S[i];
            const a = R[d];
            const b = R[s];
            R[d] = (a - b) | 0;
            R[d + 1] = (R[d + 1] - R[s + 1] - (a >>> 0 < b >>> 0 ? 1 : 0)) | 0;
            break;
          }
          case Op.MUL64_REG:
            mul64(R, D[i], R[S[i]], R[S[i] + 1]);
            break;
          case Op.DIV64_REG:
            if (OFF[i] === 0) udiv64(R, D[i], R[S[i]], R[S[i] + 1]);
            else sdiv64(R, D[i], R[S[i]], R[S[i] + 1]);
            break;
          case Op.OR64_REG: {
            const d = D[i];
            const s = S[i];
            R[d] |= R[s];
            R[d + 1] |= R[s + 1];
            break;
          }
          case Op.AND64_REG: {
            const d = D[i];
            const s = S[i];
            R[d] &= R[s];
            R[d + 1] &= R[s + 1];
            break;
          }
          case Op.LSH64_REG:
            lsh64(R, D[i], R[S[i]] & 63);
            break;
          case Op.RSH64_REG:
            rsh64(R, D[i], R[S[i]] & 63);
            break;
          case Op.MOD64_REG:
            if (OFF[i] === 0) umod64(R, D[i], R[S[i]], R[S[i] + 1]);
            else smod64(R, D[i], R[S[i]], R[S[i] + 1]);
            break;
          case Op.XOR64_REG: {
            const d = D[i];
            const s = S[i];
            R[d] ^= R[s];
            R[d + 1] ^= R[s + 1];
            break;
          }
          case Op.MOV64_REG: {
            const d = D[i];
            const s = S[i];
            const off = OFF[i];
            if (off === 0) {
              R[d] = R[s];
              R[d + 1] = R[s + 1];
            } else if (off === BPF_ADDR_PERCPU) {
              // BPF_MOV64_PERCPU_REG: dst = src + gsBase (x86: add dst, gs:[this_cpu_off]).
              if (this.probe !== null) {
                this.executed = n;
                this.probe.thisCpuPtr(this, ctx, i);
              }
              const a = R[s];
              const lo = (a + this.gsBase) | 0;
              R[d + 1] = (R[s + 1] + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
              R[d] = lo;
            } else {
              const lo = off === 8 ? (R[s] << 24) >> 24 : off === 16 ? (R[s] << 16) >> 16 : R[s];
              R[d] = lo;
              R[d + 1] = lo >> 31;
            }
            break;
          }
          case Op.ARSH64_REG:
            arsh64(R, D[i], R[S[i]] & 63);
            break;

          // ---- ALU32, immediate operand; results zero-extend ----
          case Op.ADD32_IMM: {
            const d = D[i];
            R[d] = (R[d] + IMM[i]) | 0;
            R[d + 1] = 0;
            break;
          }
          case Op.SUB32_IMM: {
            const d = D[i];
            R[d] = (R[d] - IMM[i]) | 0;
            R[d + 1] = 0;
            break;
          }
          case Op.MUL32_IMM: {
            const d = D[i];
            R[d] = Math.imul(R[d], IMM[i]);
            R[d + 1] = 0;
            break;
          }
          case Op.DIV32_IMM:
            this.div32(R, D[i], IMM[i], OFF[i]);
            break;
          case Op.OR32_IMM: {
            const d = D[i];
            R[d] |= IMM[i];
            R[d + 1] = 0;
            break;
          }
          case Op.AND32_IMM: {
            const d = D[i];
            R[d] &= IMM[i];
            R[d + 1] = 0;
            break;
          }
          case Op.LSH32_IMM: {
            const d = D[i];
            R[d] <<= IMM[i] & 31;
            R[d + 1] = 0;
            break;
          }
          case Op.RSH32_IMM: {
            const d = D[i];
            R[d] = R[d] >>> (IMM[i] & 31);
            R[d + 1] = 0;
            break;
          }
          case Op.NEG32: {
            const d = D[i];
            R[d] = -R[d] | 0;
            R[d + 1] = 0;
            break;
          }
          case Op.MOD32_IMM:
            this.mod32(R, D[i], IMM[i], OFF[i]);
            break;
          case Op.XOR32_IMM: {
            const d = D[i];
            R[d] ^= IMM[i];
            R[d + 1] = 0;
            break;
          }
          case Op.MOV32_IMM: {
            const d = D[i];
            R[d] = IMM[i];
            R[d + 1] = 0;
            break;
          }
          case Op.ARSH32_IMM: {
            const d = D[i];
            R[d] >>= IMM[i] & 31;
            R[d + 1] = 0;
            break;
          }
          case Op.LE:
            toLe(R, D[i], IMM[i]);
            break;

          // ---- ALU32, register operand ----
          case Op.ADD32_REG: {
            const d = D[i];
            R[d] = (R[d] + R[S[i]]) | 0;
            R[d + 1] = 0;
            break;
          }
          case Op.SUB32_REG: {
            const d = D[i];
            R[d] = (R[d] - R[S[i]]) | 0;
            R[d + 1] = 0;
            break;
          }
          case Op.MUL32_REG: {
            const d = D[i];
            R[d] = Math.imul(R[d], R[S[i]]);
            R[d + 1] = 0;
            break;
          }
          case Op.DIV32_REG:
            this.div32(R, D[i], R[S[i]], OFF[i]);
            break;
          case Op.OR32_REG: {
            const d = D[i];
            R[d] |= R[S[i]];
            R[d + 1] = 0;
            break;
          }
          case Op.AND32_REG: {
            const d = D[i];
            R[d] &= R[S[i]];
            R[d + 1] = 0;
            break;
          }
          case Op.LSH32_REG: {
            const d = D[i];
            R[d] <<= R[S[i]] & 31;
            R[d + 1] = 0;
            break;
          }
          case Op.RSH32_REG: {
            const d = D[i];
            R[d] = R[d] >>> (R[S[i]] & 31);
            R[d + 1] = 0;
            break;
          }
          case Op.MOD32_REG:
            this.mod32(R, D[i], R[S[i]], OFF[i]);
            break;
          case Op.XOR32_REG: {
            const d = D[i];
            R[d] ^= R[S[i]];
            R[d + 1] = 0;
            break;
          }
          case Op.MOV32_REG: {
            const d = D[i];
            const v = R[S[i]];
            const off = OFF[i];
            R[d] = off === 8 ? (v << 24) >> 24 : off === 16 ? (v << 16) >> 16 : v;
            R[d + 1] = 0;
            break;
          }
          case Op.ARSH32_REG: {
            const d = D[i];
            R[d] >>= R[S[i]] & 31;
            R[d + 1] = 0;
            break;
          }
          case Op.BE:
            bswap(R, D[i], IMM[i]);
            break;

          // ---- 64-bit immediate load ----
          case Op.LDDW: {
            const d = D[i];
            R[d] = IMM[i];
            R[d + 1] = IMM[i + 1];
            pc++;
            break;
          }

          // ---- loads: dst = *(size *)(src + off) ----
          case Op.LDXW: {
            const a = this.address(R, S[i], OFF[i], 4, Access.Read, i, n);
            const d = D[i];
            R[d] = dv.getInt32(a, true);
            R[d + 1] = 0;
            break;
          }
          case Op.LDXH: {
            const a = this.address(R, S[i], OFF[i], 2, Access.Read, i, n);
            const d = D[i];
            R[d] = dv.getUint16(a, true);
            R[d + 1] = 0;
            break;
          }
          case Op.LDXB: {
            const a = this.address(R, S[i], OFF[i], 1, Access.Read, i, n);
            const d = D[i];
            R[d] = dv.getUint8(a);
            R[d + 1] = 0;
            break;
          }
          case Op.LDXDW: {
            const a = this.address(R, S[i], OFF[i], 8, Access.Read, i, n);
            const d = D[i];
            R[d] = dv.getInt32(a, true);
            R[d + 1] = dv.getInt32(a + 4, true);
            break;
          }
          // Sign-extending loads (v4 BPF_MEMSX).
          case Op.LDXSW: {
            const a = this.address(R, S[i], OFF[i], 4, Access.Read, i, n);
            const d = D[i];
            R[d] = dv.getInt32(a, true);
            R[d + 1] = R[d] >> 31;
            break;
          }
          case Op.LDXSH: {
            const a = this.address(R, S[i], OFF[i], 2, Access.Read, i, n);
            const d = D[i];
            R[d] = dv.getInt16(a, true);
            R[d + 1] = R[d] >> 31;
            break;
          }
          case Op.LDXSB: {
            const a = this.address(R, S[i], OFF[i], 1, Access.Read, i, n);
            const d = D[i];
            R[d] = dv.getInt8(a);
            R[d + 1] = R[d] >> 31;
            break;
          }

          // ---- stores of an immediate: *(size *)(dst + off) = imm ----
          case Op.STW: {
            const a = this.address(R, D[i], OFF[i], 4, Access.Write, i, n);
            dv.setInt32(a, IMM[i], true);
            break;
          }
          case Op.STH: {
            const a = this.address(R, D[i], OFF[i], 2, Access.Write, i, n);
            dv.setInt16(a, IMM[i], true);
            break;
          }
          case Op.STB: {
            const a = this.address(R, D[i], OFF[i], 1, Access.Write, i, n);
            dv.setInt8(a, IMM[i]);
            break;
          }
          case Op.STDW: {
            const a = this.address(R, D[i], OFF[i], 8, Access.Write, i, n);
            dv.setInt32(a, IMM[i], true);
            dv.setInt32(a + 4, IMM[i] >> 31, true);
            break;
          }

          // ---- stores of a register: *(size *)(dst + off) = src ----
          case Op.STXW: {
            const a = this.address(R, D[i], OFF[i], 4, Access.Write, i, n);
            dv.setInt32(a, R[S[i]], true);
            break;
          }
          case Op.STXH: {
            const a = this.address(R, D[i], OFF[i], 2, Access.Write, i, n);
            dv.setInt16(a, R[S[i]], true);
            break;
          }
          case Op.STXB: {
            const a = this.address(R, D[i], OFF[i], 1, Access.Write, i, n);
            dv.setInt8(a, R[S[i]]);
            break;
          }
          case Op.STXDW: {
            const a = this.address(R, D[i], OFF[i], 8, Access.Write, i, n);
            const s = S[i];
            dv.setInt32(a, R[s], true);
            dv.setInt32(a + 4, R[s + 1], true);
            break;
          }

          // ---- atomics: lock *(size *)(dst + off) op= src, fetch, xchg, cmpxchg ----
          case Op.ATOMIC_W: {
            const a = this.address(R, D[i], OFF[i], 4, Access.Atomic, i, n);
            this.atomic32(R, a >> 2, S[i], IMM[i]);
            break;
          }
          case Op.ATOMIC_DW: {
            const a = this.address(R, D[i], OFF[i], 8, Access.Atomic, i, n);
            const s = S[i];
            if (IMM[i] === BPF_ADD && !this.concurrent) {
              // Non-fetching add, the common case: inline.
              const w = a >> 2;
              const M = this.i32;
              const m = M[w];
              const lo = (m + R[s]) | 0;
              M[w + 1] = (M[w + 1] + R[s + 1] + (lo >>> 0 < m >>> 0 ? 1 : 0)) | 0;
              M[w] = lo;
            } else {
              this.atomic64(R, a, s, IMM[i]);
            }
            break;
          }

          // ---- jumps ----
          case Op.JA:
            pc += OFF[i];
            break;
          case Op.JA32:
            pc += IMM[i];
            break;
          case Op.JEQ_IMM: {
            const d = D[i];
            if (R[d] === IMM[i] && R[d + 1] === IMM[i] >> 31) pc += OFF[i];
            break;
          }
          case Op.JEQ_REG: {
            const d = D[i];
            const s = S[i];
            if (R[d] === R[s] && R[d + 1] === R[s + 1]) pc += OFF[i];
            break;
          }
          case Op.JNE_IMM: {
            const d = D[i];
            if (R[d] !== IMM[i] || R[d + 1] !== IMM[i] >> 31) pc += OFF[i];
            break;
          }
          case Op.JNE_REG: {
            const d = D[i];
            const s = S[i];
            if (R[d] !== R[s] || R[d + 1] !== R[s + 1]) pc += OFF[i];
            break;
          }
          case Op.JSET_IMM: {
            const d = D[i];
            if ((R[d] & IMM[i]) !== 0 || (R[d + 1] & (IMM[i] >> 31)) !== 0) pc += OFF[i];
            break;
          }
          case Op.JSET_REG: {
            const d = D[i];
            const s = S[i];
            if ((R[d] & R[s]) !== 0 || (R[d + 1] & R[s + 1]) !== 0) pc += OFF[i];
            break;
          }
          case Op.JLT_IMM: {
            // jlt imm, the common loop test: inline.
            const d = D[i];
            const bh = IMM[i] >> 31;
            const ah = R[d + 1];
            if (ah === bh ? R[d] >>> 0 < IMM[i] >>> 0 : ah >>> 0 < bh >>> 0) pc += OFF[i];
            break;
          }
          case Op.JLT_REG: {
            const d = D[i];
            const s = S[i];
            const ah = R[d + 1];
            const bh = R[s + 1];
            if (ah === bh ? R[d] >>> 0 < R[s] >>> 0 : ah >>> 0 < bh >>> 0) pc += OFF[i];
            break;
          }
          case Op.JGT_IMM:
          case Op.JGE_IMM:
          case Op.JLE_IMM:
          case Op.JSGT_IMM:
          case Op.JSGE_IMM:
          case Op.JSLT_IMM:
          case Op.JSLE_IMM: {
            const d = D[i];
            if (cmp64(code[i], R[d], R[d + 1], IMM[i], IMM[i] >> 31)) pc += OFF[i];
            break;
          }
          case Op.JGT_REG:
          case Op.JGE_REG:
          case Op.JLE_REG:
          case Op.JSGT_REG:
          case Op.JSGE_REG:
          case Op.JSLT_REG:
          case Op.JSLE_REG: {
            const d = D[i];
            const s = S[i];
            if (cmp64(code[i], R[d], R[d + 1], R[s], R[s + 1])) pc += OFF[i];
            break;
          }
          case Op.JEQ32_IMM:
          case Op.JGT32_IMM:
          case Op.JGE32_IMM:
          case Op.JSET32_IMM:
          case Op.JNE32_IMM:
          case Op.JSGT32_IMM:
          case Op.JSGE32_IMM:
          case Op.JLT32_IMM:
          case Op.JLE32_IMM:
          case Op.JSLT32_IMM:
          case Op.JSLE32_IMM:
            if (cmp32(code[i], R[D[i]], IMM[i])) pc += OFF[i];
            break;
          case Op.JEQ32_REG:
          case Op.JGT32_REG:
          case Op.JGE32_REG:
          case Op.JSET32_REG:
          case Op.JNE32_REG:
          case Op.JSGT32_REG:
          case Op.JSGE32_REG:
          case Op.JLT32_REG:
          case Op.JLE32_REG:
          case Op.JSLT32_REG:
          case Op.JSLE32_REG:
            if (cmp32(code[i], R[D[i]], R[S[i]])) pc += OFF[i];
            break;

          // ---- calls and exit ----
          case Op.CALL: {
            const src = prog.src[i];
            if (src === BPF_PSEUDO_CALL) {
              pc = this.enterFrame(R, i, pc, i + IMM[i] + 1);
              break;
            }
            R[CTX_PC] = pc;
            this.executed = n;
            const table = src === BPF_PSEUDO_KFUNC_CALL ? this.kfuncs : this.helpers;
            if (this.callHelper(ctx, table, IMM[i], i)) return this.stop(n, StopReason.Stop);
            pc = R[CTX_PC];
            break;
          }
          case Op.CALLX: {
            // callx: the conformance suite's helper call through the register in dst.
            // The whole 64-bit register is the id: a high word set names no helper.
            R[CTX_PC] = pc;
            this.executed = n;
            const d = D[i];
            const id = (R[d + 1] >>> 0) * 0x1_0000_0000 + (R[d] >>> 0);
            if (this.callHelper(ctx, this.helpers, id, i)) return this.stop(n, StopReason.Stop);
            pc = R[CTX_PC];
            break;
          }
          case Op.EXIT: {
            const depth = R[CTX_DEPTH];
            if (depth === exitDepth) {
              R[CTX_PC] = i;
              return this.stop(n, StopReason.Exit);
            }
            pc = this.leaveFrame(R, depth);
            break;
          }
          default:
            throw this.badPc(prog.length, i, code[i]);
        }
      }
    } catch (e) {
      if (!(e instanceof CpuFault)) throw e;
      R[CTX_PC] = i;
      this.fault = e;
      return this.stop(n, StopReason.Fault);
    }
  }

  private stop(n: number, reason: StopReason): StopReason {
    this.executed = n;
    this.totalExecuted += n;
    this.current = null;
    this.stopRequested = false;
    return reason;
  }

  private badPc(length: number, i: number, code: number): CpuFault {
    if (i < 0 || i >= length) {
      return new CpuFault(
        'jump-out-of-range',
        i,
        `execution left the program (${length} instructions)`,
      );
    }
    return new CpuFault(
      'invalid-opcode',
      i,
      `invalid opcode 0x${code.toString(16).padStart(2, '0')}`,
    );
  }

  /**
   * The memory offset of an access of `size` bytes at `R[reg] + off` by
   * instruction `i`: the one place a guest address is validated. The fast
   * test passes a 32-bit address inside [fastLow, fastEnd); anything else (a
   * high word, below the NULL guard or the watched range's end, past the end of
   * memory, and every atomic's alignment) is decided by `translate`. Small, so
   * V8 inlines it into each case of `run`.
   */
  private address(
    R: Int32Array,
    reg: number,
    off: number,
    size: number,
    kind: Access,
    i: number,
    n: number,
  ): number {
    const a = (R[reg] >>> 0) + off;
    if (
      R[reg + 1] !== 0 ||
      a < this.fastLow ||
      a + size > this.fastEnd ||
      (kind === Access.Atomic && (a & (size - 1)) !== 0)
    ) {
      return this.translate(R, reg, off, size, kind, i, n);
    }
    return a;
  }

  /**
   * The slow path of `address`: computes the full 64-bit address `reg + off`
   * and returns it if the access is valid (after a wrap-around the fast check
   * did not handle), otherwise throws the page fault; an atomic must be
   * naturally aligned. An access touching the watched range is shown to
   * `probe.memAccess` first, which may report it or throw a CpuFault. `n` is
   * the instruction count of the run so far, for the probe's timestamps.
   */
  private translate(
    R: Int32Array,
    reg: number,
    off: number,
    size: number,
    access: Access,
    i: number,
    n: number,
  ): number {
    const kind = access === Access.Read ? 'read' : 'write';
    let a = (R[reg] >>> 0) + off;
    if (R[reg + 1] !== 0 || a < this.memory.lowLimit || a + size > this.memory.size) {
      const addr = BigInt.asUintN(
        64,
        ((BigInt(R[reg + 1] >>> 0) << 32n) | BigInt(R[reg] >>> 0)) + BigInt(off),
      );
      if (addr < this.memory.lowLimit || addr + BigInt(size) > BigInt(this.memory.size)) {
        throw CpuFault.memory(i, addr, size, kind);
      }
      a = Number(addr);
    }
    if (access === Access.Atomic && a % size !== 0) {
      throw new CpuFault(
        'misaligned-atomic',
        i,
        `misaligned atomic ${kind} of ${size} bytes at 0x${a.toString(16)}`,
        { addr: BigInt(a), size, kind },
      );
    }
    if (a < this.watchHi && a + size > this.watchLo && this.probe?.memAccess !== undefined) {
      this.executed = n;
      this.probe.memAccess(this, this.current!, i, a, size, kind);
    }
    return a;
  }

  private div32(R: Int32Array, d: number, b: number, signed: number): void {
    const a = R[d];
    if (b === 0) R[d] = 0;
    else if (signed) R[d] = Math.trunc(a / b) | 0;
    else R[d] = Math.floor((a >>> 0) / (b >>> 0)) | 0;
    R[d + 1] = 0;
  }

  private mod32(R: Int32Array, d: number, b: number, signed: number): void {
    if (b !== 0) R[d] = signed ? (R[d] % b) | 0 : ((R[d] >>> 0) % (b >>> 0)) | 0;
    R[d + 1] = 0;
  }

  private atomic32(R: Int32Array, w: number, s: number, op: number): void {
    const M = this.i32;
    const v = R[s];
    let old: number;
    if (this.concurrent) {
      switch (op & ~BPF_FETCH) {
        case BPF_ADD:
          old = Atomics.add(M, w, v);
          break;
        case BPF_OR:
          old = Atomics.or(M, w, v);
          break;
        case BPF_AND:
          old = Atomics.and(M, w, v);
          break;
        case BPF_XOR:
          old = Atomics.xor(M, w, v);
          break;
        default:
          old =
            op === BPF_XCHG ? Atomics.exchange(M, w, v) : Atomics.compareExchange(M, w, R[0], v);
      }
    } else {
      old = M[w];
      switch (op & ~BPF_FETCH) {
        case BPF_ADD:
          M[w] = (old + v) | 0;
          break;
        case BPF_OR:
          M[w] = old | v;
          break;
        case BPF_AND:
          M[w] = old & v;
          break;
        case BPF_XOR:
          M[w] = old ^ v;
          break;
        default:
          if (op === BPF_XCHG || old === R[0]) M[w] = v;
      }
    }
    if (op === BPF_CMPXCHG) {
      R[0] = old;
      R[1] = 0;
    } else if (op & BPF_FETCH) {
      R[s] = old;
      R[s + 1] = 0;
    }
  }

  private atomic64(R: Int32Array, a: number, s: number, op: number): void {
    let old: bigint;
    const v = BigInt.asIntN(64, (BigInt(R[s + 1]) << 32n) | BigInt(R[s] >>> 0));
    const M = this.i64;
    const w = a >> 3;
    if (this.concurrent) {
      switch (op & ~BPF_FETCH) {
        case BPF_ADD:
          old = Atomics.add(M, w, v);
          break;
        case BPF_OR:
          old = Atomics.or(M, w, v);
          break;
        case BPF_AND:
          old = Atomics.and(M, w, v);
          break;
        case BPF_XOR:
          old = Atomics.xor(M, w, v);
          break;
        default: {
          const expected = BigInt.asIntN(64, (BigInt(R[1]) << 32n) | BigInt(R[0] >>> 0));
          old =
            op === BPF_XCHG
              ? Atomics.exchange(M, w, v)
              : Atomics.compareExchange(M, w, expected, v);
        }
      }
    } else {
      old = M[w];
      switch (op & ~BPF_FETCH) {
        case BPF_ADD:
          M[w] = BigInt.asIntN(64, old + v);
          break;
        case BPF_OR:
          M[w] = old | v;
          break;
        case BPF_AND:
          M[w] = old & v;
          break;
        case BPF_XOR:
          M[w] = old ^ v;
          break;
        default: {
          const expected = BigInt.asIntN(64, (BigInt(R[1]) << 32n) | BigInt(R[0] >>> 0));
          if (op === BPF_XCHG || old === expected) M[w] = v;
        }
      }
    }
    const target = op === BPF_CMPXCHG ? 0 : op & BPF_FETCH ? s : -1;
    if (target >= 0) {
      R[target] = Number(BigInt.asIntN(32, old));
      R[target + 1] = Number(BigInt.asIntN(32, old >> 32n));
    }
  }

  /** Local call: saves the return pc and r6-r9, gives the callee a fresh 512-byte frame. */
  private enterFrame(R: Int32Array, i: number, returnPc: number, target: number): number {
    const depth = R[CTX_DEPTH];
    if (depth + 1 >= MAX_CALL_FRAMES) {
      throw new CpuFault('stack-overflow', i, `call depth exceeds ${MAX_CALL_FRAMES} frames`);
    }
    const f = CTX_FRAMES + depth * FRAME_WORDS;
    R[f] = returnPc;
    R.copyWithin(f + 1, 12, 20);
    R[CTX_DEPTH] = depth + 1;
    R[20] = (R[CTX_STACK_TOP] >>> 0) - (depth + 1) * MAX_BPF_STACK;
    R[21] = 0;
    return target;
  }

  /** Return from a local call: restores r6-r9 and the caller's frame pointer. */
  private leaveFrame(R: Int32Array, depth: number): number {
    const f = CTX_FRAMES + (depth - 1) * FRAME_WORDS;
    R.copyWithin(12, f + 1, f + 9);
    R[CTX_DEPTH] = depth - 1;
    R[20] = (R[CTX_STACK_TOP] >>> 0) - (depth - 1) * MAX_BPF_STACK;
    R[21] = 0;
    return R[f];
  }

  /** Runs a helper or kfunc whole; returns true when it asked the CPU to stop. */
  private callHelper(ctx: CpuContext, table: HelperTable, id: number, i: number): boolean {
    const entry = table.get(id);
    if (entry === undefined) {
      throw new CpuFault('unknown-helper', i, `unknown ${table.kind} ${id}`);
    }
    try {
      entry.fn(ctx, this);
    } catch (e) {
      if (e instanceof CpuFault) throw e;
      if (e instanceof Error && 'errno' in e) {
        throw new CpuFault('helper-error', i, `${entry.name}: ${e.message}`);
      }
      throw e;
    }
    return this.stopRequested;
  }
}

/** 64-bit conditional jumps other than jeq/jne/jset, by opcode (either source). */
function cmp64(code: number, al: number, ah: number, bl: number, bh: number): boolean {
  const op = code | BPF_X;
  if (ah !== bh) {
    // The high words decide: unsigned or signed by the operation.
    const signed =
      op === Op.JSGT_REG || op === Op.JSGE_REG || op === Op.JSLT_REG || op === Op.JSLE_REG;
    const gt = signed ? ah > bh : ah >>> 0 > bh >>> 0;
    return op === Op.JGT_REG || op === Op.JGE_REG || op === Op.JSGT_REG || op === Op.JSGE_REG
      ? gt
      : !gt;
  }
  const x = al >>> 0;
  const y = bl >>> 0;
  switch (op) {
    case Op.JGT_REG:
    case Op.JSGT_REG:
      return x > y;
    case Op.JGE_REG:
    case Op.JSGE_REG:
      return x >= y;
    case Op.JLT_REG:
    case Op.JSLT_REG:
      return x < y;
    default:
      return x <= y;
  }
}

/** 32-bit conditional jumps, by opcode (either source). */
function cmp32(code: number, a: number, b: number): boolean {
  switch (code | BPF_X) {
    case Op.JEQ32_REG:
      return a === b;
    case Op.JGT32_REG:
      return a >>> 0 > b >>> 0;
    case Op.JGE32_REG:
      return a >>> 0 >= b >>> 0;
    case Op.JSET32_REG:
      return (a & b) !== 0;
    case Op.JNE32_REG:
      return a !== b;
    case Op.JSGT32_REG:
      return a > b;
    case Op.JSGE32_REG:
      return a >= b;
    case Op.JLT32_REG:
      return a >>> 0 < b >>> 0;
    case Op.JLE32_REG:
      return a >>> 0 <= b >>> 0;
    case Op.JSLT32_REG:
      return a < b;
    default:
      return a <= b;
  }
}
