/**
 * PerCpuPtr<T>: a typed per-CPU pointer, the Rust-for-Linux series'
 * PerCpuPtr. The pointer is zero-based, as on x86-64: for a static variable
 * it is the offset in `.data..percpu`, for a dynamic allocation what
 * alloc_percpu returned; CPU n's copy is at `ptr + __per_cpu_offset[n]`.
 *
 * Ways in, from the safest:
 *   get(guard)            a PerCpuRef on the guard's CPU, valid while the guard lives
 *   token(guard)          exclusive access inside `token.with(fn)` (PerCpuToken)
 *   this_cpu_* methods    one indivisible operation on the caller's copy
 *   __this_cpu_* methods  the same, but the caller must not be preemptible:
 *                         pass a guard as proof, or the model and let
 *                         DEBUG_PREEMPT check the promise
 *   raw_cpu_* methods     neither protection nor check
 *   remote(cpu)           CPU `cpu`'s copy, from anywhere: racy against that
 *                         CPU unless the caller knows why it is not (the CPU
 *                         is offline, the value is read-mostly, a lock...)
 *   thisCpuPtr/rawCpuPtr  the raw address, this_cpu_ptr and raw_cpu_ptr
 *
 * `T` is the JS type of the C type: number for integers of up to 4 bytes,
 * bigint for 8-byte ones, records and arrays for structs and arrays. It is
 * the caller's statement; the C type decides what is read at run time.
 *
 * Context: `get`, `token`, the op families and `thisCpuPtr` act on the
 * calling CPU (a task, helper or handler of the machine); `remote` and
 * `perCpuPtr` work anywhere.
 *
 * @example
 * const hits = new PerCpuPtr<bigint>(areas, areas.symbol('hits').address, u64);
 * hits.thisCpuInc(model);                      // this_cpu_inc(hits)
 * { using g = CpuGuard.enter(model); hits.get(g).read(); }
 * hits.remote(2).read();                       // CPU 2's copy, racy
 */

import type { CType, IntType, Scalar } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { fromBits, toBits } from './c-value.ts';
import { Guard } from './guard.ts';
import type { PerCpuAreas } from './per-cpu-areas.ts';
import { PerCpuRef, type RefValidity } from './per-cpu-ref.ts';
import { type ExclusiveGuard, PerCpuToken } from './per-cpu-token.ts';
import type { PreemptionModel } from './preemption-model.ts';
import {
  type PercpuFamily,
  type PercpuOpName,
  type PercpuSize,
  thisCpuOp,
} from './this-cpu-ops.ts';

/**
 * Where an operation runs: the model (the caller's CPU, whatever it is) or a
 * guard (its CPU, checked to be alive and held by the caller).
 *
 * @example
 * hits.thisCpuInc(model); // or hits.thisCpuInc(guard)
 */
export type OnCpu = PreemptionModel | Guard;

export class PerCpuPtr<T> {
  /** Names the object in messages: `'hits'`, `'stats'+8`, or `per-CPU 0x9000`. */
  readonly name: string;

  /**
   * A pointer to the per-CPU object of type `type` at per-CPU pointer `ptr`.
   *
   * @example
   * new PerCpuPtr<number>(areas, areas.symbol('cpu_number').address, s32);
   */
  constructor(
    /** The per-CPU areas the pointer is relative to. */
    readonly areas: PerCpuAreas,
    /** The per-CPU pointer (zero-based offset). */
    readonly ptr: number,
    /** The C type of the object. */
    readonly type: CType,
    name?: string,
  ) {
    if (!Number.isInteger(ptr)) {
      throw new ErrnoError('EINVAL', `per-CPU pointer ${ptr} is not an integer`);
    }
    this.name = name ?? describe(areas, ptr);
  }

  /**
   * per_cpu_ptr(ptr, cpu): the address of CPU `cpu`'s copy.
   *
   * @example
   * memory.read64(hits.perCpuPtr(1));
   */
  perCpuPtr(cpu: number): number {
    return this.areas.perCpuPtr(this.ptr, cpu);
  }

  /**
   * this_cpu_ptr(ptr): the address of the caller's copy. Given the model, it
   * goes through smp_processor_id(), so DEBUG_PREEMPT reports a preemptible
   * caller (`BUG: using smp_processor_id() in preemptible ...`) as the
   * kernel does; given a guard, the guard must be alive and held.
   *
   * @example
   * using g = CpuGuard.enter(model);
   * hits.thisCpuPtr(g); // stays right while g lives
   */
  thisCpuPtr(at: OnCpu): number {
    if (at instanceof Guard) {
      this.checkMachine(at.model);
      at.assertHeld(`this_cpu_ptr(${this.name})`);
      return this.perCpuPtr(at.cpu);
    }
    this.checkMachine(at);
    return this.perCpuPtr(at.smpProcessorId());
  }

