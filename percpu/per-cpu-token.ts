/**
 * PerCpuToken: proof, made from a live CpuGuard or IrqGuard, that the holder
 * may have exclusive access to this CPU's copy of one per-CPU object (the
 * Rust-for-Linux series' PerCpuToken). `token.with(fn)` runs `fn` with a ref
 * that is valid only during the call; `fn` must be synchronous, so the
 * access cannot span a preemption point of a native task.
 *
 * Enforced: the token's guard must be alive (EPERM "... used after its
 * CpuGuard was dropped"), the caller must run on the guard's CPU in the
 * guard's task (EPERM), a guard passed to `with` must be alive and of the
 * same CPU (EPERM), two `with` calls on the same copy cannot nest (EBUSY),
 * the ref given to `fn` cannot be used after `fn` returns (EPERM), and `fn`
 * cannot return a promise (EINVAL). A MigrateGuard does not keep other tasks
 * off this CPU and cannot make a token (EINVAL).
 *
 * Context: the caller's CPU only; the set of copies inside `with` is per
 * physical address and never touched by another CPU.
 *
 * @example
 * using g = CpuGuard.enter(model);
 * const token = hits.ptr.token(g);
 * token.with((hits) => hits.update((n) => n + 1n));
 */

import { ErrnoError } from '../segments/errno.ts';
import type { CpuGuard } from './cpu-guard.ts';
import type { Guard } from './guard.ts';
import type { IrqGuard } from './irq-guard.ts';
import type { PerCpuPtr } from './per-cpu-ptr.ts';
import type { PerCpuRef } from './per-cpu-ref.ts';

/**
 * Guards that keep every other task off the CPU while they live.
 *
 * @example
 * const g: ExclusiveGuard = CpuGuard.enter(model);
 */
export type ExclusiveGuard = CpuGuard | IrqGuard;

/** Physical addresses of copies inside a `with` call, per memory. */
const inWith = new WeakMap<object, Set<number>>();

export class PerCpuToken<T> {
  /** The guard this token leans on. */
  readonly guard: ExclusiveGuard;
  /** The per-CPU object the token gives access to. */
  readonly ptr: PerCpuPtr<T>;

  /**
   * A token for `ptr` on `guard`'s CPU; the guard must be alive and held by
   * the caller. Usually made with `ptr.token(guard)`.
   *
   * @example
   * const token = new PerCpuToken(hits.ptr, guard);
   */
  constructor(ptr: PerCpuPtr<T>, guard: ExclusiveGuard) {
    if (!guard.excludesPreemption) {
      throw new ErrnoError(
        'EINVAL',
        `a PerCpuToken for ${ptr.name} needs a CpuGuard or IrqGuard: a ${guard.kind} lets other tasks run on its CPU`,
      );
    }
    if (guard.model.areas !== ptr.areas) {
      throw new ErrnoError('EINVAL', `the ${guard.kind} is of another machine than ${ptr.name}`);
    }
    guard.assertHeld(`PerCpuToken for ${ptr.name}`);
    this.ptr = ptr;
    this.guard = guard;
  }

  /**
   * The CPU whose copy the token gives access to (EPERM once its guard was dropped).
   *
   * @example
   * token.cpu === guard.cpu; // true
   */
  get cpu(): number {
    return this.guard.cpu;
  }

  /**
   * True while the token's guard lives.
   *
   * @example
   * guard[Symbol.dispose]();
   * token.alive; // false
   */
  get alive(): boolean {
    return this.guard.alive;
  }

  /**
   * Runs `fn` with exclusive access to this CPU's copy and returns its
   * result. The optional `guard` re-proves the access: it must be alive and
   * of the token's CPU.
   *
   * @example
   * token.with((r) => r.read());
   * token.with(guard, (r) => r.write(0n));
   */
  with<R>(fn: (ref: PerCpuRef<T>) => R): R;
  with<R>(guard: Guard, fn: (ref: PerCpuRef<T>) => R): R;
  with<R>(a: Guard | ((ref: PerCpuRef<T>) => R), b?: (ref: PerCpuRef<T>) => R): R {
    const what = `PerCpuToken for ${this.ptr.name}`;
    this.guard.assertHeld(what);
    const cpu = this.guard.cpu;
    let fn: (ref: PerCpuRef<T>) => R;
    if (typeof a === 'function') {
      fn = a;
    } else {
      a.assertHeld(`${what} on CPU ${cpu}`);
      fn = b!;
    }
    const addr = this.ptr.perCpuPtr(cpu);
    let busy = inWith.get(this.ptr.areas);
    if (busy === undefined) {
      busy = new Set();
      inWith.set(this.ptr.areas, busy);
    }
    if (busy.has(addr)) {
      throw new ErrnoError(
        'EBUSY',
        `${this.ptr.name} on CPU ${cpu} is already inside PerCpuToken.with: access is exclusive`,
      );
    }
    let inside = true;
    const guard = this.guard;
    const ref = this.ptr.refOn(cpu, (refWhat) => {
      if (!inside) throw new ErrnoError('EPERM', `${refWhat} used after PerCpuToken.with returned`);
      guard.assertHeld(refWhat);
    });
    busy.add(addr);
    try {
      const result = fn(ref);
      if (isThenable(result)) {
        throw new ErrnoError(
          'EINVAL',
          `the PerCpuToken.with callback for ${this.ptr.name} returned a promise: exclusive access cannot span an await`,
        );
      }
      return result;
    } finally {
      inside = false;
      busy.delete(addr);
    }
  }
}

function isThenable(v: unknown): boolean {
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}
