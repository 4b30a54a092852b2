/**
 * DynamicPerCpu<T>: a per-CPU object from alloc_percpu, owned by this value
 * and freed when it is dropped (the Rust-for-Linux series' DynamicPerCpu).
 * `ptr` is its PerCpuPtr, with every way in that a static variable's has
 * (guards, tokens, the op families, remote access).
 *
 * When a sanitizer is attached to the allocator (sanitizer.ts), `ptr` is a
 * checked pointer: every read and write through it, through the refs and
 * tokens it hands out and through its op families is checked against the
 * shadow after it is made, so a ref kept past `drop()` reports
 * use-after-free, and a pointer whose C type runs past the allocation
 * reports out-of-bounds. `sanitizedPerCpuPtr` makes such a pointer for any
 * per-CPU object. (CheckedPerCpu builds its refs itself and is not checked.)
 *
 * Rules, enforced: dropped once (a second drop is EINVAL); `ptr` is not
 * handed out after the drop (EINVAL). Allocation failure returns null, as
 * alloc_percpu does, after the allocator's warning.
 *
 * Context: creating and dropping take the allocator's lock; accesses follow
 * PerCpuPtr's rules.
 *
 * @example
 * using stats = DynamicPerCpu.newZero<bigint>(m, m.percpu, u64);
 * stats?.ptr.thisCpuInc(m);
 * // freed at the end of the block
 */

import type { CType } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import type { PercpuAllocator } from './allocator.ts';
import { writeValue } from './c-value.ts';
import { Guard } from './guard.ts';
import type { PerCpuAreas } from './per-cpu-areas.ts';
import { type OnCpu, PerCpuPtr } from './per-cpu-ptr.ts';
import { type ElementOf, PerCpuRef, type RefValidity } from './per-cpu-ref.ts';
import { type ExclusiveGuard, PerCpuToken } from './per-cpu-token.ts';
import { type AccessKind, PercpuSanitizer } from './sanitizer.ts';
import { PERCPU_FAMILIES, PERCPU_OPS } from './this-cpu-ops.ts';

/** What DynamicPerCpu needs of an allocator. */
export type PercpuAllocatorApi = Pick<
  PercpuAllocator,
  'alloc' | 'free' | 'isAllocationStart' | 'sizeOf'
>;

export interface DynamicPerCpuOptions {
  /** GFP_ATOMIC: only populated pages, no new chunk. Default false. */
  atomic?: boolean;
}

export class DynamicPerCpu<T> implements Disposable {
  private readonly handle: PerCpuPtr<T>;
  private dropped = false;

  private constructor(
    private readonly allocator: PercpuAllocatorApi,
    areas: PerCpuAreas,
    ptr: number,
    type: CType,
  ) {
    const name = `dynamic per-CPU 0x${ptr.toString(16)}`;
    const san = PercpuSanitizer.of(allocator);
    this.handle =
      san === undefined
        ? new PerCpuPtr<T>(areas, ptr, type, name)
        : new SanitizedPerCpuPtr<T>(areas, ptr, type, san, name);
  }

  /**
   * alloc_percpu(type): a zeroed object on every CPU, or null when the
   * allocator has no room.
   *
   * @example
   * const hits = DynamicPerCpu.newZero<bigint>(m, m.percpu, u64);
   */
  static newZero<T>(
    model: { readonly areas: PerCpuAreas },
    allocator: PercpuAllocatorApi,
    type: CType,
    opts: DynamicPerCpuOptions = {},
  ): DynamicPerCpu<T> | null {
    const p = allocator.alloc(type.size, type.align, { atomic: opts.atomic === true });
    return p === null ? null : new DynamicPerCpu<T>(allocator, model.areas, p, type);
  }

  /**
   * An object holding `value` on every CPU, or null.
   *
   * @example
   * const limits = DynamicPerCpu.newWith<number>(m, m.percpu, u32, 100);
   */
  static newWith<T>(
    model: { readonly areas: PerCpuAreas },
    allocator: PercpuAllocatorApi,
    type: CType,
    value: T,
    opts?: DynamicPerCpuOptions,
  ): DynamicPerCpu<T> | null {
    return DynamicPerCpu.newFrom<T>(model, allocator, type, () => value, opts);
  }