  /**
   * raw_cpu_ptr(ptr): the address of the caller's copy, unchecked; it may be
   * another CPU's copy by the time it is used.
   *
   * @example
   * hits.rawCpuPtr(model);
   */
  rawCpuPtr(model: PreemptionModel): number {
    this.checkMachine(model);
    return this.perCpuPtr(model.rawSmpProcessorId());
  }

  /**
   * The copy of the guard's CPU, usable while the guard lives, on that CPU,
   * in the task holding the guard (each access throws EPERM otherwise).
   * Under a MigrateGuard other tasks of this CPU may run between two of the
   * caller's steps; a CpuGuard or IrqGuard keeps them out.
   *
   * @example
   * using g = CpuGuard.enter(model);
   * hits.get(g).update((n) => n + 1n);
   */
  get(guard: Guard): PerCpuRef<T> {
    this.checkMachine(guard.model);
    const what = `PerCpuRef to ${this.name}`;
    guard.assertHeld(what);
    return this.refOn(guard.cpu, (w) => guard.assertHeld(w));
  }

  /**
   * CPU `cpu`'s copy, from any CPU, never invalidated. Racy against code on
   * that CPU: use it where the caller knows why it is safe (reading
   * statistics, a CPU that is not running, data under a lock).
   *
   * @example
   * for (let cpu = 0; cpu < areas.nrCpus; cpu++) total += hits.remote(cpu).read();
   */
  remote(cpu: number): PerCpuRef<T> {
    return this.refOn(cpu, () => {});
  }

  /**
   * A ref to CPU `cpu`'s copy, usable while `validity` allows. `get`,
   * `remote`, tokens and CheckedPerCpu borrows all make their refs here, so
   * a subclass (the sanitizer's checked pointer, dynamic-per-cpu.ts) decides
   * what every ref to its object does.
   *
   * @example
   * hits.refOn(1, () => {}).read(); // what hits.remote(1).read() does
   */
  refOn(cpu: number, validity: RefValidity): PerCpuRef<T> {
    return new PerCpuRef<T>(
      this.areas.memory,
      this.perCpuPtr(cpu),
      this.type,
      cpu,
      this.name,
      validity,
    );
  }

  /**
   * A PerCpuToken: exclusive access to the guard's CPU's copy inside `with`.
   *
   * @example
   * using g = CpuGuard.enter(model);
   * hits.token(g).with((r) => r.update((n) => n + 1n));
   */
  token(guard: ExclusiveGuard): PerCpuToken<T> {
    return new PerCpuToken(this, guard);
  }

  // ---- this_cpu_*: preempt- and IRQ-safe, one step each ------------------------------

  /**
   * this_cpu_read.
   * @example hits.thisCpuRead(model); // 3n
   */
  thisCpuRead(this: PerCpuPtr<Scalar>, at: OnCpu): T {
    return this.op<T>('this_cpu_', 'read', at);
  }
  /**
   * this_cpu_write.
   * @example hits.thisCpuWrite(model, 0n);
   */
  thisCpuWrite(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('this_cpu_', 'write', at, v);
  }
  /**
   * this_cpu_add.
   * @example hits.thisCpuAdd(model, 5n);
   */
  thisCpuAdd(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('this_cpu_', 'add', at, v);
  }
  /**
   * this_cpu_sub.
   * @example hits.thisCpuSub(model, 5n);
   */
  thisCpuSub(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('this_cpu_', 'sub', at, v);
  }
  /**
   * this_cpu_inc.
   * @example hits.thisCpuInc(model);
   */
  thisCpuInc(this: PerCpuPtr<Scalar>, at: OnCpu): void {
    this.op('this_cpu_', 'inc', at);
  }
  /**
   * this_cpu_dec.
   * @example hits.thisCpuDec(model);
   */
  thisCpuDec(this: PerCpuPtr<Scalar>, at: OnCpu): void {
    this.op('this_cpu_', 'dec', at);
  }
  /**
   * this_cpu_and.
   * @example flags.thisCpuAnd(model, ~4);
   */
  thisCpuAnd(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('this_cpu_', 'and', at, v);
  }
  /**
   * this_cpu_or.
   * @example flags.thisCpuOr(model, 4);
   */
  thisCpuOr(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('this_cpu_', 'or', at, v);
  }
  /**
   * this_cpu_xchg: writes `v`, returns the old value.
   * @example const old = hits.thisCpuXchg(model, 0n);
   */
  thisCpuXchg(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): T {
    return this.op<T>('this_cpu_', 'xchg', at, v);
  }
  /**
   * this_cpu_cmpxchg: writes `next` if the value is `old`; returns the value seen.
   * @example hits.thisCpuCmpxchg(model, 0n, 1n) === 0n; // true if it swapped
   */
  thisCpuCmpxchg(this: PerCpuPtr<Scalar>, at: OnCpu, old: T, next: T): T {
    return this.op<T>('this_cpu_', 'cmpxchg', at, old, next);
  }
  /**
   * this_cpu_add_return: adds `v`, returns the new value.
   * @example const n = hits.thisCpuAddReturn(model, 1n);
   */
  thisCpuAddReturn(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): T {
    return this.op<T>('this_cpu_', 'add_return', at, v);
  }

