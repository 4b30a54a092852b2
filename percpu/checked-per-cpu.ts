/**
 * CheckedPerCpu<T>: per-CPU values with interior mutability checked at run
 * time, RefCell-style, one cell per CPU. `borrow(guard)` gives shared
 * read access to the guard's CPU's copy, `borrowMut(guard)` exclusive
 * read-write access; borrows are disposable values (`using b = ...`).
 *
 * Rules, each enforced:
 * - a borrow needs a live guard held by the caller, and ends with it at the
 *   latest: after the guard is dropped the borrow no longer counts, and using
 *   it throws EPERM;
 * - `borrowMut` while any borrow of that CPU's copy is alive, or `borrow`
 *   while a mutable one is, throws EBUSY (a task preempted under a
 *   MigrateGuard while borrowing keeps its borrow, so another task of that
 *   CPU is caught here);
 * - a borrow is released once (EINVAL the second time), and its values are
 *   usable only until then (EPERM).
 *
 * The borrow flags are host-side state of the calling CPU, kept per machine
 * and physical address, so two CheckedPerCpu over the same object share them.
 * Only the owning CPU touches a copy's flags: no lock is needed.
 *
 * @example
 * const stats = new CheckedPerCpu(StaticPerCpu.lookup<Stats>(model, 'stats', statsType).ptr);
 * using g = CpuGuard.enter(model);
 * {
 *   using s = stats.borrowMut(g);
 *   s.update((v) => ({ ...v, packets: v.packets + 1n }));
 * }
 * using r = stats.borrow(g);
 * r.read().packets;
 */

import { ErrnoError } from '../segments/errno.ts';
import type { Guard } from './guard.ts';
import type { PerCpuAreas } from './per-cpu-areas.ts';
import type { PerCpuPtr } from './per-cpu-ptr.ts';
import type { PerCpuRef } from './per-cpu-ref.ts';

/** Live borrows per machine, by the physical address of the borrowed copy. */
const borrows = new WeakMap<PerCpuAreas, Map<number, Set<PerCpuBorrow<unknown>>>>();

function liveBorrows(areas: PerCpuAreas, addr: number): Set<PerCpuBorrow<unknown>> {
  let byAddr = borrows.get(areas);
  if (byAddr === undefined) {
    byAddr = new Map();
    borrows.set(areas, byAddr);
  }
  let set = byAddr.get(addr);
  if (set === undefined) {
    set = new Set();
    byAddr.set(addr, set);
  }
  for (const b of set) if (!b.alive) set.delete(b);
  return set;
}

/**
 * How one CPU's copy is borrowed.
 *
 * @example
 * cells.borrowState(0); // 'shared' while only `borrow`s are alive
 */
export type BorrowState = 'unborrowed' | 'shared' | 'mutable';

export class CheckedPerCpu<T> {
  /**
   * Checked access to the per-CPU object at `ptr`.
   *
   * @example
   * const cells = new CheckedPerCpu(hits.ptr);
   */
  constructor(readonly ptr: PerCpuPtr<T>) {}

  /**
   * Shared access to the guard's CPU's copy; EBUSY while it is mutably borrowed.
   *
   * @example
   * using r = cells.borrow(g);
   * r.read();
   */
  borrow(guard: Guard): PerCpuBorrow<T> {
    return this.take(guard, false) as PerCpuBorrow<T>;
  }

  /**
   * Exclusive access to the guard's CPU's copy; EBUSY while it has any borrow.
   *
   * @example
   * using w = cells.borrowMut(g);
   * w.write(0n);
   */
  borrowMut(guard: Guard): PerCpuBorrowMut<T> {
    return this.take(guard, true) as PerCpuBorrowMut<T>;
  }

  /**
   * How CPU `cpu`'s copy is borrowed right now.
   *
   * @example
   * cells.borrowState(0); // 'unborrowed'
   */
  borrowState(cpu: number): BorrowState {
    const set = liveBorrows(this.ptr.areas, this.ptr.perCpuPtr(cpu));
    if (set.size === 0) return 'unborrowed';
    return [...set].some((b) => b.mutable) ? 'mutable' : 'shared';
  }

