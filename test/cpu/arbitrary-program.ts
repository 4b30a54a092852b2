/**
 * fast-check arbitraries of random *valid* eBPF programs and of the machine
 * state they start from, for the differential tests of the interpreter
 * against the reference interpreter.
 *
 * A program is a main function and up to three subfunctions, each a list of
 * pieces followed by `exit`. A piece is one instruction or a short sequence
 * (set up a pointer, then access memory through it); jump and call targets
 * are chosen as numbers and resolved to slot offsets once the layout (with
 * two-slot `lddw`s) is known, so every jump lands on an instruction and
 * every program passes `validate()`.
 *
 * The pieces cover: ALU32/ALU64 of every operation with a register or an
 * immediate (including v4 sdiv/smod, movsx, bswap), `this_cpu_ptr`, `lddw`,
 * loads, sign-extending loads, stores and atomics of every size and kind,
 * through r10 or a freshly computed pointer whose target is usually in
 * bounds and aligned but sometimes NULL, past the end of memory, wrapping
 * around 2^64, or misaligned; conditional jumps of every kind (64 and 32
 * bits) mostly forward and sometimes backward (loops, stopped by the
 * budget), `ja` and `gotol`; local calls (sometimes recursive, reaching the
 * frame limit); helper, kfunc and `callx` calls to the test helpers below,
 * including unknown ids, a failing helper and one that asks to stop.
 *
 * The machine: memory of MEMORY_SIZE bytes; the stack's 8 frames end at
 * STACK_TOP, just above page 0; the per-CPU area starts at GS_BASE; the data
 * buffer is the last DATA_SIZE bytes of memory, so reading past it faults.
 *
 * @example
 * fc.assert(fc.property(arbitraryCase(), (c) => { validate(c.insns); }));
 */

import fc from 'fast-check';
import { HelperTable } from '../../cpu/helpers.ts';
import { EXIT_INSN, type Insn, insn, lddw } from '../../cpu/insn.ts';
import {
  BPF_ADD,
  BPF_ALU,
  BPF_ALU64,
  BPF_AND,
  BPF_ARSH,
  BPF_ATOMIC,
  BPF_CALL,
  BPF_CMPXCHG,
  BPF_DIV,
  BPF_END,
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
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_X,
  BPF_XCHG,
  BPF_XOR,
  sizeField,
} from '../../cpu/opcodes.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { PAGE_SIZE, PhysicalMemory } from '../../segments/memory.ts';

export const MEMORY_SIZE = 0x4000;
/** r10 of the main function; the 8 frames of 512 bytes fill [PAGE_SIZE, STACK_TOP). */
export const STACK_TOP = 0x2000;
/** This CPU's per-CPU offset: `this_cpu_ptr(k)` is GS_BASE + k. */
export const GS_BASE = 0x3000;
export const PERCPU_SIZE = 0xf00;
/** The data buffer: the last bytes of memory. */
export const DATA_ADDR = 0x3f00;
export const DATA_SIZE = MEMORY_SIZE - DATA_ADDR;

/** Ids of the test helpers (see {@link testHelpers}). */
export const TEST_HELPER = {
  mix: 1,
  store: 2,
  thisCpu: 3,
  clobber: 4,
  stop: 5,
  fail: 6,
} as const;
export const UNKNOWN_HELPER = 99;
export const TEST_KFUNC_ADD = 1;
export const UNKNOWN_KFUNC = 77;

const U64 = (1n << 64n) - 1n;
const u64 = (v: bigint) => BigInt.asUintN(64, v);

/**
 * The helpers the generated programs call. They use only what the reference
 * interpreter offers a helper (registers, `memory`, `gsBase`, `id`,
 * `requestStop()`), so both interpreters can run them.
 *
 * @example
 * const cpu = new Cpu({ memory, helpers: testHelpers() });
 */
