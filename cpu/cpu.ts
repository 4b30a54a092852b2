/**
 * One emulated CPU: the eBPF interpreter, a GS-style base register and the
 * helper/kfunc tables. `run(ctx, budget)` executes the context's program
 * until exit, a fault, a helper's stop request, or `budget` instructions,
 * leaving every bit of state in the context so it can resume later, here or
 * on another CPU (which is exactly what migration does).
 *
 * Design of the hot loop (after uBPF's vm): one switch over the pre-decoded
 * opcode, registers as (lo, hi) Int32 pairs in the context's word array, one
 * address check (`address`, inlined) on every memory access, and everything
 * rare (helpers, local calls, faults, wide division) out of line. No
 * allocation and no BigInt on the paths the benchmarks exercise.
 *
 * Case labels are number literals with the opcode's name beside them, by the
 * kernel's instruction macros (ADD64_IMM is BPF_ALU64 | BPF_ADD | BPF_K, _REG
 * is BPF_X, a load's or store's suffix its size). Named constants would cost:
 * V8 (Node 20) compiles a switch over literals to a jump table and one over
 * `const` bindings, imported or local, to a chain of compares (7-10x slower,
 * measured), and an enum is inlined by esbuild but not by tsc under
 * verbatimModuleSyntax (the package build). test/cpu/interpreter-opcodes.test.ts
 * checks every label against its name and the fields of opcodes.ts.
 *
 * Memory accesses: an address is valid when its high word is 0, the access
 * lies in [memory.lowLimit, memory.size) and `memory.protection` grants it
 * (the kernel's own structures are not the guest's). Atomics are plain read-modify-writes in
 * the single-threaded engine and `Atomics` operations when `concurrent` is
 * set (parallel mode); both require natural alignment, as the verifier does.
 *
 * @example
 * const cpu = new Cpu({ memory });
 * const ctx = new CpuContext(loadProgram(insns), stackTop);
 * if (cpu.run(ctx, 1_000_000) === StopReason.Exit) console.log(ctx.reg(0));
 */

import type { PhysicalMemory } from '../segments/memory.ts';
import { PageProtection } from '../segments/page-protection.ts';
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
import type { LoadedProgram } from './program.ts';
import { StopReason, TAIL_CALL } from './stop-reason.ts';
import { WasmTier } from './wasm/instance.ts';
import { hot, type Tier, translationOf } from './wasm/tier.ts';

/**
 * What an access does, for `address`: 0 read, 1 write, 2 atomic (a write
 * that must be aligned). Literals at the call sites, like the case labels
 * (see the note on `run`), so the inlined check folds them.
 */
type Access = 0 | 1 | 2;

export { StopReason } from './stop-reason.ts';

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
  /**
   * Who executes programs: the interpreter, the WebAssembly tier
   * (cpu/wasm/, identical at every instruction boundary), or `auto`, the
   * interpreter until a program is hot. Default `interp`.
   */
  tier?: Tier;
}

export class Cpu {
  readonly id: number;
  readonly memory: PhysicalMemory;
  helpers: HelperTable;
  kfuncs: HelperTable;
  /** GS-style base register: `this_cpu_ptr(p) = p + gsBase`. */
  gsBase: number;
  concurrent: boolean;
  /** See CpuOptions.tier; may change between runs. */
  tier: Tier;
  probe: CpuProbe | null = null;
  /**
   * Accesses overlapping [watchLo, watchHi) are shown to `probe.memAccess`;
   * set with `watch`. Empty by default.
   */
  private watchLo = 0;
  private watchHi = 0;
  /** The fast path of `address` passes [fastLow, fastEnd); set by each `run`. @internal */
  fastLow = 0;
  /** @internal */
  fastEnd = 0;
  /**
   * Instructions executed by the last `run`; while a helper, kfunc or probe
   * runs, the count so far in the current run (the call included).
   */
  executed = 0;
  /** Total instructions executed by this CPU. */
  totalExecuted = 0;
  /** How many of `totalExecuted` ran as compiled code (the WebAssembly tier). */
  compiledExecuted = 0;
  /** The exception of the last run that stopped with StopReason.Fault. */
  fault: CpuFault | null = null;
  /** The context being run, while `run` is on the stack. */
  current: CpuContext | null = null;
  /** Leave the run loop once the running helper returns (a stop or a tail call). @internal */
  stopRequested = false;
  /**
   * The helper that set `stopRequested` made a tail call: the run goes on
   * with the new program. Off the hot path: the loop looks at it only when
   * a helper asked to leave. @internal
   */
  tailCallPending = false;
  /** The call depth whose `exit` ends a run: 0, or a callback's frame while one runs. @internal */
  exitDepth = 0;
  private wasmTier: WasmTier | null = null;
  private readonly i32: Int32Array;
  private readonly i64: BigInt64Array;