  private take(guard: Guard, mutable: boolean): PerCpuBorrow<T> {
    if (guard.model.areas !== this.ptr.areas) {
      throw new ErrnoError(
        'EINVAL',
        `the ${guard.kind} is of another machine than ${this.ptr.name}`,
      );
    }
    guard.assertHeld(`${mutable ? 'borrowMut' : 'borrow'} of ${this.ptr.name}`);
    const cpu = guard.cpu;
    const addr = this.ptr.perCpuPtr(cpu);
    const set = liveBorrows(this.ptr.areas, addr);
    const holder = [...set].find((b) => b.mutable);
    if (holder !== undefined) {
      throw new ErrnoError('EBUSY', `${this.ptr.name} on CPU ${cpu} is already mutably borrowed`);
    }
    if (mutable && set.size > 0) {
      throw new ErrnoError(
        'EBUSY',
        `${this.ptr.name} on CPU ${cpu} is already borrowed (${set.size} shared borrow${set.size === 1 ? '' : 's'} alive)`,
      );
    }
    const b = mutable
      ? new PerCpuBorrowMut<T>(this.ptr, guard, cpu)
      : new PerCpuBorrow<T>(this.ptr, guard, cpu);
    set.add(b as PerCpuBorrow<unknown>);
    return b;
  }
}

/**
 * A shared borrow of one CPU's copy: read access until it is disposed or its
 * guard is dropped.
 *
 * @example
 * using r = cells.borrow(g);
 * r.read();
 */
export class PerCpuBorrow<T> implements Disposable {
  /** True for a borrowMut. */
  readonly mutable: boolean = false;
  /** The copy, valid while the borrow is. */
  protected readonly ref: PerCpuRef<T>;
  private released = false;

  /**
   * Made by CheckedPerCpu.borrow / borrowMut, which do the borrow checks.
   *
   * @example
   * const r = cells.borrow(g); // not `new PerCpuBorrow(...)`
   */
  constructor(
    ptr: PerCpuPtr<T>,
    /** The guard the borrow leans on. */
    readonly guard: Guard,
    /** The CPU whose copy is borrowed. */
    readonly cpu: number,
  ) {
    this.ref = ptr.refOn(cpu, (what) => {
      if (this.released) throw new ErrnoError('EPERM', `${what} used after its borrow ended`);
      guard.assertHeld(what);
    });
  }

  /**
   * False once released or once its guard was dropped.
   *
   * @example
   * r[Symbol.dispose]();
   * r.alive; // false
   */
  get alive(): boolean {
    return !this.released && this.guard.alive;
  }

  /**
   * Reads the whole value.
   *
   * @example
   * r.read();
   */
  read(): T {
    return this.ref.read();
  }

  /**
   * Ends the borrow; EINVAL when it was already released.
   *
   * @example
   * const r = cells.borrow(g);
   * r[Symbol.dispose](); // what `using` does at the end of the block
   */
  [Symbol.dispose](): void {
    if (this.released) {
      throw new ErrnoError(
        'EINVAL',
        `a borrow of ${this.ref.name} on CPU ${this.cpu} was already released`,
      );
    }
    this.released = true;
  }
}

/**
 * A mutable borrow of one CPU's copy: read-write access until it is disposed
 * or its guard is dropped.
 *
 * @example
 * using w = cells.borrowMut(g);
 * w.update((n) => n + 1n);
 */
export class PerCpuBorrowMut<T> extends PerCpuBorrow<T> {
  override readonly mutable: boolean = true;

  /**
   * Writes the whole value.
   *
   * @example
   * w.write(0n);
   */
  write(value: T): void {
    this.ref.write(value);
  }

  /**
   * Reads, applies `fn`, writes the result back and returns it.
   *
   * @example
   * w.update((n) => n + 1n);
   */
  update(fn: (value: T) => T): T {
    return this.ref.update(fn);
  }
}
