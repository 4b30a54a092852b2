/**
 * The saved state of one thread of guest execution: registers r0-r10, pc,
 * call depth and the caller frames of local calls. It is a typed layout over
 * an Int32Array, so it can live anywhere: a JS array for tests, or a task
 * struct in emulated memory for the scheduler. Stopping and resuming, even on
 * another CPU object, is just handing the same context to `Cpu.run` again.
 *
 * A 64-bit register is two 32-bit words, low word first, and the interpreter
 * works on them directly: no BigInt and no allocation on the hot path.
 *
 * @example
 * const ctx = new CpuContext(program, stackTop);
 * ctx.setReg(1, 0x2000n);
 * cpu.run(ctx, 1_000_000);
 * ctx.reg(0); // r0 as a bigint
 */

import { MAX_BPF_STACK, MAX_CALL_FRAMES } from './opcodes.ts';
import type { LoadedProgram } from './program.ts';

/** Word offsets in the context layout. */
export const CTX_REGS = 0; // r0..r10, (lo, hi) pairs: 22 words
export const CTX_PC = 22;
export const CTX_DEPTH = 23;
export const CTX_STACK_TOP = 24;
export const CTX_FRAMES = 25; // MAX_CALL_FRAMES - 1 caller frames of FRAME_WORDS
/** A caller frame: return pc, then r6..r9 as (lo, hi) pairs. */
export const FRAME_WORDS = 9;
/**
 * After the caller frames (a chain of MAX_CALL_FRAMES functions has one
 * fewer callers): the tail calls made so far in this run (the kernel's
 * tail_call_cnt, limited to MAX_TAIL_CALL_CNT), and the id of the program
 * a tail call jumped into (bpf_prog_aux.id), 0 while the context runs the
 * program it was started with.
 */
export const CTX_TAIL_CALL_CNT = CTX_FRAMES + (MAX_CALL_FRAMES - 1) * FRAME_WORDS;
export const CTX_PROG_ID = CTX_TAIL_CALL_CNT + 1;
/** The layout's size: seven words after CTX_PROG_ID are spare. */
export const CTX_WORDS = CTX_FRAMES + MAX_CALL_FRAMES * FRAME_WORDS;
export const CTX_BYTES = CTX_WORDS * 4;
/** Stack bytes a context needs below its stack top: one frame per call level. */
export const STACK_BYTES = MAX_BPF_STACK * MAX_CALL_FRAMES;

export class CpuContext {
  readonly words: Int32Array;

  /**
   * @param program the program this context executes.
   * @param stackTop address just above the context's stack (r10 of frame 0);
   *   the stack takes STACK_BYTES below it.
   * @param words storage for the layout; a fresh array by default.
   */
  constructor(
    public program: LoadedProgram,
    stackTop: number,
    words: Int32Array = new Int32Array(CTX_WORDS),
  ) {
    if (words.length < CTX_WORDS) throw new RangeError(`context needs ${CTX_WORDS} words`);
    this.words = words;
    this.reset(stackTop);
  }

  /** Clears registers and frames, sets pc 0 and r10 to the stack top. */
  reset(stackTop = this.stackTop): void {
    this.words.fill(0, 0, CTX_WORDS);
    this.words[CTX_STACK_TOP] = stackTop | 0;
    this.words[CTX_REGS + 20] = stackTop | 0;
  }

  get stackTop(): number {
    return this.words[CTX_STACK_TOP] >>> 0;
  }
  get pc(): number {
    return this.words[CTX_PC];
  }
  set pc(value: number) {
    this.words[CTX_PC] = value;
  }
  get depth(): number {
    return this.words[CTX_DEPTH];
  }

  /** Register `r` as an unsigned 64-bit bigint. */
  reg(r: number): bigint {
    const w = this.words;
    return (BigInt(w[2 * r + 1] >>> 0) << 32n) | BigInt(w[2 * r] >>> 0);
  }

  setReg(r: number, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    this.words[2 * r] = Number(v & 0xffff_ffffn) | 0;
    this.words[2 * r + 1] = Number(v >> 32n) | 0;
  }

  /** Low 32 bits of register `r`, unsigned. */
  regU32(r: number): number {
    return this.words[2 * r] >>> 0;
  }

  /** Register `r` as a JS number; exact below 2^53. */
  regNumber(r: number): number {
    return (this.words[2 * r + 1] >>> 0) * 0x1_0000_0000 + (this.words[2 * r] >>> 0);
  }

  /** Sets register `r` from an integer of magnitude below 2^53 (negative ones sign-extend). */
  setRegNumber(r: number, value: number): void {
    const hi = Math.floor(value / 0x1_0000_0000);
    this.words[2 * r] = (value - hi * 0x1_0000_0000) | 0;
    this.words[2 * r + 1] = hi | 0;
  }

  /** Copies registers, pc, depth and frames from another context. */
  copyFrom(other: CpuContext): void {
    this.program = other.program;
    this.words.set(other.words.subarray(0, CTX_WORDS));
  }
}
