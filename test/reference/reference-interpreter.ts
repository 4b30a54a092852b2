/**
 * A reference interpreter of the eBPF instruction set, written for clarity
 * and nothing else, so that the fast interpreter (`cpu/cpu.ts`) can be
 * checked against it instruction for instruction.
 *
 * It shares no code with the fast interpreter or `cpu/alu64.ts`: every
 * operation is written again from RFC 9669, on BigInt registers with
 * unsigned 64-bit semantics (`BigInt.asUintN(64, ...)`), decoding each
 * instruction straight from the `Insn[]` it was given, one small function per
 * instruction class. What it does share is the machine model around the ISA,
 * so that the two produce comparable results:
 *
 * - Memory: a guest address is the full 64-bit sum `reg + off` (wrapping);
 *   an access is valid iff it lies in [PAGE_SIZE, memory.size). Anything else
 *   is a `page-fault`. Atomics must be naturally aligned (`misaligned-atomic`),
 *   checked after the bounds; an atomic's access kind is `write`.
 * - Local calls: at most MAX_CALL_FRAMES (8) frames of MAX_BPF_STACK (512)
 *   bytes below `stackTop`; a call saves the return pc and r6-r9 and gives
 *   the callee `r10 = stackTop - 512 * depth`; one call too many is a
 *   `stack-overflow` fault at the call.
 * - Helpers and kfuncs: the same `HelperTable` as the fast CPU; a helper sees
 *   a `CpuContext` holding the registers and pc after the call, and a host
 *   object offering `id`, `memory`, `gsBase`, `current` and `requestStop()`
 *   in place of the `Cpu` (helpers run here must use only those). An
 *   `ErrnoError` from a helper becomes a `helper-error` fault, a `CpuFault`
 *   is kept as it is, anything else propagates.
 * - Budget: `run(budget)` executes at most `budget` instructions (an `lddw`
 *   is one); a faulting instruction counts as executed. On exit pc stays on
 *   the `exit`, on a fault it is the faulting instruction, on a budget stop
 *   the next instruction, on a helper's stop request the one after the call.
 *
 * @example
 * const ref = new ReferenceInterpreter({ program, memory, stackTop: 0x2000 });
 * ref.regs[1] = 0x3000n;
 * const result = ref.run(10_000);
 * if (result.reason === 'exit') console.log(ref.regs[0]);
 */

import { CpuContext, CTX_DEPTH } from '../../cpu/context.ts';
import { CpuFault, type FaultKind } from '../../cpu/fault.ts';
import { type HelperFn, HelperTable } from '../../cpu/helpers.ts';
import type { Insn } from '../../cpu/insn.ts';
import {
  BPF_ADD,
  BPF_ADDR_PERCPU,
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
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_IMM64,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_W,
  BPF_X,
  BPF_XCHG,
  BPF_XOR,
  LDDW,
  MAX_BPF_STACK,
  MAX_CALL_FRAMES,
} from '../../cpu/opcodes.ts';
import { loadProgram } from '../../cpu/program.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { type AccessKind, PAGE_SIZE, type PhysicalMemory } from '../../segments/memory.ts';

export type ReferenceStop = 'exit' | 'budget' | 'fault' | 'stop';

export interface ReferenceFault {
  kind: FaultKind;
  /** The instruction that faulted (for a fault a helper threw, the pc it named). */
  pc: number;
  /** For memory faults: the full 64-bit address, the size and the access. */
  access?: { addr: bigint; size: number; kind: AccessKind };
}

export interface ReferenceResult {
  reason: ReferenceStop;
  /** Instructions executed by this run, including a faulting one. */
  executed: number;
  /** Where the program stands after the run (see the file comment). */
  pc: number;
  fault: ReferenceFault | null;
}

export interface ReferenceOptions {
  /** A program valid per `validate()`; `lddw` sources other than 0 (imm64) and 4 (func) are refused. */
  program: readonly Insn[];
  memory: PhysicalMemory;
  /** Address just above the stack: r10 of the main function. */
  stackTop: number;
  helpers?: HelperTable;
  kfuncs?: HelperTable;
  /** The per-CPU offset `this_cpu_ptr` adds. */
  gsBase?: number;
  /** CPU number shown to helpers. */
  id?: number;
}