export function testHelpers(): HelperTable {
  return new HelperTable('helper')
    .register(TEST_HELPER.mix, 'test_mix', (ctx) => {
      const r = (i: number) => ctx.reg(i);
      ctx.setReg(0, (r(1) * 0x9e3779b97f4a7c15n + r(2)) ^ (r(3) >> 7n) ^ (r(4) + r(5)));
    })
    .register(TEST_HELPER.store, 'test_store', (ctx, cpu) => {
      const addr = ctx.reg(1);
      if (addr > 0xffff_ffffn) {
        throw new ErrnoError('EFAULT', `test_store: address 0x${addr.toString(16)} is not 32-bit`);
      }
      cpu.memory.write64(Number(addr), ctx.reg(2));
      ctx.setReg(0, 0n);
    })
    .register(TEST_HELPER.thisCpu, 'test_this_cpu', (ctx, cpu) => {
      ctx.setReg(0, BigInt(cpu.gsBase) + BigInt(cpu.id) * 0x100n);
    })
    .register(TEST_HELPER.clobber, 'test_clobber', (ctx) => {
      ctx.setReg(0, ctx.reg(1) ^ ctx.reg(2));
      for (let r = 1; r <= 5; r++) ctx.setReg(r, 0xdead_0000n + BigInt(r));
    })
    .register(TEST_HELPER.stop, 'test_stop', (ctx, cpu) => {
      ctx.setReg(0, 5n);
      cpu.requestStop();
    })
    .register(TEST_HELPER.fail, 'test_fail', (ctx) => {
      const v = ctx.reg(1);
      if (v & 1n) throw new ErrnoError('EINVAL', `test_fail: odd argument ${v}`);
      ctx.setReg(0, v >> 1n);
    });
}

/**
 * The kfuncs the generated programs call.
 *
 * @example
 * const cpu = new Cpu({ memory, helpers: testHelpers(), kfuncs: testKfuncs() });
 */
export function testKfuncs(): HelperTable {
  return new HelperTable('kfunc').register(TEST_KFUNC_ADD, 'test_kfunc_add', (ctx) => {
    ctx.setReg(0, ctx.reg(1) + ctx.reg(2));
  });
}

/** One generated test case: a program and the state it starts from. */
export interface ProgramCase {
  insns: Insn[];
  /** Initial r1-r9 (r0 starts at 0, r10 at STACK_TOP). */
  regs: bigint[];
  /** Seeds the contents of all mapped memory. */
  memorySeed: number;
  budget: number;
  /** Run the fast interpreter's atomics through `Atomics` (parallel mode). */
  concurrent: boolean;
}

/**
 * A fresh memory whose mapped bytes are filled from `seed` (xorshift32), so
 * two interpreters can start from identical memory.
 *
 * @example
 * const a = seededMemory(7), b = seededMemory(7); // same bytes
 */
export function seededMemory(seed: number): PhysicalMemory {
  const memory = new PhysicalMemory(MEMORY_SIZE);
  let x = seed | 0 || 0x1234_5678;
  for (let at = PAGE_SIZE; at < MEMORY_SIZE; at += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    memory.view.setInt32(at, x, true);
  }
  return memory;
}

// ---- pieces and their layout ----

/** Where a jump or call goes, chosen before the layout is known. */
type TargetChoice =
  | { to: 'forward'; pick: number; near: boolean }
  | { to: 'backward'; pick: number }
  | { to: 'function'; pick: number; recursive: boolean };

/** One or a few instructions; `fix` names the slot whose offset points at a target. */
interface Piece {
  insns: Insn[];
  fix?: { slot: number; field: 'off' | 'imm'; target: TargetChoice };
}

/** The last function of every program, so that every other one has a later function to call. */
const LEAF: Piece[] = [{ insns: [insn(BPF_ALU64 | BPF_ADD | BPF_X, 0, 1)] }];

interface ProgramShape {
  main: Piece[];
  subs: Piece[][];
}

/** Lays the functions out one after the other and resolves every target to an offset. */
function materialize(shape: ProgramShape): Insn[] {
  const exit: Piece = { insns: [{ ...EXIT_INSN }] };
  const fns = [shape.main, ...shape.subs, LEAF].map((pieces) => [...pieces, exit]);
  const starts: number[][] = [];
  let slot = 0;
  for (const pieces of fns) {
    starts.push(
      pieces.map((p) => {
        const at = slot;
        slot += p.insns.length;
        return at;
      }),
    );
  }
  const out: Insn[] = [];
  fns.forEach((pieces, f) => {
    pieces.forEach((piece, k) => {
      const insns = piece.insns.map((i) => ({ ...i }));
      if (piece.fix !== undefined) {
        const { slot: s, field, target } = piece.fix;
        const from = starts[f][k] + s;
        const to = resolveTarget(target, f, k, fns.length, pieces.length, starts);
        insns[s][field] = to - from - 1;
      }
      out.push(...insns);
    });
  });
  return out;
}