  /**
   * An object holding `init(cpu)` on each CPU, or null. `init` runs once per
   * possible CPU, CPU 0 first; if it throws, the object is freed.
   *
   * @example
   * const ids = DynamicPerCpu.newFrom<number>(m, m.percpu, u32, (cpu) => cpu * 10);
   */
  static newFrom<T>(
    model: { readonly areas: PerCpuAreas },
    allocator: PercpuAllocatorApi,
    type: CType,
    init: (cpu: number) => T,
    opts?: DynamicPerCpuOptions,
  ): DynamicPerCpu<T> | null {
    const d = DynamicPerCpu.newZero<T>(model, allocator, type, opts);
    if (d === null) return null;
    const areas = model.areas;
    try {
      for (let cpu = 0; cpu < areas.nrCpus; cpu++) {
        writeValue(areas.memory, areas.perCpuPtr(d.handle.ptr, cpu), type, init(cpu));
      }
    } catch (e) {
      d.drop();
      throw e;
    }
    return d;
  }

  /**
   * The typed per-CPU pointer; EINVAL once dropped.
   *
   * @example
   * d.ptr.remote(2).read();
   */
  get ptr(): PerCpuPtr<T> {
    if (this.dropped) {
      throw new ErrnoError('EINVAL', `${this.handle.name} was dropped: its pointer is gone`);
    }
    return this.handle;
  }

  /**
   * False once dropped.
   *
   * @example
   * if (d.alive) d.drop();
   */
  get alive(): boolean {
    return !this.dropped;
  }

  /**
   * free_percpu(ptr). EINVAL when already dropped.
   *
   * @example
   * d.drop();
   */
  drop(): void {
    if (this.dropped) {
      throw new ErrnoError('EINVAL', `${this.handle.name} was already dropped: drop it once`);
    }
    this.dropped = true;
    this.allocator.free(this.handle.ptr);
  }

  /**
   * What `using` calls: `drop()`.
   *
   * @example
   * { using d = DynamicPerCpu.newZero<bigint>(m, m.percpu, u64); }
   */
  [Symbol.dispose](): void {
    this.drop();
  }
}

/**
 * A PerCpuPtr whose accesses the sanitizer checks (see the file comment).
 *
 * @example
 * const p = sanitizedPerCpuPtr<bigint>(areas, ptr, u64, san);
 * p.remote(0).read(); // reported if ptr was freed
 */
export function sanitizedPerCpuPtr<T>(
  areas: PerCpuAreas,
  ptr: number,
  type: CType,
  sanitizer: PercpuSanitizer,
  name?: string,
): PerCpuPtr<T> {
  return new SanitizedPerCpuPtr<T>(areas, ptr, type, sanitizer, name);
}

class SanitizedPerCpuPtr<T> extends PerCpuPtr<T> {
  constructor(
    areas: PerCpuAreas,
    ptr: number,
    type: CType,
    readonly sanitizer: PercpuSanitizer,
    name?: string,
  ) {
    super(areas, ptr, type, name);
  }

  override get(guard: Guard): PerCpuRef<T> {
    const plain = super.get(guard);
    return new SanitizedPerCpuRef<T>(
      this.areas.memory,
      this.perCpuPtr(plain.cpu),
      this.type,
      plain.cpu,
      this.name,
      (w) => guard.assertHeld(w),
      this.sanitizer,
    );
  }

  override remote(cpu: number): PerCpuRef<T> {
    return new SanitizedPerCpuRef<T>(
      this.areas.memory,
      this.perCpuPtr(cpu),
      this.type,
      cpu,
      this.name,
      () => {},
      this.sanitizer,
    );
  }

  override token(guard: ExclusiveGuard): PerCpuToken<T> {
    return new SanitizedPerCpuToken<T>(this, guard, this.sanitizer);
  }

  /** After an op-family call at `at`: checks the caller's CPU's copy. */
  checkOp(at: OnCpu, kind: AccessKind): void {
    const cpu = at instanceof Guard ? at.cpu : at.rawSmpProcessorId();
    this.sanitizer.checkAccess(this.perCpuPtr(cpu), this.type.size, kind);
  }
}