/** The `Cpu` parameter of a helper; the reference passes a stand-in for it. */
type HelperCpu = Parameters<HelperFn>[1];

/** A caller's frame of a local call. */
interface Frame {
  returnPc: number;
  /** r6, r7, r8, r9 of the caller. */
  saved: bigint[];
}

/** A fault raised while executing one instruction; `run` turns it into the result. */
class Trap {
  constructor(readonly fault: ReferenceFault) {}
}

/** What executing one instruction asks the run loop to do next. */
type Next = 'continue' | 'exit' | 'stop';

const MASK64 = (1n << 64n) - 1n;
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const u32 = (v: bigint): bigint => BigInt.asUintN(32, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);

/** Reverses the bytes of the low `width` bits of `v`; the result is zero-extended. */
function byteSwap(v: bigint, width: number): bigint {
  let out = 0n;
  for (let byte = 0; byte < width / 8; byte++) {
    out = (out << 8n) | ((v >> BigInt(8 * byte)) & 0xffn);
  }
  return out;
}

/** The stand-in for `Cpu` that helpers receive from the reference interpreter. */
class ReferenceHelperHost {
  stopRequested = false;
  current: CpuContext | null = null;

  constructor(
    readonly id: number,
    readonly memory: PhysicalMemory,
    readonly gsBase: number,
  ) {}

  requestStop(): void {
    this.stopRequested = true;
  }
}

/**
 * One thread of eBPF execution on BigInt registers: registers, pc and call
 * frames live in the object, so `run` can stop on a budget and resume.
 *
 * @example
 * const ref = new ReferenceInterpreter({ program: [insn(0xb7, 0, 0, 0, 7), EXIT_INSN], memory, stackTop });
 * ref.run(100); // { reason: 'exit', executed: 2, pc: 1, fault: null }
 * ref.regs[0]; // 7n
 */
export class ReferenceInterpreter {
  /** r0-r10 as unsigned 64-bit values. */
  readonly regs: bigint[] = new Array<bigint>(11).fill(0n);
  /** Index of the next instruction slot to execute. */
  pc = 0;
  /** Caller frames of the local calls in progress, outermost first. */
  readonly frames: Frame[] = [];
  /** Instructions executed by the last `run`. */
  executed = 0;

  private readonly insns: readonly Insn[];
  private readonly memory: PhysicalMemory;
  private readonly view: DataView;
  private readonly stackTop: bigint;
  private readonly helpers: HelperTable;
  private readonly kfuncs: HelperTable;
  private readonly gsBase: bigint;
  private readonly host: ReferenceHelperHost;
  private readonly helperCtx: CpuContext;

  constructor(opts: ReferenceOptions) {
    // loadProgram validates the program and gives helpers a context to look at.
    const loaded = loadProgram(opts.program);
    for (const ins of opts.program) {
      if (ins.code === LDDW && ins.src !== BPF_PSEUDO_IMM64 && ins.src !== BPF_PSEUDO_FUNC) {
        throw new ErrnoError(
          'EINVAL',
          `the reference interpreter does not resolve lddw source ${ins.src}`,
        );
      }
    }
    this.insns = opts.program.map((i) => ({ ...i }));
    this.memory = opts.memory;
    this.view = new DataView(opts.memory.buffer);
    this.stackTop = BigInt(opts.stackTop);
    this.helpers = opts.helpers ?? new HelperTable('helper');
    this.kfuncs = opts.kfuncs ?? new HelperTable('kfunc');
    this.gsBase = BigInt(opts.gsBase ?? 0);
    this.host = new ReferenceHelperHost(opts.id ?? 0, opts.memory, opts.gsBase ?? 0);
    this.helperCtx = new CpuContext(loaded, opts.stackTop);
    this.regs[10] = this.stackTop;
  }

  /** Depth of local calls: 0 in the main function. */
  get depth(): number {
    return this.frames.length;
  }