function resolveTarget(
  t: TargetChoice,
  f: number,
  k: number,
  nFns: number,
  nPieces: number,
  starts: number[][],
): number {
  switch (t.to) {
    case 'forward': {
      // A later piece of this function (its exit included), usually one of the next three.
      const span = nPieces - 1 - k;
      return starts[f][k + 1 + (t.pick % (t.near ? Math.min(span, 3) : span))];
    }
    case 'backward':
      return starts[f][t.pick % (k + 1)];
    case 'function': {
      // A later function (there is always the leaf), or any one when recursion is asked for.
      const later = nFns - 1 - f;
      const callee = t.recursive ? t.pick % nFns : f + 1 + (t.pick % later);
      return starts[callee][0];
    }
  }
}

// ---- operand arbitraries ----

const writableReg = fc.integer({ min: 0, max: 9 });
const anyReg = fc.integer({ min: 0, max: 10 });

const imm32 = fc.oneof(
  fc.constantFrom(
    0,
    1,
    -1,
    2,
    -2,
    7,
    8,
    31,
    32,
    33,
    63,
    64,
    0xff,
    0xffff,
    0x7fff_ffff,
    -0x8000_0000,
  ),
  fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }),
);

/** 64-bit values with the edges well represented. */
const value64 = fc.oneof(
  fc.constantFrom(
    0n,
    1n,
    U64,
    1n << 63n,
    (1n << 63n) - 1n,
    0xffff_ffffn,
    0x8000_0000n,
    0x1_0000_0000n,
    0xffff_ffff_8000_0000n,
    BigInt(DATA_ADDR),
    BigInt(STACK_TOP - 8),
    2n,
    5n,
  ),
  fc.bigInt({ min: 0n, max: U64 }),
  fc.bigInt({ min: -300n, max: 300n }).map(u64),
);

const simm16 = fc.integer({ min: -0x8000, max: 0x7fff });

// ---- ALU ----

const ALU_OPS = [
  BPF_ADD,
  BPF_SUB,
  BPF_MUL,
  BPF_DIV,
  BPF_OR,
  BPF_AND,
  BPF_LSH,
  BPF_RSH,
  BPF_NEG,
  BPF_MOD,
  BPF_XOR,
  BPF_MOV,
  BPF_ARSH,
  BPF_END,
];

const aluPiece: fc.Arbitrary<Piece> = fc
  .record({
    is64: fc.boolean(),
    op: fc.constantFrom(...ALU_OPS),
    useReg: fc.boolean(),
    dst: writableReg,
    src: anyReg,
    imm: imm32,
    signed: fc.boolean(),
    movOff: fc.constantFrom(0, 0, 8, 16, 32, -1),
    width: fc.constantFrom(16, 32, 64),
  })
  .map(({ is64, op, useReg, dst, src, imm, signed, movOff, width }): Piece => {
    const cls = is64 ? BPF_ALU64 : BPF_ALU;
    if (op === BPF_NEG) return { insns: [insn(cls | BPF_NEG | BPF_K, dst)] };
    if (op === BPF_END) {
      // ALU64 only has the unconditional swap (K); ALU has to_le (K) and to_be (X).
      const source = is64 || !useReg ? BPF_K : BPF_X;
      return { insns: [insn(cls | BPF_END | source, dst, 0, 0, width)] };
    }
    let off = 0;
    if (op === BPF_DIV || op === BPF_MOD) off = signed ? 1 : 0;
    if (op === BPF_MOV && useReg) off = is64 ? movOff : movOff === 32 || movOff === -1 ? 0 : movOff;
    return {
      insns: [
        useReg ? insn(cls | op | BPF_X, dst, src, off) : insn(cls | op | BPF_K, dst, 0, off, imm),
      ],
    };
  });

const lddwPiece: fc.Arbitrary<Piece> = fc
  .record({ dst: writableReg, value: value64 })
  .map(({ dst, value }): Piece => ({ insns: lddw(dst, value) }));

// ---- memory accesses ----

type MemoryOp = 'ldx' | 'ldxsx' | 'st' | 'stx' | 'atomic';