  // ---- __this_cpu_*: the caller is not preemptible -----------------------------------

  /**
   * __this_cpu_read. With a guard (the proof) no check runs; with the model,
   * DEBUG_PREEMPT reports a preemptible caller.
   * @example hits.__thisCpuRead(g);
   */
  __thisCpuRead(this: PerCpuPtr<Scalar>, at: OnCpu): T {
    return this.op<T>('__this_cpu_', 'read', at);
  }
  /**
   * __this_cpu_write.
   * @example hits.__thisCpuWrite(g, 0n);
   */
  __thisCpuWrite(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('__this_cpu_', 'write', at, v);
  }
  /**
   * __this_cpu_add.
   * @example hits.__thisCpuAdd(g, 5n);
   */
  __thisCpuAdd(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('__this_cpu_', 'add', at, v);
  }
  /**
   * __this_cpu_sub.
   * @example hits.__thisCpuSub(g, 5n);
   */
  __thisCpuSub(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('__this_cpu_', 'sub', at, v);
  }
  /**
   * __this_cpu_inc.
   * @example hits.__thisCpuInc(g);
   */
  __thisCpuInc(this: PerCpuPtr<Scalar>, at: OnCpu): void {
    this.op('__this_cpu_', 'inc', at);
  }
  /**
   * __this_cpu_dec.
   * @example hits.__thisCpuDec(g);
   */
  __thisCpuDec(this: PerCpuPtr<Scalar>, at: OnCpu): void {
    this.op('__this_cpu_', 'dec', at);
  }
  /**
   * __this_cpu_and.
   * @example flags.__thisCpuAnd(g, ~4);
   */
  __thisCpuAnd(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('__this_cpu_', 'and', at, v);
  }
  /**
   * __this_cpu_or.
   * @example flags.__thisCpuOr(g, 4);
   */
  __thisCpuOr(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('__this_cpu_', 'or', at, v);
  }
  /**
   * __this_cpu_xchg: writes `v`, returns the old value.
   * @example const old = hits.__thisCpuXchg(g, 0n);
   */
  __thisCpuXchg(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): T {
    return this.op<T>('__this_cpu_', 'xchg', at, v);
  }
  /**
   * __this_cpu_cmpxchg: writes `next` if the value is `old`; returns the value seen.
   * @example hits.__thisCpuCmpxchg(g, 0n, 1n);
   */
  __thisCpuCmpxchg(this: PerCpuPtr<Scalar>, at: OnCpu, old: T, next: T): T {
    return this.op<T>('__this_cpu_', 'cmpxchg', at, old, next);
  }
  /**
   * __this_cpu_add_return: adds `v`, returns the new value.
   * @example const n = hits.__thisCpuAddReturn(g, 1n);
   */
  __thisCpuAddReturn(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): T {
    return this.op<T>('__this_cpu_', 'add_return', at, v);
  }

  // ---- raw_cpu_*: no protection, no check ----------------------------------------------