  /**
   * Executes at most `budget` instructions.
   *
   * @example
   * const { reason, executed, pc, fault } = ref.run(1000);
   */
  run(budget: number): ReferenceResult {
    let executed = 0;
    for (;;) {
      if (executed >= budget) return this.finish('budget', executed, null);
      executed++;
      const at = this.pc;
      let next: Next;
      try {
        next = this.step();
      } catch (e) {
        if (!(e instanceof Trap)) throw e;
        this.pc = at;
        return this.finish('fault', executed, e.fault);
      }
      if (next === 'exit') {
        this.pc = at;
        return this.finish('exit', executed, null);
      }
      if (next === 'stop') return this.finish('stop', executed, null);
    }
  }

  private finish(
    reason: ReferenceStop,
    executed: number,
    fault: ReferenceFault | null,
  ): ReferenceResult {
    this.executed = executed;
    return { reason, executed, pc: this.pc, fault };
  }

  /** Executes the instruction at `pc` and moves `pc` on. */
  private step(): Next {
    const pc = this.pc;
    if (pc < 0 || pc >= this.insns.length) {
      throw new Trap({ kind: 'jump-out-of-range', pc });
    }
    const ins = this.insns[pc];
    switch (ins.code & 0x07) {
      case BPF_ALU:
        this.alu32(ins);
        this.pc = pc + 1;
        return 'continue';
      case BPF_ALU64:
        this.alu64(ins);
        this.pc = pc + 1;
        return 'continue';
      case BPF_LD:
        this.loadImm64(ins);
        this.pc = pc + 2;
        return 'continue';
      case BPF_LDX:
        this.load(ins);
        this.pc = pc + 1;
        return 'continue';
      case BPF_ST:
        this.storeImm(ins);
        this.pc = pc + 1;
        return 'continue';
      case BPF_STX:
        if ((ins.code & 0xe0) === BPF_ATOMIC) this.atomic(ins);
        else this.storeReg(ins);
        this.pc = pc + 1;
        return 'continue';
      default:
        return this.jump(ins);
    }
  }

  /** An opcode the ISA does not define (unreachable for validated programs). */
  private invalid(): Trap {
    return new Trap({ kind: 'invalid-opcode', pc: this.pc });
  }

  // ---- ALU: RFC 9669 §4.1 ----

  /** 64-bit ALU: operands are full registers, an immediate is sign-extended to 64 bits. */
  private alu64(ins: Insn): void {
    const op = ins.code & 0xf0;
    const useReg = (ins.code & 0x08) === BPF_X;
    const dst = this.regs[ins.dst];
    const src = useReg ? this.regs[ins.src] : u64(BigInt(ins.imm));
    let result: bigint;
    switch (op) {
      case BPF_ADD:
        result = dst + src;
        break;
      case BPF_SUB:
        result = dst - src;
        break;
      case BPF_MUL:
        result = dst * src;
        break;
      case BPF_DIV:
        // Division by zero gives 0; signed INT64_MIN / -1 overflows back to INT64_MIN.
        if (src === 0n) result = 0n;
        else result = ins.off === 1 ? s64(dst) / s64(src) : dst / src;
        break;
      case BPF_MOD:
        // Modulo by zero leaves dst; the signed remainder takes the dividend's sign.
        if (src === 0n) result = dst;
        else result = ins.off === 1 ? s64(dst) % s64(src) : dst % src;
        break;
      case BPF_OR:
        result = dst | src;
        break;
      case BPF_AND:
        result = dst & src;
        break;
      case BPF_XOR:
        result = dst ^ src;
        break;
      case BPF_LSH:
        result = dst << (src & 63n);
        break;
      case BPF_RSH:
        result = dst >> (src & 63n);
        break;
      case BPF_ARSH:
        result = s64(dst) >> (src & 63n);
        break;
      case BPF_NEG:
        result = -dst;
        break;
      case BPF_MOV:
        if (!useReg || ins.off === 0) result = src;
        else if (ins.off === BPF_ADDR_PERCPU) result = src + this.gsBase;
        else result = BigInt.asIntN(ins.off, src); // movsx: 8, 16 or 32
        break;
      case BPF_END:
        // ALU64 | END is the v4 unconditional byte swap.
        result = byteSwap(dst, ins.imm);
        break;
      default:
        throw this.invalid();
    }
    this.regs[ins.dst] = u64(result);
  }