const ATOMIC_OPS = [
  BPF_ADD,
  BPF_OR,
  BPF_AND,
  BPF_XOR,
  BPF_ADD | BPF_FETCH,
  BPF_OR | BPF_FETCH,
  BPF_AND | BPF_FETCH,
  BPF_XOR | BPF_FETCH,
  BPF_XCHG,
  BPF_CMPXCHG,
];

/**
 * An address for an access of `size` bytes: mostly inside the data buffer,
 * the per-CPU area or the stack, sometimes at NULL, across the end of
 * memory, across the end of page 0, or anywhere.
 */
function targetAddress(size: number, aligned: boolean): fc.Arbitrary<bigint> {
  const align = (a: number) => (aligned ? a - (a % size) : a);
  return fc.oneof(
    { weight: 40, arbitrary: fc.nat(DATA_SIZE - size).map((k) => BigInt(align(DATA_ADDR + k))) },
    { weight: 15, arbitrary: fc.nat(PERCPU_SIZE - size).map((k) => BigInt(align(GS_BASE + k))) },
    {
      weight: 10,
      arbitrary: fc.nat(STACK_TOP - PAGE_SIZE - size).map((k) => BigInt(align(PAGE_SIZE + k))),
    },
    { weight: 1, arbitrary: fc.nat(64).map((k) => BigInt(align(k))) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: size + 8 }).map((k) => BigInt(MEMORY_SIZE - size + k)),
    },
    { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }).map((k) => BigInt(PAGE_SIZE + k)) },
    { weight: 1, arbitrary: value64 },
  );
}

/** `off` of the access: small, or anywhere in the signed 16-bit range (so the base may wrap). */
const accessOff = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -64, max: 64 }) },
  { weight: 1, arbitrary: simm16 },
);

/** Instructions setting `reg` to `value`: a 64-bit mov when it fits, otherwise an lddw. */
function setReg(reg: number, value: bigint, preferLddw: boolean): Insn[] {
  const signed = BigInt.asIntN(64, value);
  if (!preferLddw && signed >= -0x8000_0000n && signed <= 0x7fff_ffffn) {
    return [insn(BPF_ALU64 | BPF_MOV | BPF_K, reg, 0, 0, Number(signed))];
  }
  return lddw(reg, value);
}

/** How the access finds its base register. */
type Base =
  | { via: 'pointer'; reg: number; target: bigint; off: number; preferLddw: boolean }
  | { via: 'percpu'; reg: number; index: number; offsetInArea: number; off: number }
  | { via: 'stack'; off: number }
  | { via: 'register'; reg: number; off: number };

function baseArb(size: number, aligned: boolean): fc.Arbitrary<Base> {
  const inFrame = aligned
    ? fc.integer({ min: 1, max: 512 / size }).map((k) => -k * size)
    : fc.integer({ min: -512, max: -size });
  return fc.oneof(
    {
      weight: 20,
      arbitrary: fc.record({
        via: fc.constant('pointer' as const),
        reg: writableReg,
        target: targetAddress(size, aligned),
        off: accessOff,
        preferLddw: fc.boolean(),
      }),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        via: fc.constant('percpu' as const),
        reg: writableReg,
        index: writableReg,
        offsetInArea: fc.nat(PERCPU_SIZE / size - 1).map((k) => k * size + (aligned ? 0 : 1)),
        off: fc.integer({ min: -8, max: 8 }).map((k) => k * size),
      }),
    },
    {
      weight: 12,
      arbitrary: fc.record({
        via: fc.constant('stack' as const),
        off: fc.oneof(
          { weight: 6, arbitrary: inFrame },
          { weight: 1, arbitrary: fc.integer({ min: -4200, max: 64 }) },
        ),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        via: fc.constant('register' as const),
        reg: anyReg,
        off: accessOff,
      }),
    },
  );
}

/** The setup instructions and the (register, off) of the access. */
function materializeBase(base: Base): { setup: Insn[]; reg: number; off: number } {
  switch (base.via) {
    case 'pointer':
      return {
        setup: setReg(base.reg, base.target - BigInt(base.off), base.preferLddw),
        reg: base.reg,
        off: base.off,
      };
    case 'percpu':
      // rI = offset in the area - off; rP = this_cpu_ptr(rI); access rP + off.
      return {
        setup: [
          insn(BPF_ALU64 | BPF_MOV | BPF_K, base.index, 0, 0, base.offsetInArea - base.off),
          insn(BPF_ALU64 | BPF_MOV | BPF_X, base.reg, base.index, -1),
        ],
        reg: base.reg,
        off: base.off,
      };
    case 'stack':
      return { setup: [], reg: 10, off: base.off };
    case 'register':
      return { setup: [], reg: base.reg, off: base.off };
  }
}