  constructor(opts: CpuOptions) {
    this.memory = opts.memory;
    this.id = opts.id ?? 0;
    this.helpers = opts.helpers ?? new HelperTable('helper');
    this.kfuncs = opts.kfuncs ?? new HelperTable('kfunc');
    this.gsBase = opts.gsBase ?? 0;
    this.concurrent = opts.concurrent ?? false;
    this.tier = opts.tier ?? 'interp';
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

  /** The range set with `watch`, so a second observer can widen it rather than replace it. */
  get watched(): readonly [lo: number, hi: number] {
    return [this.watchLo, this.watchHi];
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

  /**
   * Runs another context to its end from inside a run of this CPU (a
   * softirq that a helper's local_bh_enable let in, an XDP program run by
   * kernel code): the outer run's count, context and pending stop are kept.
   * Returns why the inner run stopped; `totalExecuted` counts its
   * instructions.
   *
   * @example
   * const reason = cpu.runNested(xdpCtx, 1_000_000);
   */
  runNested(ctx: CpuContext, budget: number): StopReason {
    const outer = {
      executed: this.executed,
      current: this.current,
      stop: this.stopRequested,
      exitDepth: this.exitDepth,
    };
    this.exitDepth = 0;
    try {
      return this.run(ctx, budget);
    } finally {
      this.executed = outer.executed;
      this.current = outer.current;
      this.stopRequested = outer.stop;
      this.exitDepth = outer.exitDepth;
    }
  }

  /** Called by a helper: stop the run loop once the helper returns. */
  requestStop(): void {
    this.stopRequested = true;
    this.tailCallPending = false;
  }

  /**
   * Called by bpf_tail_call's helper: once the helper returns, the context
   * goes on at the first instruction of `prog` with the same registers and
   * stack frame (the interpreter's JMP_TAIL_CALL: `insn = prog->insnsi`).
   * Only the main function may tail call: a caller frame's return pc would
   * name an instruction of the program being replaced.
   *
   * @example
   * cpu.tailCall(ctx, target); // inside a helper
   */
  tailCall(ctx: CpuContext, prog: LoadedProgram): void {
    if (ctx.words[CTX_DEPTH] !== 0) {
      throw new CpuFault(
        'helper-error',
        ctx.pc - 1,
        `bpf_tail_call from call depth ${ctx.words[CTX_DEPTH]}: this machine tail calls from the main function only`,
      );
    }
    ctx.program = prog;
    ctx.words[CTX_PC] = 0;
    this.stopRequested = true;
    this.tailCallPending = true;
  }

  /**
   * Runs `ctx` for at most `budget` instructions (an `lddw` counts as one).
   * Returns why it stopped; `executed` says how many instructions ran.
   */
  run(ctx: CpuContext, budget: number): StopReason {
    let reason = this.runTier(ctx, budget, 0);
    while (reason === TAIL_CALL) reason = this.runTier(ctx, budget, this.executed);
    return reason;
  }

  /**
   * Runs the context's program, from `n0` instructions into the run, on
   * this CPU's tier; TAIL_CALL when a tail call replaced the program.
   */
  private runTier(ctx: CpuContext, budget: number, n0: number): StopReason {
    if (this.tier === 'interp' || this.memory.wasm === null) return this.interpret(ctx, budget, n0);
    const prog = ctx.program;
    if (this.tier === 'auto' && !hot(prog, 0)) {
      const reason = this.interpret(ctx, budget, n0);
      hot(prog, this.executed - n0);
      return reason;
    }
    const code = translationOf(prog);
    if (code === null) return this.interpret(ctx, budget, n0);
    this.wasmTier ??= new WasmTier(this);
    return this.wasmTier.run(ctx, budget, code, n0);
  }

  /**
   * The interpreter: runs `ctx` from `n0` instructions into the current run
   * to at most `budget` in all. `run` calls it with 0; the WebAssembly tier
   * calls it for the instructions it leaves to the interpreter. Returns
   * TAIL_CALL when a tail call replaced the program.
   * @internal
   */
  interpret(ctx: CpuContext, budget: number, n0: number): StopReason {
    const R = ctx.words;
    const prog = ctx.program;
    const code = prog.code;
    const D = prog.dst2;
    const S = prog.src2;
    const OFF = prog.off;
    const IMM = prog.imm;
    const dv = this.memory.view;
    // The fast path of `address` passes [low, end): ordinary pages only (the
    // protection's window), and nothing below the end of the watched range, so
    // the slow path shows the watched part to the probe: no cost per access
    // when not watching. Locals passed down, not fields, so they stay in registers.
    const prot = this.memory.protection;
    const low = Math.max(this.watchHi, this.memory.lowLimit, prot.fastLow);
    const end = prot.fastEnd;
    const exitDepth = this.exitDepth;
    let pc = R[CTX_PC];
    let i = pc;
    let n = n0;
    this.fault = null;
    this.current = ctx;
    // The saved context may come from memory a stray store reached: resume
    // only one the interpreter could have left (r10 is read-only to programs).
    if (!this.resumable(R)) {
      this.fault = corruptedContext(R, exitDepth, pc);
      return this.stop(n, StopReason.Fault, n0);
    }
    try {
      for (;;) {
        if (n >= budget) {
          R[CTX_PC] = pc;
          return this.stop(n, StopReason.Budget, n0);
        }
        n++;
        i = pc++;
        switch (code[i]) {
          // ---- ALU64, immediate operand (sign-extended to 64 bits) ----
          case /* ADD64_IMM */ 0x07: {
            const d = D[i];
            const a = R[d];
            const b = IMM[i];
            const lo = (a + b) | 0;
            R[d + 1] = (R[d + 1] + (b >> 31) + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
            R[d] = lo;
            break;
          }
          case /* SUB64_IMM */ 0x17: {
            const d = D[i];
            const a = R[d];
            const b = IMM[i];
            R[d] = (a - b) | 0;
            R[d + 1] = (R[d + 1] - (b >> 31) - (a >>> 0 < b >>> 0 ? 1 : 0)) | 0;
            break;
          }
          case /* MUL64_IMM */ 0x27:
            mul64(R, D[i], IMM[i], IMM[i] >> 31);
            break;
          case /* DIV64_IMM */ 0x37:
            if (OFF[i] === 0) udiv64(R, D[i], IMM[i], IMM[i] >> 31);
            else sdiv64(R, D[i], IMM[i], IMM[i] >> 31);
            break;
          case /* OR64_IMM */ 0x47: {
            const d = D[i];
            R[d] |= IMM[i];
            R[d + 1] |= IMM[i] >> 31;
            break;
          }
          case /* AND64_IMM */ 0x57: {
            const d = D[i];
            R[d] &= IMM[i];
            R[d + 1] &= IMM[i] >> 31;
            break;
          }
          case /* LSH64_IMM */ 0x67:
            lsh64(R, D[i], IMM[i] & 63);
            break;
          case /* RSH64_IMM */ 0x77:
            rsh64(R, D[i], IMM[i] & 63);
            break;
          case /* NEG64 */ 0x87: {
            const d = D[i];
            const lo = R[d];
            R[d] = -lo | 0;
            R[d + 1] = (~R[d + 1] + (lo === 0 ? 1 : 0)) | 0;
            break;
          }
          case /* MOD64_IMM */ 0x97:
            if (OFF[i] === 0) umod64(R, D[i], IMM[i], IMM[i] >> 31);
            else smod64(R, D[i], IMM[i], IMM[i] >> 31);
            break;
          case /* XOR64_IMM */ 0xa7: {
            const d = D[i];
            R[d] ^= IMM[i];
            R[d + 1] ^= IMM[i] >> 31;
            break;
          }
          case /* MOV64_IMM */ 0xb7: {
            const d = D[i];
            R[d] = IMM[i];
            R[d + 1] = IMM[i] >> 31;
            break;
          }
          case /* ARSH64_IMM */ 0xc7:
            arsh64(R, D[i], IMM[i] & 63);
            break;
          case /* BSWAP */ 0xd7:
            bswap(R, D[i], IMM[i]);
            break;

          // ---- ALU64, register operand ----
          case /* ADD64_REG */ 0x0f: {
            const d = D[i];
            const s = S[i];
            const a = R[d];
            const lo = (a + R[s]) | 0;
            R[d + 1] = (R[d + 1] + R[s + 1] + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
            R[d] = lo;
            break;
          }
          case /* SUB64_REG */ 0x1f: {
            const d = D[i];
            const s = S[i];
            const a = R[d];
            const b = R[s];
            R[d] = (a - b) | 0;
            R[d + 1] = (R[d + 1] - R[s + 1] - (a >>> 0 < b >>> 0 ? 1 : 0)) | 0;
            break;
          }
          case /* MUL64_REG */ 0x2f:
            mul64(R, D[i], R[S[i]], R[S[i] + 1]);
            break;
          case /* DIV64_REG */ 0x3f:
            if (OFF[i] === 0) udiv64(R, D[i], R[S[i]], R[S[i] + 1]);
            else sdiv64(R, D[i], R[S[i]], R[S[i] + 1]);
            break;
          case /* OR64_REG */ 0x4f: {
            const d = D[i];
            const s = S[i];
            R[d] |= R[s];
            R[d + 1] |= R[s + 1];
            break;
          }
          case /* AND64_REG */ 0x5f: {
            const d = D[i];
            const s = S[i];
            R[d] &= R[s];
            R[d + 1] &= R[s + 1];
            break;
          }
          case /* LSH64_REG */ 0x6f:
            lsh64(R, D[i], R[S[i]] & 63);
            break;
          case /* RSH64_REG */ 0x7f:
            rsh64(R, D[i], R[S[i]] & 63);
            break;
          case /* MOD64_REG */ 0x9f:
            if (OFF[i] === 0) umod64(R, D[i], R[S[i]], R[S[i] + 1]);
            else smod64(R, D[i], R[S[i]], R[S[i] + 1]);
            break;
          case /* XOR64_REG */ 0xaf: {
            const d = D[i];
            const s = S[i];
            R[d] ^= R[s];
            R[d + 1] ^= R[s + 1];
            break;
          }
          case /* MOV64_REG */ 0xbf: {
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
          case /* ARSH64_REG */ 0xcf:
            arsh64(R, D[i], R[S[i]] & 63);
            break;

          // ---- ALU32, immediate operand; results zero-extend ----
          case /* ADD32_IMM */ 0x04: {
            const d = D[i];
            R[d] = (R[d] + IMM[i]) | 0;
            R[d + 1] = 0;
            break;
          }
          case /* SUB32_IMM */ 0x14: {
            const d = D[i];
            R[d] = (R[d] - IMM[i]) | 0;
            R[d + 1] = 0;
            break;
          }
          case /* MUL32_IMM */ 0x24: {
            const d = D[i];
            R[d] = Math.imul(R[d], IMM[i]);
            R[d + 1] = 0;
            break;
          }
          case /* DIV32_IMM */ 0x34:
            this.div32(R, D[i], IMM[i], OFF[i]);
            break;
          case /* OR32_IMM */ 0x44: {
            const d = D[i];
            R[d] |= IMM[i];
            R[d + 1] = 0;
            break;
          }
          case /* AND32_IMM */ 0x54: {
            const d = D[i];
            R[d] &= IMM[i];
            R[d + 1] = 0;
            break;
          }
          case /* LSH32_IMM */ 0x64: {
            const d = D[i];
            R[d] <<= IMM[i] & 31;
            R[d + 1] = 0;
            break;
          }
          case /* RSH32_IMM */ 0x74: {
            const d = D[i];
            R[d] = R[d] >>> (IMM[i] & 31);
            R[d + 1] = 0;
            break;
          }
          case /* NEG32 */ 0x84: {
            const d = D[i];
            R[d] = -R[d] | 0;
            R[d + 1] = 0;
            break;
          }
          case /* MOD32_IMM */ 0x94:
            this.mod32(R, D[i], IMM[i], OFF[i]);
            break;
          case /* XOR32_IMM */ 0xa4: {
            const d = D[i];
            R[d] ^= IMM[i];
            R[d + 1] = 0;
            break;
          }
          case /* MOV32_IMM */ 0xb4: {
            const d = D[i];
            R[d] = IMM[i];
            R[d + 1] = 0;
            break;
          }
          case /* ARSH32_IMM */ 0xc4: {
            const d = D[i];
            R[d] >>= IMM[i] & 31;
            R[d + 1] = 0;
            break;
          }
          case /* LE */ 0xd4:
            toLe(R, D[i], IMM[i]);
            break;

          // ---- ALU32, register operand ----
          case /* ADD32_REG */ 0x0c: {
            const d = D[i];
            R[d] = (R[d] + R[S[i]]) | 0;
            R[d + 1] = 0;
            break;
          }
          case /* SUB32_REG */ 0x1c: {
            const d = D[i];
            R[d] = (R[d] - R[S[i]]) | 0;
            R[d + 1] = 0;
            break;
          }
          case /* MUL32_REG */ 0x2c: {
            const d = D[i];
            R[d] = Math.imul(R[d], R[S[i]]);
            R[d + 1] = 0;
            break;
          }
          case /* DIV32_REG */ 0x3c:
            this.div32(R, D[i], R[S[i]], OFF[i]);
            break;
          case /* OR32_REG */ 0x4c: {
            const d = D[i];
            R[d] |= R[S[i]];
            R[d + 1] = 0;
            break;
          }
          case /* AND32_REG */ 0x5c: {
            const d = D[i];
            R[d] &= R[S[i]];
            R[d + 1] = 0;
            break;
          }
          case /* LSH32_REG */ 0x6c: {
            const d = D[i];
            R[d] <<= R[S[i]] & 31;
            R[d + 1] = 0;
            break;
          }
          case /* RSH32_REG */ 0x7c: {
            const d = D[i];
            R[d] = R[d] >>> (R[S[i]] & 31);
            R[d + 1] = 0;
            break;
          }
          case /* MOD32_REG */ 0x9c:
            this.mod32(R, D[i], R[S[i]], OFF[i]);
            break;
          case /* XOR32_REG */ 0xac: {
            const d = D[i];
            R[d] ^= R[S[i]];
            R[d + 1] = 0;
            break;
          }
          case /* MOV32_REG */ 0xbc: {
            const d = D[i];
            const v = R[S[i]];
            const off = OFF[i];
            R[d] = off === 8 ? (v << 24) >> 24 : off === 16 ? (v << 16) >> 16 : v;
            R[d + 1] = 0;
            break;
          }
          case /* ARSH32_REG */ 0xcc: {
            const d = D[i];
            R[d] >>= R[S[i]] & 31;
            R[d + 1] = 0;
            break;
          }
          case /* BE */ 0xdc:
            bswap(R, D[i], IMM[i]);
            break;

          // ---- 64-bit immediate load ----
          case /* LDDW */ 0x18: {
            const d = D[i];
            R[d] = IMM[i];
            R[d + 1] = IMM[i + 1];
            pc++;
            break;
          }

          // ---- loads: dst = *(size *)(src + off) ----
          case /* LDXW */ 0x61: {
            const a = this.address(R, S[i], OFF[i], 4, 0 /* read */, i, n, low, end);
            const d = D[i];
            R[d] = dv.getInt32(a, true);
            R[d + 1] = 0;
            break;
          }
          case /* LDXH */ 0x69: {
            const a = this.address(R, S[i], OFF[i], 2, 0 /* read */, i, n, low, end);
            const d = D[i];
            R[d] = dv.getUint16(a, true);
            R[d + 1] = 0;
            break;
          }
          case /* LDXB */ 0x71: {
            const a = this.address(R, S[i], OFF[i], 1, 0 /* read */, i, n, low, end);
            const d = D[i];
            R[d] = dv.getUint8(a);
            R[d + 1] = 0;
            break;
          }
          case /* LDXDW */ 0x79: {
            const a = this.address(R, S[i], OFF[i], 8, 0 /* read */, i, n, low, end);
            const d = D[i];
            R[d] = dv.getInt32(a, true);
            R[d + 1] = dv.getInt32(a + 4, true);
            break;
          }
          // Sign-extending loads (v4 BPF_MEMSX).
          case /* LDXSW */ 0x81: {
            const a = this.address(R, S[i], OFF[i], 4, 0 /* read */, i, n, low, end);
            const d = D[i];
            R[d] = dv.getInt32(a, true);
            R[d + 1] = R[d] >> 31;
            break;
          }
          case /* LDXSH */ 0x89: {
            const a = this.address(R, S[i], OFF[i], 2, 0 /* read */, i, n, low, end);
            const d = D[i];
            R[d] = dv.getInt16(a, true);
            R[d + 1] = R[d] >> 31;
            break;
          }
          case /* LDXSB */ 0x91: {
            const a = this.address(R, S[i], OFF[i], 1, 0 /* read */, i, n, low, end);
            const d = D[i];
            R[d] = dv.getInt8(a);
            R[d + 1] = R[d] >> 31;
            break;
          }

          // ---- stores of an immediate: *(size *)(dst + off) = imm ----
          case /* STW */ 0x62: {
            const a = this.address(R, D[i], OFF[i], 4, 1 /* write */, i, n, low, end);
            dv.setInt32(a, IMM[i], true);
            break;
          }
          case /* STH */ 0x6a: {
            const a = this.address(R, D[i], OFF[i], 2, 1 /* write */, i, n, low, end);
            dv.setInt16(a, IMM[i], true);
            break;
          }
          case /* STB */ 0x72: {
            const a = this.address(R, D[i], OFF[i], 1, 1 /* write */, i, n, low, end);
            dv.setInt8(a, IMM[i]);
            break;
          }
          case /* STDW */ 0x7a: {
            const a = this.address(R, D[i], OFF[i], 8, 1 /* write */, i, n, low, end);
            dv.setInt32(a, IMM[i], true);
            dv.setInt32(a + 4, IMM[i] >> 31, true);
            break;
          }

          // ---- stores of a register: *(size *)(dst + off) = src ----
          case /* STXW */ 0x63: {
            const a = this.address(R, D[i], OFF[i], 4, 1 /* write */, i, n, low, end);
            dv.setInt32(a, R[S[i]], true);
            break;
          }
          case /* STXH */ 0x6b: {
            const a = this.address(R, D[i], OFF[i], 2, 1 /* write */, i, n, low, end);
            dv.setInt16(a, R[S[i]], true);
            break;
          }
          case /* STXB */ 0x73: {
            const a = this.address(R, D[i], OFF[i], 1, 1 /* write */, i, n, low, end);
            dv.setInt8(a, R[S[i]]);
            break;
          }
          case /* STXDW */ 0x7b: {
            const a = this.address(R, D[i], OFF[i], 8, 1 /* write */, i, n, low, end);
            const s = S[i];
            dv.setInt32(a, R[s], true);
            dv.setInt32(a + 4, R[s + 1], true);
            break;
          }

          // ---- atomics: lock *(size *)(dst + off) op= src, fetch, xchg, cmpxchg ----
          case /* ATOMIC_W */ 0xc3: {
            const a = this.address(R, D[i], OFF[i], 4, 2 /* atomic */, i, n, low, end);
            this.atomic32(R, a >> 2, S[i], IMM[i]);
            break;
          }
          case /* ATOMIC_DW */ 0xdb: {
            const a = this.address(R, D[i], OFF[i], 8, 2 /* atomic */, i, n, low, end);
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
          case /* JA */ 0x05:
            pc += OFF[i];
            break;
          case /* JA32 */ 0x06:
            pc += IMM[i];
            break;
          case /* JEQ_IMM */ 0x15: {
            const d = D[i];
            if (R[d] === IMM[i] && R[d + 1] === IMM[i] >> 31) pc += OFF[i];
            break;
          }
          case /* JEQ_REG */ 0x1d: {
            const d = D[i];
            const s = S[i];
            if (R[d] === R[s] && R[d + 1] === R[s + 1]) pc += OFF[i];
            break;
          }
          case /* JNE_IMM */ 0x55: {
            const d = D[i];
            if (R[d] !== IMM[i] || R[d + 1] !== IMM[i] >> 31) pc += OFF[i];
            break;
          }
          case /* JNE_REG */ 0x5d: {
            const d = D[i];
            const s = S[i];
            if (R[d] !== R[s] || R[d + 1] !== R[s + 1]) pc += OFF[i];
            break;
          }
          case /* JSET_IMM */ 0x45: {
            const d = D[i];
            if ((R[d] & IMM[i]) !== 0 || (R[d + 1] & (IMM[i] >> 31)) !== 0) pc += OFF[i];
            break;
          }
          case /* JSET_REG */ 0x4d: {
            const d = D[i];
            const s = S[i];
            if ((R[d] & R[s]) !== 0 || (R[d + 1] & R[s + 1]) !== 0) pc += OFF[i];
            break;
          }
          case /* JLT_IMM */ 0xa5: {
            // jlt imm, the common loop test: inline.
            const d = D[i];
            const bh = IMM[i] >> 31;
            const ah = R[d + 1];
            if (ah === bh ? R[d] >>> 0 < IMM[i] >>> 0 : ah >>> 0 < bh >>> 0) pc += OFF[i];
            break;
          }
          case /* JLT_REG */ 0xad: {
            const d = D[i];
            const s = S[i];
            const ah = R[d + 1];
            const bh = R[s + 1];
            if (ah === bh ? R[d] >>> 0 < R[s] >>> 0 : ah >>> 0 < bh >>> 0) pc += OFF[i];
            break;
          }
          case /* JGT_IMM */ 0x25:
          case /* JGE_IMM */ 0x35:
          case /* JLE_IMM */ 0xb5:
          case /* JSGT_IMM */ 0x65:
          case /* JSGE_IMM */ 0x75:
          case /* JSLT_IMM */ 0xc5:
          case /* JSLE_IMM */ 0xd5: {
            const d = D[i];
            if (cmp64(code[i], R[d], R[d + 1], IMM[i], IMM[i] >> 31)) pc += OFF[i];
            break;
          }
          case /* JGT_REG */ 0x2d:
          case /* JGE_REG */ 0x3d:
          case /* JLE_REG */ 0xbd:
          case /* JSGT_REG */ 0x6d:
          case /* JSGE_REG */ 0x7d:
          case /* JSLT_REG */ 0xcd:
          case /* JSLE_REG */ 0xdd: {
            const d = D[i];
            const s = S[i];
            if (cmp64(code[i], R[d], R[d + 1], R[s], R[s + 1])) pc += OFF[i];
            break;
          }
          case /* JEQ32_IMM */ 0x16:
          case /* JGT32_IMM */ 0x26:
          case /* JGE32_IMM */ 0x36:
          case /* JSET32_IMM */ 0x46:
          case /* JNE32_IMM */ 0x56:
          case /* JSGT32_IMM */ 0x66:
          case /* JSGE32_IMM */ 0x76:
          case /* JLT32_IMM */ 0xa6:
          case /* JLE32_IMM */ 0xb6:
          case /* JSLT32_IMM */ 0xc6:
          case /* JSLE32_IMM */ 0xd6:
            if (cmp32(code[i], R[D[i]], IMM[i])) pc += OFF[i];
            break;
          case /* JEQ32_REG */ 0x1e:
          case /* JGT32_REG */ 0x2e:
          case /* JGE32_REG */ 0x3e:
          case /* JSET32_REG */ 0x4e:
          case /* JNE32_REG */ 0x5e:
          case /* JSGT32_REG */ 0x6e:
          case /* JSGE32_REG */ 0x7e:
          case /* JLT32_REG */ 0xae:
          case /* JLE32_REG */ 0xbe:
          case /* JSLT32_REG */ 0xce:
          case /* JSLE32_REG */ 0xde:
            if (cmp32(code[i], R[D[i]], R[S[i]])) pc += OFF[i];
            break;

          // ---- calls and exit ----
          case /* CALL */ 0x85: {
            const src = prog.src[i];
            if (src === BPF_PSEUDO_CALL) {
              pc = this.enterFrame(R, i, pc, i + IMM[i] + 1);
              break;
            }
            R[CTX_PC] = pc;
            this.executed = n;
            const table = src === BPF_PSEUDO_KFUNC_CALL ? this.kfuncs : this.helpers;
            if (this.callHelper(ctx, table, IMM[i], i)) return this.helperStop(n, n0);
            pc = R[CTX_PC];
            break;
          }
          case /* CALLX */ 0x8d: {
            // callx: the conformance suite's helper call through the register in dst.
            // The whole 64-bit register is the id: a high word set names no helper.
            R[CTX_PC] = pc;
            this.executed = n;
            const d = D[i];
            const id = (R[d + 1] >>> 0) * 0x1_0000_0000 + (R[d] >>> 0);
            if (this.callHelper(ctx, this.helpers, id, i)) return this.helperStop(n, n0);
            pc = R[CTX_PC];
            break;
          }
          case /* EXIT */ 0x95: {
            const depth = R[CTX_DEPTH];
            if (depth === exitDepth) {
              R[CTX_PC] = i;
              return this.stop(n, StopReason.Exit, n0);
            }
            // The depth word is in memory another CPU can store to while this one runs.
            if (depth < exitDepth || depth >= MAX_CALL_FRAMES)
              throw corruptedContext(R, exitDepth, i);
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
      return this.stop(n, StopReason.Fault, n0);
    }
  }

  /**
   * Whether the saved context `R` is one the interpreter could have left:
   * a call depth in range and r10 the frame pointer of that depth. @internal
   */
  resumable(R: Int32Array): boolean {
    const depth = R[CTX_DEPTH];
    return (
      depth >= this.exitDepth &&
      depth < MAX_CALL_FRAMES &&
      R[21] === 0 &&
      R[20] === (((R[CTX_STACK_TOP] >>> 0) - depth * MAX_BPF_STACK) | 0)
    );
  }

  /**
   * The range `address` passes without a second look: everything below the
   * end of the watched range takes the slow path, which shows the watched
   * part to the probe, so watching costs nothing per access when off. The
   * WebAssembly tier tests the same range. @internal
   */
  setFastRange(): void {
    // The interpreter's window (see `interpret`): the protection's ordinary pages, above the watch.
    const prot = this.memory.protection;
    this.fastLow = Math.max(this.watchHi, this.memory.lowLimit, prot.fastLow);
    this.fastEnd = prot.fastEnd;
  }

  /** Ends a run (or the interpreter's part of one, from `n0`) at `n` instructions. @internal */
  stop(n: number, reason: StopReason, n0 = 0): StopReason {
    this.executed = n;
    this.totalExecuted += n - n0;
    this.current = null;
    this.stopRequested = false;
    this.tailCallPending = false;
    return reason;
  }

  /**
   * Ends the run after a helper that set `stopRequested`: TAIL_CALL when
   * bpf_tail_call replaced the program (`run` goes on with the new one),
   * otherwise the stop it asked for. @internal
   */
  helperStop(n: number, n0: number): StopReason {
    return this.stop(n, this.tailCallPending ? TAIL_CALL : StopReason.Stop, n0);
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
   * test passes a 32-bit address inside [low, end), `run`'s window of
   * ordinary pages; anything else (a high word, below the NULL guard or the
   * watched range's end, a protected page, past the end of memory, and every
   * atomic's alignment) is decided by `translate`. Small, so V8 inlines it
   * into each case of `run`.
   */
  private address(
    R: Int32Array,
    reg: number,
    off: number,
    size: number,
    kind: Access,
    i: number,
    n: number,
    low: number,
    end: number,
  ): number {
    const a = (R[reg] >>> 0) + off;
    if (R[reg + 1] !== 0 || a < low || a + size > end || (kind === 2 && (a & (size - 1)) !== 0)) {
      return this.translate(R, reg, off, size, kind, i, n);
    }
    return a;
  }

  /**
   * The slow path of `address`: computes the full 64-bit address `reg + off`
   * and returns it if the access is valid (after a wrap-around the fast check
   * did not handle), otherwise throws the page fault; a page the protection
   * denies to guests is a page fault naming what lives there; an atomic must
   * be naturally aligned. An access touching the watched range is shown to
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
    const kind = access === 0 ? 'read' : 'write';
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
    const denied = this.memory.protection.denied(a, size, access === 0 ? 1 : 2);
    if (denied !== null)
      throw CpuFault.protection(i, a, size, kind, PageProtection.nameAt(denied, a));
    if (access === 2 && a % size !== 0) {
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
    if (depth < this.exitDepth) throw corruptedContext(R, this.exitDepth, i);
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

  /** Runs a helper or kfunc whole; returns true when it asked the CPU to stop. @internal */
  callHelper(ctx: CpuContext, table: HelperTable, id: number, i: number): boolean {
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
      op === 0x6d /* JSGT_REG */ ||
      op === 0x7d /* JSGE_REG */ ||
      op === 0xcd /* JSLT_REG */ ||
      op === 0xdd /* JSLE_REG */;
    const gt = signed ? ah > bh : ah >>> 0 > bh >>> 0;
    return op === 0x2d /* JGT_REG */ ||
      op === 0x3d /* JGE_REG */ ||
      op === 0x6d /* JSGT_REG */ ||
      op === 0x7d /* JSGE_REG */
      ? gt
      : !gt;
  }
  const x = al >>> 0;
  const y = bl >>> 0;
  switch (op) {
    case /* JGT_REG */ 0x2d:
    case /* JSGT_REG */ 0x6d:
      return x > y;
    case /* JGE_REG */ 0x3d:
    case /* JSGE_REG */ 0x7d:
      return x >= y;
    case /* JLT_REG */ 0xad:
    case /* JSLT_REG */ 0xcd:
      return x < y;
    default:
      return x <= y;
  }
}

/** 32-bit conditional jumps, by opcode (either source). */
function cmp32(code: number, a: number, b: number): boolean {
  switch (code | BPF_X) {
    case /* JEQ32_REG */ 0x1e:
      return a === b;
    case /* JGT32_REG */ 0x2e:
      return a >>> 0 > b >>> 0;
    case /* JGE32_REG */ 0x3e:
      return a >>> 0 >= b >>> 0;
    case /* JSET32_REG */ 0x4e:
      return (a & b) !== 0;
    case /* JNE32_REG */ 0x5e:
      return a !== b;
    case /* JSGT32_REG */ 0x6e:
      return a > b;
    case /* JSGE32_REG */ 0x7e:
      return a >= b;
    case /* JLT32_REG */ 0xae:
      return a >>> 0 < b >>> 0;
    case /* JLE32_REG */ 0xbe:
      return a >>> 0 <= b >>> 0;
    case /* JSLT32_REG */ 0xce:
      return a < b;
    default:
      return a <= b;
  }
}

/** The fault of a saved context that cannot be resumed: what is wrong with it. */
function corruptedContext(R: Int32Array, exitDepth: number, pc: number): CpuFault {
  const depth = R[CTX_DEPTH];
  const fp = (R[21] >>> 0) * 0x1_0000_0000 + (R[20] >>> 0);
  const what =
    depth < exitDepth || depth >= MAX_CALL_FRAMES
      ? `call depth ${depth} is not in ${exitDepth}..${MAX_CALL_FRAMES - 1}`
      : `r10 0x${fp.toString(16)} is not the frame pointer 0x${((R[CTX_STACK_TOP] >>> 0) - depth * MAX_BPF_STACK).toString(16)} of depth ${depth}`;
  return new CpuFault('corrupted-context', pc, `saved context is corrupted: ${what}`);
}