  /** 32-bit ALU: operands are the low 32 bits, the result is zero-extended to 64 bits. */
  private alu32(ins: Insn): void {
    const op = ins.code & 0xf0;
    const useReg = (ins.code & 0x08) === BPF_X;
    const whole = this.regs[ins.dst];
    const dst = u32(whole);
    const src = useReg ? u32(this.regs[ins.src]) : u32(BigInt(ins.imm));
    let result: bigint;
    switch (op) {
      case BPF_ADD:
        result = dst + src;
        break;
      case BPF_SUB:
        result = dst - src;
        break;
      case BPF_MUL:
        result = dst * src;
        break;
      case BPF_DIV:
        if (src === 0n) result = 0n;
        else result = ins.off === 1 ? s32(dst) / s32(src) : dst / src;
        break;
      case BPF_MOD:
        if (src === 0n) result = dst;
        else result = ins.off === 1 ? s32(dst) % s32(src) : dst % src;
        break;
      case BPF_OR:
        result = dst | src;
        break;
      case BPF_AND:
        result = dst & src;
        break;
      case BPF_XOR:
        result = dst ^ src;
        break;
      case BPF_LSH:
        result = dst << (src & 31n);
        break;
      case BPF_RSH:
        result = dst >> (src & 31n);
        break;
      case BPF_ARSH:
        result = s32(dst) >> (src & 31n);
        break;
      case BPF_NEG:
        result = -dst;
        break;
      case BPF_MOV:
        result = useReg && ins.off !== 0 ? BigInt.asIntN(ins.off, src) : src; // movsx: 8 or 16
        break;
      case BPF_END:
        // to_le is a truncation on this little-endian machine; to_be swaps bytes.
        this.regs[ins.dst] = useReg ? byteSwap(whole, ins.imm) : BigInt.asUintN(ins.imm, whole);
        return;
      default:
        throw this.invalid();
    }
    this.regs[ins.dst] = u32(result);
  }

  // ---- loads and stores: RFC 9669 §5 ----

  /** `lddw`: a 64-bit immediate from two slots, or (src 4) the index of a function. */
  private loadImm64(ins: Insn): void {
    if (ins.code !== LDDW) throw this.invalid();
    const next = this.insns[this.pc + 1];
    if (ins.src === BPF_PSEUDO_FUNC) {
      this.regs[ins.dst] = BigInt(this.pc + ins.imm + 1);
      return;
    }
    this.regs[ins.dst] = (BigInt(next.imm >>> 0) << 32n) | BigInt(ins.imm >>> 0);
  }

  /** The checked address of an access of `size` bytes at `base + off`. */
  private address(base: bigint, off: number, size: number, kind: AccessKind): number {
    const addr = u64(base + BigInt(off));
    if (addr < BigInt(PAGE_SIZE) || addr + BigInt(size) > BigInt(this.memory.size)) {
      throw new Trap({ kind: 'page-fault', pc: this.pc, access: { addr, size, kind } });
    }
    return Number(addr);
  }

  private read(addr: number, size: number): bigint {
    switch (size) {
      case 1:
        return BigInt(this.view.getUint8(addr));
      case 2:
        return BigInt(this.view.getUint16(addr, true));
      case 4:
        return BigInt(this.view.getUint32(addr, true));
      default:
        return this.view.getBigUint64(addr, true);
    }
  }

  private write(addr: number, size: number, value: bigint): void {
    switch (size) {
      case 1:
        this.view.setUint8(addr, Number(value & 0xffn));
        return;
      case 2:
        this.view.setUint16(addr, Number(value & 0xffffn), true);
        return;
      case 4:
        this.view.setUint32(addr, Number(value & 0xffff_ffffn), true);
        return;
      default:
        this.view.setBigUint64(addr, value & MASK64, true);
    }
  }

