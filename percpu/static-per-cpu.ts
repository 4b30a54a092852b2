/**
 * StaticPerCpu<T>: the handle of a DEFINE_PER_CPU variable, found by name in
 * the linked image's symbol table (the Rust-for-Linux series' StaticPerCpu).
 * Its per-CPU pointer is the symbol's address, an offset in `.data..percpu`.
 * The C type given must be the one the variable was defined with.
 *
 * `values()` and `sum()` read every possible CPU's copy remotely: a snapshot
 * that is exact only when no CPU is changing the variable (after a run, or
 * for a statistic where a slightly stale sum is fine, as in the kernel's
 * percpu counters).
 *
 * @example
 * machine.definePerCpu('hits', u64, 0n);
 * const k = machine.boot();
 * const hits = StaticPerCpu.lookup<bigint>(k, 'hits', u64);
 * hits.ptr.thisCpuInc(k);        // from a task
 * hits.sum();                    // over all CPUs, after the run
 */

import type { CType, Scalar } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PerCpuAreas } from './per-cpu-areas.ts';
import { PerCpuPtr } from './per-cpu-ptr.ts';

export class StaticPerCpu<T> {
  /** The typed per-CPU pointer of the variable. */
  readonly ptr: PerCpuPtr<T>;

  private constructor(
    /** The variable's name in the image. */
    readonly name: string,
    /** Its C type. */
    readonly type: CType,
    areas: PerCpuAreas,
    address: number,
  ) {
    this.ptr = new PerCpuPtr<T>(areas, address, type, `'${name}'`);
  }

  /**
   * The per-CPU variable `name` of the booted machine. ENOENT when there is
   * none; EINVAL when `type` differs from the type it was defined with.
   * Without `type`, the defined type is used.
   *
   * @example
   * const counter = StaticPerCpu.lookup<number>(model, 'counter', u32);
   */
  static lookup<T>(
    model: { readonly areas: PerCpuAreas },
    name: string,
    type?: CType,
  ): StaticPerCpu<T> {
    const areas = model.areas;
    const sym = areas.symbol(name);
    const defined = sym.type;
    if (type === undefined) {
      if (defined === undefined) {
        throw new ErrnoError('EINVAL', `per-CPU variable '${name}' has no recorded type: give one`);
      }
      type = defined;
    } else if (defined !== undefined ? !sameType(defined, type) : sym.size !== type.size) {
      throw new ErrnoError(
        'EINVAL',
        `per-CPU variable '${name}' is ${defined?.name ?? `${sym.size} bytes`}, not ${type.name}`,
      );
    }
    return new StaticPerCpu<T>(name, type, areas, sym.address);
  }

  /**
   * Every possible CPU's value, CPU 0 first (remote reads: a snapshot).
   *
   * @example
   * hits.values(); // [3n, 0n, 5n, 1n]
   */
  values(): T[] {
    const n = this.ptr.areas.nrCpus;
    return Array.from({ length: n }, (_, cpu) => this.ptr.remote(cpu).read());
  }

  /**
   * The sum over every possible CPU of an integer variable, exact (not
   * wrapped): a number for types of up to 4 bytes, a bigint for 8-byte ones.
   * EINVAL for a struct or array variable.
   *
   * @example
   * hits.sum(); // 9n
   */
  sum(this: StaticPerCpu<Scalar>): T {
    if (this.type.kind !== 'int') {
      throw new ErrnoError(
        'EINVAL',
        `sum() needs an integer variable, but '${this.name}' is ${this.type.name}`,
      );
    }
    const values = this.values();
    if (this.type.size === 8) return values.reduce<bigint>((s, v) => s + BigInt(v), 0n) as T;
    return values.reduce<number>((s, v) => s + Number(v), 0) as T;
  }
}

function sameType(a: CType, b: CType): boolean {
  if (a === b) return true;
  if (a.kind !== b.kind || a.name !== b.name || a.size !== b.size || a.align !== b.align) {
    return false;
  }
  if (a.kind === 'int' && b.kind === 'int') return a.signed === b.signed;
  if (a.kind === 'array' && b.kind === 'array')
    return a.count === b.count && sameType(a.elem, b.elem);
  if (a.kind === 'struct' && b.kind === 'struct') {
    return (
      a.fields.length === b.fields.length &&
      a.fields.every(
        (f, k) =>
          f.name === b.fields[k].name &&
          f.offset === b.fields[k].offset &&
          sameType(f.type, b.fields[k].type),
      )
    );
  }
  return false;
}
