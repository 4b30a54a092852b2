/**
 * One CPU's side of the WebAssembly tier: its instances of the translated
 * modules (bound to its helper tables) and the host loop that alternates
 * between the compiled code and the interpreter. The code runs from block
 * starts; whatever it hands back (the tail of a short budget, a faulting or
 * watched access, a local call, `exit`) the interpreter executes up to the
 * next block start, so every stop, fault and probe happens at the
 * instruction and count it would under the interpreter alone.
 *
 * A context whose words live in the shared memory (every task's, in a
 * machine) is used in place; any other (a test's, a benchmark's) is mirrored
 * into this CPU's 512-byte scratch slot past the end of guest memory, which
 * no guest access reaches.
 *
 * @example
 * // Internal: Cpu.run delegates here when its tier is 'jit' or 'auto'.
 * const reason = new WasmTier(cpu).run(ctx, 1_000_000, translationOf(ctx.program)!);
 */

import { type WasmMemory, wasm } from '../../segments/wasm-api.ts';
import type { CpuContext } from '../context.ts';
import { CTX_PC } from '../context.ts';
import type { Cpu } from '../cpu.ts';
import { CpuFault } from '../fault.ts';
import { StopReason } from '../stop-reason.ts';
import {
  Exit,
  FLAG_CONCURRENT,
  FLAG_PROBE,
  MAX_CALL_BUDGET,
  type Translation,
} from './translate.ts';

type RunFn = (
  ctx: number,
  budget: number,
  entry: number,
  fastLow: number,
  fastEnd: number,
  gs: number,
  flags: number,
) => number;

/** Bytes of one CPU's scratch slot (a context's registers and pc need 92). */
const SCRATCH_SLOT = 512;
const SCRATCH_SLOTS = 64;

export class WasmTier {
  private readonly instances = new WeakMap<Translation, RunFn>();
  private readonly i32: Int32Array;
  /** Byte address of this CPU's scratch slot. */
  private readonly scratch: number;
  // The wasm call in progress, for the helper import.
  private ctx: CpuContext | null = null;
  private addr = 0;
  private mirrored = false;
  private base = 0;
  private passed = 0;
  private callPc = 0;

  constructor(private readonly cpu: Cpu) {
    this.i32 = new Int32Array(cpu.memory.buffer);
    this.scratch = cpu.memory.size + (cpu.id % SCRATCH_SLOTS) * SCRATCH_SLOT;
  }

  private instance(code: Translation): RunFn {
    let fn = this.instances.get(code);
    if (fn === undefined) {
      const inst = new wasm.Instance(code.module, {
        env: {
          memory: this.cpu.memory.wasm as WasmMemory,
          helper: (kind: number, id: number, pc: number, left: number) =>
            this.helper(kind, id, pc, left),
        },
      });
      fn = inst.exports.run as RunFn;
      this.instances.set(code, fn);
    }
    return fn;
  }

  /**
   * Runs `ctx` from `n0` instructions into the run to at most `budget`, with
   * `code`, its program's translation. TAIL_CALL when a tail call replaced
   * the program.
   */
  run(ctx: CpuContext, budget: number, code: Translation, n0: number): StopReason {
    const cpu = this.cpu;
    const R = ctx.words;
    if (!cpu.resumable(R)) return cpu.interpret(ctx, budget, n0);
    const fn = this.instance(code);
    const inMemory = R.buffer === cpu.memory.buffer;
    const addr = inMemory ? R.byteOffset : this.scratch;
    const M = this.i32;
    const w = addr >> 2;
    const { labelOf, stepsToLeader } = code;
    cpu.fault = null;
    let n = n0;
    for (;;) {
      if (n >= budget) {
        cpu.current = ctx;
        return cpu.stop(n, StopReason.Budget, n);
      }
      const pc = R[CTX_PC];
      const label = pc >= 0 && pc < labelOf.length ? labelOf[pc] : -1;
      if (label < 0) {
        const steps = pc >= 0 && pc < labelOf.length ? stepsToLeader[pc] : 1;
        const reason = cpu.interpret(ctx, Math.min(budget, n + steps), n);
        n = cpu.executed;
        if (reason !== StopReason.Budget || n >= budget) return reason;
        continue;
      }
      const pass = Math.min(budget - n, MAX_CALL_BUDGET);
      cpu.setFastRange();
      cpu.current = ctx;
      this.ctx = ctx;
      this.addr = addr;
      this.mirrored = !inMemory;
      this.base = n;
      this.passed = pass;
      if (!inMemory) for (let k = 0; k < 22; k++) M[w + k] = R[k];
      let result: number;
      try {
        result = fn(
          addr,
          pass,
          label,
          cpu.fastLow,
          cpu.fastEnd,
          cpu.gsBase | 0,
          (cpu.probe !== null ? FLAG_PROBE : 0) | (cpu.concurrent ? FLAG_CONCURRENT : 0),
        );
      } catch (e) {
        // Thrown by a helper, through the compiled code: registers are in R already.
        if (!(e instanceof CpuFault)) throw e;
        const done = cpu.executed;
        cpu.totalExecuted += done - n;
        R[CTX_PC] = this.callPc;
        cpu.fault = e;
        return cpu.stop(done, StopReason.Fault, done);
      }
      if (!inMemory) for (let k = 0; k < 23; k++) R[k] = M[w + k];
      const ran = pass - (result >>> 2);
      n += ran;
      cpu.totalExecuted += ran;
      cpu.compiledExecuted += ran;
      switch (result & 3) {
        case Exit.Short:
          // Less budget than the block: the interpreter runs what is left.
          if (pass === budget - (n - ran)) return cpu.interpret(ctx, budget, n);
          break;
        case Exit.Interp: {
          const at = R[CTX_PC];
          const reason = cpu.interpret(ctx, Math.min(budget, n + (stepsToLeader[at] ?? 1)), n);
          n = cpu.executed;
          if (reason !== StopReason.Budget || n >= budget) return reason;
          break;
        }
        default:
          if (cpu.stopRequested) return cpu.helperStop(n, n);
      }
    }
  }

  /** The compiled code's call of helper or kfunc `id` at instruction `pc`; 1 sends it to the host. */
  private helper(kind: number, id: number, pc: number, left: number): number {
    const cpu = this.cpu;
    const ctx = this.ctx as CpuContext;
    const R = ctx.words;
    const { addr, mirrored, base, passed } = this;
    const M = this.i32;
    const w = addr >> 2;
    if (mirrored) for (let k = 0; k < 20; k++) R[k] = M[w + k];
    R[CTX_PC] = pc + 1;
    cpu.executed = base + passed - left;
    this.callPc = pc;
    const stop = cpu.callHelper(ctx, kind === 1 ? cpu.kfuncs : cpu.helpers, id, pc);
    // A nested run (a callback, a softirq) used these fields: this call's again.
    this.ctx = ctx;
    this.addr = addr;
    this.mirrored = mirrored;
    this.base = base;
    this.passed = passed;
    cpu.current = ctx;
    if (mirrored) for (let k = 0; k < 23; k++) M[w + k] = R[k];
    return stop || R[CTX_PC] !== pc + 1 ? 1 : 0;
  }
}