  /** `dst = *(size *)(src + off)`, zero-extended (MEM) or sign-extended (MEMSX). */
  private load(ins: Insn): void {
    const mode = ins.code & 0xe0;
    if (mode !== BPF_MEM && mode !== BPF_MEMSX) throw this.invalid();
    const size = accessBytes(ins.code);
    const addr = this.address(this.regs[ins.src], ins.off, size, 'read');
    const value = this.read(addr, size);
    this.regs[ins.dst] = mode === BPF_MEMSX ? u64(BigInt.asIntN(size * 8, value)) : value;
  }

  /** `*(size *)(dst + off) = imm`, the immediate sign-extended then truncated. */
  private storeImm(ins: Insn): void {
    if ((ins.code & 0xe0) !== BPF_MEM) throw this.invalid();
    const size = accessBytes(ins.code);
    const addr = this.address(this.regs[ins.dst], ins.off, size, 'write');
    this.write(addr, size, u64(BigInt(ins.imm)));
  }

  /** `*(size *)(dst + off) = src`, truncated. */
  private storeReg(ins: Insn): void {
    if ((ins.code & 0xe0) !== BPF_MEM) throw this.invalid();
    const size = accessBytes(ins.code);
    const addr = this.address(this.regs[ins.dst], ins.off, size, 'write');
    this.write(addr, size, this.regs[ins.src]);
  }

  /**
   * Atomic read-modify-write of 32 or 64 bits at `dst + off` (RFC 9669 §5.3):
   * add/or/and/xor, optionally fetching the old value into src; xchg; and
   * cmpxchg, which compares with r0 and always loads the old value into r0.
   * Fetched values are zero-extended.
   */
  private atomic(ins: Insn): void {
    const size = accessBytes(ins.code);
    if (size !== 4 && size !== 8) throw this.invalid();
    const bits = BigInt(size * 8);
    const addr = this.address(this.regs[ins.dst], ins.off, size, 'write');
    if (addr % size !== 0) {
      throw new Trap({
        kind: 'misaligned-atomic',
        pc: this.pc,
        access: { addr: BigInt(addr), size, kind: 'write' },
      });
    }
    const truncate = (v: bigint) => BigInt.asUintN(Number(bits), v);
    const old = this.read(addr, size);
    const operand = truncate(this.regs[ins.src]);
    const op = ins.imm;
    switch (op & ~BPF_FETCH) {
      case BPF_ADD:
        this.write(addr, size, truncate(old + operand));
        break;
      case BPF_OR:
        this.write(addr, size, old | operand);
        break;
      case BPF_AND:
        this.write(addr, size, old & operand);
        break;
      case BPF_XOR:
        this.write(addr, size, old ^ operand);
        break;
      case BPF_XCHG & ~BPF_FETCH:
        this.write(addr, size, operand);
        break;
      case BPF_CMPXCHG & ~BPF_FETCH:
        if (old === truncate(this.regs[0])) this.write(addr, size, operand);
        break;
      default:
        throw this.invalid();
    }
    if (op === BPF_CMPXCHG) this.regs[0] = old;
    else if (op & BPF_FETCH) this.regs[ins.src] = old;
  }

  // ---- jumps, calls and exit: RFC 9669 §4.3 ----

  private jump(ins: Insn): Next {
    const pc = this.pc;
    const is32 = (ins.code & 0x07) === BPF_JMP32;
    const op = ins.code & 0xf0;
    const useReg = (ins.code & 0x08) === BPF_X;
    switch (op) {
      case BPF_JA:
        // JMP32 | JA is gotol, whose offset is in imm.
        this.pc = pc + 1 + (is32 ? ins.imm : ins.off);
        return 'continue';
      case BPF_CALL:
        if (is32) throw this.invalid();
        return this.call(ins, useReg);
      case BPF_EXIT:
        if (is32) throw this.invalid();
        return this.exit();
    }
    const width = is32 ? 32 : 64;
    const a = BigInt.asUintN(width, this.regs[ins.dst]);
    const b = BigInt.asUintN(width, useReg ? this.regs[ins.src] : BigInt(ins.imm));
    const sa = BigInt.asIntN(width, a);
    const sb = BigInt.asIntN(width, b);
    let taken: boolean;
    switch (op) {
      case BPF_JEQ:
        taken = a === b;
        break;
      case BPF_JNE:
        taken = a !== b;
        break;
      case BPF_JSET:
        taken = (a & b) !== 0n;
        break;
      case BPF_JGT:
        taken = a > b;
        break;
      case BPF_JGE:
        taken = a >= b;
        break;
      case BPF_JLT:
        taken = a < b;
        break;
      case BPF_JLE:
        taken = a <= b;
        break;
      case BPF_JSGT:
        taken = sa > sb;
        break;
      case BPF_JSGE:
        taken = sa >= sb;
        break;
      case BPF_JSLT:
        taken = sa < sb;
        break;
      case BPF_JSLE:
        taken = sa <= sb;
        break;
      default:
        throw this.invalid();
    }
    this.pc = pc + 1 + (taken ? ins.off : 0);
    return 'continue';
  }