// Every op-family method (thisCpuAdd, __thisCpuRead, rawCpuXchg, ...) of a
// checked pointer runs the plain one, then checks the copy it touched.
type OpMethod = (this: PerCpuPtr<unknown>, at: OnCpu, ...args: unknown[]) => unknown;
const FAMILY_PREFIX = { this_cpu_: 'thisCpu', __this_cpu_: '__thisCpu', raw_cpu_: 'rawCpu' };
for (const family of PERCPU_FAMILIES) {
  for (const op of PERCPU_OPS) {
    const name =
      FAMILY_PREFIX[family] +
      op
        .split('_')
        .map((w) => w[0].toUpperCase() + w.slice(1))
        .join('');
    const plain = (PerCpuPtr.prototype as unknown as Record<string, OpMethod>)[name];
    if (typeof plain !== 'function') throw new Error(`PerCpuPtr has no method ${name}`);
    const kind: AccessKind = op === 'read' ? 'read' : 'write';
    (SanitizedPerCpuPtr.prototype as unknown as Record<string, OpMethod>)[name] = function (
      this: PerCpuPtr<unknown>,
      at: OnCpu,
      ...args: unknown[]
    ) {
      const result = plain.call(this, at, ...args);
      (this as SanitizedPerCpuPtr<unknown>).checkOp(at, kind);
      return result;
    };
  }
}

class SanitizedPerCpuToken<T> extends PerCpuToken<T> {
  constructor(
    ptr: PerCpuPtr<T>,
    guard: ExclusiveGuard,
    private readonly sanitizer: PercpuSanitizer,
  ) {
    super(ptr, guard);
  }

  override with<R>(fn: (ref: PerCpuRef<T>) => R): R;
  override with<R>(guard: Guard, fn: (ref: PerCpuRef<T>) => R): R;
  override with<R>(a: Guard | ((ref: PerCpuRef<T>) => R), b?: (ref: PerCpuRef<T>) => R): R {
    const checked =
      (fn: (ref: PerCpuRef<T>) => R) =>
      (ref: PerCpuRef<T>): R =>
        fn(
          new SanitizedPerCpuRef<T>(
            this.ptr.areas.memory,
            ref.address,
            ref.type,
            ref.cpu,
            ref.name,
            // The token's ref knows when it expires; its own check throws.
            () => void ref.address,
            this.sanitizer,
          ),
        );
    return typeof a === 'function' ? super.with(checked(a)) : super.with(a, checked(b!));
  }
}

/** A PerCpuRef whose reads and writes (and those of its field and element refs) are checked. */
class SanitizedPerCpuRef<T> extends PerCpuRef<T> {
  constructor(
    private readonly mem: PhysicalMemory,
    private readonly where: number,
    type: CType,
    cpu: number,
    name: string,
    private readonly check: RefValidity,
    private readonly sanitizer: PercpuSanitizer,
  ) {
    super(mem, where, type, cpu, name, check);
  }

  override read(): T {
    const v = super.read();
    this.sanitizer.checkAccess(this.where, this.type.size, 'read');
    return v;
  }

  override write(value: T): void {
    super.write(value);
    this.sanitizer.checkAccess(this.where, this.type.size, 'write');
  }

  override field<K extends keyof T & string>(name: K): PerCpuRef<T[K]> {
    const plain = super.field(name);
    const off = this.type.kind === 'struct' ? this.type.field(name).offset : 0;
    return this.derive<T[K]>(plain, off);
  }

  override at(index: number): PerCpuRef<ElementOf<T>> {
    const plain = super.at(index);
    const off = this.type.kind === 'array' ? index * this.type.elem.size : 0;
    return this.derive<ElementOf<T>>(plain, off);
  }

  private derive<U>(plain: PerCpuRef<U>, off: number): PerCpuRef<U> {
    return new SanitizedPerCpuRef<U>(
      this.mem,
      this.where + off,
      plain.type,
      plain.cpu,
      plain.name,
      this.check,
      this.sanitizer,
    );
  }
}