const memoryPiece: fc.Arbitrary<Piece> = fc
  .record({
    kind: fc.constantFrom<MemoryOp>('ldx', 'ldxsx', 'st', 'stx', 'atomic', 'atomic'),
    size: fc.constantFrom(1, 2, 4, 8),
    misaligned: fc.nat(19).map((k) => k === 0),
    reg: writableReg,
    other: anyReg,
    imm: imm32,
    atomicOp: fc.constantFrom(...ATOMIC_OPS),
    matchR0: fc.boolean(),
    high: value64,
  })
  .chain((a) => {
    let size = a.size;
    if (a.kind === 'atomic') size = size <= 4 ? 4 : 8;
    if (a.kind === 'ldxsx' && size === 8) size = 4;
    return baseArb(size, !a.misaligned).map((base) => ({ ...a, size, base }));
  })
  .map(({ kind, size, base, reg, other, imm, atomicOp, matchR0, high }): Piece => {
    const { setup, reg: b, off } = materializeBase(base);
    const sz = sizeField(size);
    let access: Insn;
    switch (kind) {
      case 'ldx':
        access = insn(BPF_LDX | BPF_MEM | sz, reg, b, off);
        break;
      case 'ldxsx':
        access = insn(BPF_LDX | BPF_MEMSX | sz, reg, b, off);
        break;
      case 'st':
        access = insn(BPF_ST | BPF_MEM | sz, b, 0, off, imm);
        break;
      case 'stx':
        access = insn(BPF_STX | BPF_MEM | sz, b, other, off);
        break;
      case 'atomic': {
        // A fetch writes its src register, which must not be the frame pointer.
        const writesSrc = atomicOp & BPF_FETCH && atomicOp !== BPF_CMPXCHG;
        const src = writesSrc && other === 10 ? 0 : other;
        access = insn(BPF_STX | BPF_ATOMIC | sz, b, src, off, atomicOp);
        if (atomicOp === BPF_CMPXCHG && matchR0 && b !== 0) {
          // Make the comparison succeed: r0 = the current value (a 32-bit one under other high bits).
          const scratch = [reg, 1, 2].find((r) => r !== 0 && r !== b) ?? 1;
          const load = insn(BPF_LDX | BPF_MEM | sz, scratch, b, off);
          const match =
            size === 8
              ? [{ ...load, dst: 0 }]
              : [...lddw(0, high << 32n), load, insn(BPF_ALU64 | BPF_OR | BPF_X, 0, load.dst)];
          return { insns: [...setup, ...match, access] };
        }
        break;
      }
    }
    return { insns: [...setup, access] };
  });

// ---- jumps ----

const CONDITIONAL_JUMPS = [
  BPF_JEQ,
  BPF_JGT,
  BPF_JGE,
  BPF_JSET,
  BPF_JNE,
  BPF_JSGT,
  BPF_JSGE,
  BPF_JLT,
  BPF_JLE,
  BPF_JSLT,
  BPF_JSLE,
];

const conditionalJumpPiece: fc.Arbitrary<Piece> = fc
  .record({
    is32: fc.boolean(),
    op: fc.constantFrom(...CONDITIONAL_JUMPS),
    useReg: fc.boolean(),
    dst: anyReg,
    src: anyReg,
    imm: imm32,
    backward: fc.nat(9).map((k) => k === 0),
    near: fc.nat(4).map((k) => k !== 0),
    pick: fc.nat(),
  })
  .map(({ is32, op, useReg, dst, src, imm, backward, near, pick }): Piece => {
    const cls = is32 ? BPF_JMP32 : BPF_JMP;
    const jump = useReg ? insn(cls | op | BPF_X, dst, src) : insn(cls | op | BPF_K, dst, 0, 0, imm);
    const target: TargetChoice = backward
      ? { to: 'backward', pick }
      : { to: 'forward', pick, near };
    return { insns: [jump], fix: { slot: 0, field: 'off', target } };
  });