  private call(ins: Insn, useReg: boolean): Next {
    if (useReg) {
      // callx: the helper whose id is the whole value of the dst register.
      return this.callHelper(this.helpers, this.regs[ins.dst]);
    }
    switch (ins.src) {
      case BPF_PSEUDO_CALL:
        this.callLocal(this.pc + 1 + ins.imm);
        return 'continue';
      case BPF_PSEUDO_KFUNC_CALL:
        return this.callHelper(this.kfuncs, BigInt(ins.imm));
      default:
        return this.callHelper(this.helpers, BigInt(ins.imm));
    }
  }

  /** A local (bpf-to-bpf) call: a new frame of MAX_BPF_STACK bytes, r6-r9 saved. */
  private callLocal(target: number): void {
    const framesInUse = this.frames.length + 1;
    if (framesInUse + 1 > MAX_CALL_FRAMES) {
      throw new Trap({ kind: 'stack-overflow', pc: this.pc });
    }
    this.frames.push({ returnPc: this.pc + 1, saved: this.regs.slice(6, 10) });
    this.regs[10] = this.stackTop - BigInt(MAX_BPF_STACK * this.frames.length);
    this.pc = target;
  }

  /** `exit`: return from a local call, or end the program in the main function. */
  private exit(): Next {
    const frame = this.frames.pop();
    if (frame === undefined) return 'exit';
    for (let r = 6; r <= 9; r++) this.regs[r] = frame.saved[r - 6];
    this.regs[10] = this.stackTop - BigInt(MAX_BPF_STACK * this.frames.length);
    this.pc = frame.returnPc;
    return 'continue';
  }

  /** Runs a helper whole, through a CpuContext view of the registers. */
  private callHelper(table: HelperTable, id: bigint): Next {
    const entry = id <= 0xffffn ? table.get(Number(id)) : undefined;
    if (entry === undefined) throw new Trap({ kind: 'unknown-helper', pc: this.pc });
    const ctx = this.helperCtx;
    for (let r = 0; r <= 10; r++) ctx.setReg(r, this.regs[r]);
    ctx.pc = this.pc + 1;
    ctx.words[CTX_DEPTH] = this.frames.length;
    this.host.stopRequested = false;
    this.host.current = ctx;
    try {
      entry.fn(ctx, this.host as unknown as HelperCpu);
    } catch (e) {
      if (e instanceof CpuFault) throw new Trap({ kind: e.kind, pc: e.pc, access: e.access });
      if (e instanceof ErrnoError) throw new Trap({ kind: 'helper-error', pc: this.pc });
      throw e;
    } finally {
      // What a helper wrote to the registers stays, even when it then failed.
      for (let r = 0; r <= 10; r++) this.regs[r] = ctx.reg(r);
      this.host.current = null;
    }
    this.pc = ctx.pc;
    return this.host.stopRequested ? 'stop' : 'continue';
  }
}

/** Bytes accessed by a load or store, from the size field of its opcode. */
function accessBytes(code: number): 1 | 2 | 4 | 8 {
  switch (code & 0x18) {
    case BPF_B:
      return 1;
    case BPF_H:
      return 2;
    case BPF_W:
      return 4;
    case BPF_DW:
      return 8;
  }
  throw new RangeError(`bad size field in opcode ${code}`);
}
