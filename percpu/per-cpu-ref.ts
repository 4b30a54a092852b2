/**
 * PerCpuRef: one CPU's copy of a per-CPU object, typed by its C type, valid
 * for as long as whatever handed it out says. A ref from `PerCpuPtr.get`
 * lives as long as its guard (and only on the guard's CPU, in the guard's
 * task); one from a token lives inside `PerCpuToken.with`; one from a
 * CheckedPerCpu borrow as long as the borrow; one from `PerCpuPtr.remote`
 * always (such access is racy unless the caller knows why it is not). Every
 * access checks validity first and throws EPERM when it is gone.
 *
 * Values: number for integers of up to 4 bytes, bigint for 8-byte ones,
 * arrays and records for arrays and structs (see c-value.ts).
 *
 * @example
 * using g = CpuGuard.enter(model);
 * const r = hits.ptr.get(g);   // PerCpuRef<bigint> on g.cpu
 * r.update((n) => n + 1n);
 */

import type { CType } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import { readValue, writeValue } from './c-value.ts';

/**
 * Throws EPERM, naming `what`, when the ref may no longer be used.
 *
 * @example
 * const validity: RefValidity = (what) => guard.assertHeld(what);
 */
export type RefValidity = (what: string) => void;

/**
 * The element type of an array value type.
 *
 * @example
 * type E = ElementOf<number[]>; // number
 */
export type ElementOf<T> = T extends readonly (infer E)[] ? E : never;

export class PerCpuRef<T> {
  /**
   * Normally made by PerCpuPtr, PerCpuToken or CheckedPerCpu, which supply
   * `validity`.
   *
   * @example
   * new PerCpuRef<number>(memory, addr, u32, 0, "'hits'", () => {}); // an unchecked ref
   */
  constructor(
    protected readonly memory: PhysicalMemory,
    protected readonly addr: number,
    /** The C type of the object. */
    readonly type: CType,
    /** The CPU whose copy this is. */
    readonly cpu: number,
    /** The object's name for messages, e.g. `'hits'` or `'stats'.drops`. */
    readonly name: string,
    protected readonly validity: RefValidity,
  ) {}

  /**
   * How errors name this ref.
   *
   * @example
   * ref.description; // "PerCpuRef to 'hits' on CPU 0"
   */
  get description(): string {
    return `PerCpuRef to ${this.name} on CPU ${this.cpu}`;
  }

  /**
   * False once the ref may no longer be used (its guard, token call or
   * borrow ended, or the caller is elsewhere).
   *
   * @example
   * if (ref.valid) ref.read();
   */
  get valid(): boolean {
    try {
      this.validity(this.description);
      return true;
    } catch (e) {
      if (e instanceof ErrnoError && e.errno === 'EPERM') return false;
      throw e;
    }
  }

  /**
   * The physical address of this copy, e.g. to hand to a guest program.
   *
   * @example
   * memory.read64(hits.ptr.get(g).address);
   */
  get address(): number {
    this.validity(this.description);
    return this.addr;
  }

  /**
   * Reads the whole value.
   *
   * @example
   * const n = ref.read();
   */
  read(): T {
    this.validity(this.description);
    return readValue(this.memory, this.addr, this.type) as T;
  }

  /**
   * Writes the whole value (every field of a struct, every element of an array).
   *
   * @example
   * ref.write(0n);
   */
  write(value: T): void {
    this.validity(this.description);
    writeValue(this.memory, this.addr, this.type, value);
  }

  /**
   * Reads, applies `fn`, writes the result back and returns it. One step for
   * the emulator, but not an atomic operation for the C code it models: it is
   * only safe while nothing else can touch this copy.
   *
   * @example
   * ref.update((n) => n + 1n);
   */
  update(fn: (value: T) => T): T {
    const next = fn(this.read());
    this.write(next);
    return next;
  }

  /**
   * A ref to field `name` of a struct, with the same validity.
   *
   * @example
   * stats.ptr.get(g).field('drops').update((n) => n + 1);
   */
  field<K extends keyof T & string>(name: K): PerCpuRef<T[K]> {
    if (this.type.kind !== 'struct') {
      throw new ErrnoError('EINVAL', `${this.name} is ${this.type.name}, not a struct`);
    }
    const f = this.type.field(name);
    return this.part<T[K]>(f.offset, f.type, `${this.name}.${name}`);
  }

  /**
   * A ref to element `index` of an array, with the same validity.
   *
   * @example
   * slots.ptr.get(g).at(3).write(1);
   */
  at(index: number): PerCpuRef<ElementOf<T>> {
    if (this.type.kind !== 'array') {
      throw new ErrnoError('EINVAL', `${this.name} is ${this.type.name}, not an array`);
    }
    if (!Number.isInteger(index) || index < 0 || index >= this.type.count) {
      throw new ErrnoError('ERANGE', `index ${index} is outside ${this.name} (${this.type.name})`);
    }
    return this.part<ElementOf<T>>(
      index * this.type.elem.size,
      this.type.elem,
      `${this.name}[${index}]`,
    );
  }

  /**
   * A ref to the `type` at `offset` into this object (a field, an element),
   * with the same CPU and validity; a subclass returns its own kind.
   */
  protected part<U>(offset: number, type: CType, name: string): PerCpuRef<U> {
    return new PerCpuRef<U>(this.memory, this.addr + offset, type, this.cpu, name, this.validity);
  }
}