const unconditionalJumpPiece: fc.Arbitrary<Piece> = fc
  .record({ gotol: fc.boolean(), backward: fc.nat(19).map((k) => k === 0), pick: fc.nat() })
  .map(
    ({ gotol, backward, pick }): Piece => ({
      insns: [insn((gotol ? BPF_JMP32 : BPF_JMP) | BPF_JA)],
      fix: {
        slot: 0,
        field: gotol ? 'imm' : 'off',
        target: backward ? { to: 'backward', pick } : { to: 'forward', pick, near: true },
      },
    }),
  );

// ---- calls ----

const localCallPiece: fc.Arbitrary<Piece> = fc
  .record({ pick: fc.nat(), recursive: fc.nat(7).map((k) => k === 0) })
  .map(
    ({ pick, recursive }): Piece => ({
      insns: [insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL)],
      fix: { slot: 0, field: 'imm', target: { to: 'function', pick, recursive } },
    }),
  );

const helperId = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.constantFrom(
      TEST_HELPER.mix,
      TEST_HELPER.store,
      TEST_HELPER.thisCpu,
      TEST_HELPER.clobber,
      TEST_HELPER.fail,
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(TEST_HELPER.stop, UNKNOWN_HELPER) },
);

const helperCallPiece: fc.Arbitrary<Piece> = fc
  .record({
    id: helperId,
    storeAt: targetAddress(8, true),
    how: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom('call', 'call', 'kfunc', 'callx') },
      { weight: 1, arbitrary: fc.constant('callx-any') },
    ),
    reg: writableReg,
    from: anyReg,
    kfunc: fc.nat(9).map((k) => (k === 0 ? UNKNOWN_KFUNC : TEST_KFUNC_ADD)),
  })
  .map(({ id, storeAt, how, reg, from, kfunc }): Piece => {
    // test_store writes r2 to the address in r1: aim r1 at mostly valid memory.
    const setup = id === TEST_HELPER.store && how === 'call' ? setReg(1, storeAt, false) : [];
    switch (how) {
      case 'call':
        return { insns: [...setup, insn(BPF_JMP | BPF_CALL, 0, 0, 0, id)] };
      case 'kfunc':
        return { insns: [insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, kfunc)] };
      case 'callx':
        return {
          insns: [
            insn(BPF_ALU | BPF_MOV | BPF_K, reg, 0, 0, id),
            insn(BPF_JMP | BPF_CALL | BPF_X, reg),
          ],
        };
      default:
        // callx through a copy of any register, high word included.
        return {
          insns: [
            insn(BPF_ALU64 | BPF_MOV | BPF_X, reg, from),
            insn(BPF_JMP | BPF_CALL | BPF_X, reg),
          ],
        };
    }
  });

// ---- programs ----

const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 12, arbitrary: aluPiece },
  { weight: 2, arbitrary: lddwPiece },
  { weight: 10, arbitrary: memoryPiece },
  { weight: 5, arbitrary: conditionalJumpPiece },
  { weight: 1, arbitrary: unconditionalJumpPiece },
  { weight: 2, arbitrary: localCallPiece },
  { weight: 2, arbitrary: helperCallPiece },
);

/**
 * A random valid program: a main function of up to `maxPieces` pieces and
 * up to three subfunctions.
 *
 * @example
 * fc.sample(arbitraryProgram(), 1)[0]; // Insn[] that validate() accepts
 */
export function arbitraryProgram(maxPieces = 30): fc.Arbitrary<Insn[]> {
  return fc
    .record({
      main: fc.array(piece, { minLength: 1, maxLength: maxPieces, size: 'max' }),
      subs: fc.array(fc.array(piece, { minLength: 1, maxLength: 8, size: 'max' }), {
        maxLength: 3,
        size: 'max',
      }),
    })
    .map(materialize);
}

/**
 * A random test case: a valid program, initial r1-r9, memory contents, a
 * budget (often small, so budget stops land anywhere) and the atomics mode.
 *
 * @example
 * fc.assert(fc.property(arbitraryCase(), (c) => { ... }), { numRuns: 2000 });
 */
export function arbitraryCase(): fc.Arbitrary<ProgramCase> {
  return fc.record({
    insns: arbitraryProgram(),
    regs: fc.array(value64, { minLength: 9, maxLength: 9 }),
    memorySeed: fc.integer(),
    budget: fc.oneof(
      { weight: 3, arbitrary: fc.constant(1000) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 60 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 1000 }) },
    ),
    concurrent: fc.boolean(),
  });
}