  /**
   * raw_cpu_read.
   * @example hits.rawCpuRead(model);
   */
  rawCpuRead(this: PerCpuPtr<Scalar>, at: OnCpu): T {
    return this.op<T>('raw_cpu_', 'read', at);
  }
  /**
   * raw_cpu_write.
   * @example hits.rawCpuWrite(model, 0n);
   */
  rawCpuWrite(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('raw_cpu_', 'write', at, v);
  }
  /**
   * raw_cpu_add.
   * @example hits.rawCpuAdd(model, 5n);
   */
  rawCpuAdd(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('raw_cpu_', 'add', at, v);
  }
  /**
   * raw_cpu_sub.
   * @example hits.rawCpuSub(model, 5n);
   */
  rawCpuSub(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('raw_cpu_', 'sub', at, v);
  }
  /**
   * raw_cpu_inc.
   * @example hits.rawCpuInc(model);
   */
  rawCpuInc(this: PerCpuPtr<Scalar>, at: OnCpu): void {
    this.op('raw_cpu_', 'inc', at);
  }
  /**
   * raw_cpu_dec.
   * @example hits.rawCpuDec(model);
   */
  rawCpuDec(this: PerCpuPtr<Scalar>, at: OnCpu): void {
    this.op('raw_cpu_', 'dec', at);
  }
  /**
   * raw_cpu_and.
   * @example flags.rawCpuAnd(model, ~4);
   */
  rawCpuAnd(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('raw_cpu_', 'and', at, v);
  }
  /**
   * raw_cpu_or.
   * @example flags.rawCpuOr(model, 4);
   */
  rawCpuOr(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): void {
    this.op('raw_cpu_', 'or', at, v);
  }
  /**
   * raw_cpu_xchg: writes `v`, returns the old value.
   * @example const old = hits.rawCpuXchg(model, 0n);
   */
  rawCpuXchg(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): T {
    return this.op<T>('raw_cpu_', 'xchg', at, v);
  }
  /**
   * raw_cpu_cmpxchg: writes `next` if the value is `old`; returns the value seen.
   * @example hits.rawCpuCmpxchg(model, 0n, 1n);
   */
  rawCpuCmpxchg(this: PerCpuPtr<Scalar>, at: OnCpu, old: T, next: T): T {
    return this.op<T>('raw_cpu_', 'cmpxchg', at, old, next);
  }
  /**
   * raw_cpu_add_return: adds `v`, returns the new value.
   * @example const n = hits.rawCpuAddReturn(model, 1n);
   */
  rawCpuAddReturn(this: PerCpuPtr<Scalar>, at: OnCpu, v: T): T {
    return this.op<T>('raw_cpu_', 'add_return', at, v);
  }

  /**
   * `<family><op>` on this object. A guard is checked (alive, held) and
   * stands for the non-preemptible context `__this_cpu_` asks for, so the
   * DEBUG_PREEMPT check runs only when the model is given.
   */
  private op<R>(family: PercpuFamily, op: PercpuOpName, at: OnCpu, a?: unknown, b?: unknown): R {
    const what = `${family}${op}(${this.name})`;
    const t = this.intType(what);
    const av = a === undefined ? 0n : toBits(a, what);
    const bv = b === undefined ? 0n : toBits(b, what);
    const model = at instanceof Guard ? at.model : at;
    this.checkMachine(model);
    if (at instanceof Guard) {
      at.assertHeld(what);
      if (family === '__this_cpu_') family = 'raw_cpu_';
    }
    return fromBits(t, this.applyOp(model, family, op, t.size, av, bv)) as R;
  }

  /**
   * Runs `<family><op>` on the caller's copy: the one place every op-family
   * method ends up, so a subclass can observe them all.
   */
  protected applyOp(
    model: PreemptionModel,
    family: PercpuFamily,
    op: PercpuOpName,
    size: PercpuSize,
    a: bigint,
    b: bigint,
  ): bigint {
    return thisCpuOp(model, family, op, size, this.ptr, a, b);
  }

  private intType(what: string): IntType {
    if (this.type.kind !== 'int') {
      throw new ErrnoError(
        'EINVAL',
        `${what} needs an integer per-CPU object, but ${this.name} is ${this.type.name}`,
      );
    }
    return this.type;
  }

  private checkMachine(model: PreemptionModel): void {
    if (model.areas !== this.areas) {
      throw new ErrnoError('EINVAL', `${this.name} belongs to another machine than the caller`);
    }
  }
}

/** `'name'` or `'name'+off` from the symbol table, else the pointer in hex. */
function describe(areas: PerCpuAreas, ptr: number): string {
  const at = areas.image.symbols.lookup(ptr, '.data..percpu');
  if (at === undefined) return `per-CPU 0x${ptr.toString(16)}`;
  const plus = at.lastIndexOf('+');
  const name = at.slice(0, plus);
  const off = at.slice(plus + 1);
  return off === '0' ? `'${name}'` : `'${name}'+${off}`;
}
