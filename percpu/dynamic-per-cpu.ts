/**
 * DynamicPerCpu<T>: a per-CPU object from alloc_percpu, owned by this value
 * and freed when it is dropped (the Rust-for-Linux series' DynamicPerCpu).
 * `ptr` is its PerCpuPtr, with every way in that a static variable's has
 * (guards, tokens, the op families, remote access).
 *
 * When the model carries a sanitizer watching the allocator (sanitizer.ts;
 * the kernel's `k.sanitizer`, on by default), `ptr` is a checked pointer: every read and write
 * through the refs it hands out (get, remote, tokens, CheckedPerCpu
 * borrows, their field and element refs) and every op-family call is
 * checked against the shadow before it is made, so a ref kept past `drop()`
 * reports use-after-free, and a pointer whose C type runs past the
 * allocation reports out-of-bounds. `sanitizedPerCpuPtr` makes such a
 * pointer for any per-CPU object.
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
import type { PerCpuAreas } from './per-cpu-areas.ts';
import { PerCpuPtr } from './per-cpu-ptr.ts';
import { PerCpuRef, type RefValidity } from './per-cpu-ref.ts';
import type { PreemptionModel } from './preemption-model.ts';
import type { PercpuSanitizer } from './sanitizer.ts';
import type { PercpuFamily, PercpuOpName, PercpuSize } from './this-cpu-ops.ts';

/** What DynamicPerCpu needs of an allocator. */
export type PercpuAllocatorApi = Pick<PercpuAllocator, 'alloc' | 'free'>;

/**
 * Where a DynamicPerCpu lives: the per-CPU areas, and the sanitizer if one
 * watches the allocator (a booted kernel is one).
 */
export interface DynamicPerCpuModel {
  readonly areas: PerCpuAreas;
  readonly sanitizer?: PercpuSanitizer | null;
}

export interface DynamicPerCpuOptions {
  /** GFP_ATOMIC: only populated pages, no new chunk. Default false. */
  atomic?: boolean;
}

export class DynamicPerCpu<T> implements Disposable {
  private readonly handle: PerCpuPtr<T>;
  private dropped = false;

  private constructor(
    private readonly allocator: PercpuAllocatorApi,
    model: DynamicPerCpuModel,
    ptr: number,
    type: CType,
  ) {
    const name = `dynamic per-CPU 0x${ptr.toString(16)}`;
    const san = model.sanitizer;
    this.handle =
      san?.watches(allocator) === true
        ? new SanitizedPerCpuPtr<T>(model.areas, ptr, type, san, name)
        : new PerCpuPtr<T>(model.areas, ptr, type, name);
  }

  /**
   * alloc_percpu(type): a zeroed object on every CPU, or null when the
   * allocator has no room.
   *
   * @example
   * const hits = DynamicPerCpu.newZero<bigint>(m, m.percpu, u64);
   */
  static newZero<T>(
    model: DynamicPerCpuModel,
    allocator: PercpuAllocatorApi,
    type: CType,
    opts: DynamicPerCpuOptions = {},
  ): DynamicPerCpu<T> | null {
    const p = allocator.alloc(type.size, type.align, { atomic: opts.atomic === true });
    return p === null ? null : new DynamicPerCpu<T>(allocator, model, p, type);
  }

  /**
   * An object holding `value` on every CPU, or null.
   *
   * @example
   * const limits = DynamicPerCpu.newWith<number>(m, m.percpu, u32, 100);
   */
  static newWith<T>(
    model: DynamicPerCpuModel,
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
    model: DynamicPerCpuModel,
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
    private readonly sanitizer: PercpuSanitizer,
    name?: string,
  ) {
    super(areas, ptr, type, name);
  }

  override refOn(cpu: number, validity: RefValidity): PerCpuRef<T> {
    return new SanitizedPerCpuRef<T>(
      this.areas.memory,
      this.perCpuPtr(cpu),
      this.type,
      cpu,
      this.name,
      validity,
      this.sanitizer,
    );
  }

  protected override applyOp(
    model: PreemptionModel,
    family: PercpuFamily,
    op: PercpuOpName,
    size: PercpuSize,
    a: bigint,
    b: bigint,
  ): bigint {
    const addr = this.perCpuPtr(model.rawSmpProcessorId());
    this.sanitizer.checkAccess(addr, size, op === 'read' ? 'read' : 'write');
    return super.applyOp(model, family, op, size, a, b);
  }
}

/** A PerCpuRef whose reads and writes (and those of its field and element refs) are checked first. */
class SanitizedPerCpuRef<T> extends PerCpuRef<T> {
  constructor(
    memory: PhysicalMemory,
    addr: number,
    type: CType,
    cpu: number,
    name: string,
    validity: RefValidity,
    private readonly sanitizer: PercpuSanitizer,
  ) {
    super(memory, addr, type, cpu, name, validity);
  }

  override read(): T {
    this.validity(this.description);
    this.sanitizer.checkAccess(this.addr, this.type.size, 'read');
    return super.read();
  }

  override write(value: T): void {
    this.validity(this.description);
    this.sanitizer.checkAccess(this.addr, this.type.size, 'write');
    super.write(value);
  }

  protected override part<U>(offset: number, type: CType, name: string): PerCpuRef<U> {
    return new SanitizedPerCpuRef<U>(
      this.memory,
      this.addr + offset,
      type,
      this.cpu,
      name,
      this.validity,
      this.sanitizer,
    );
  }
}
