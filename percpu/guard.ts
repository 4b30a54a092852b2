/**
 * What the three guards (CpuGuard, IrqGuard, MigrateGuard) share: a guard is
 * a value whose lifetime is the protected region, as ArceOS's kernel_guard
 * has it. Entering happens in the constructor, leaving in
 * `[Symbol.dispose]()`, so `using g = CpuGuard.enter(model)` brackets a block
 * and leaves it even when the block throws.
 *
 * Rules, each enforced here:
 * - A guard is dropped once; a second drop is EINVAL.
 * - Guards end in reverse order of entry: dropping a guard while one entered
 *   after it (by the same task) is still alive is EBUSY, and nothing changes.
 * - A guard is dropped by the task that entered it, on its CPU (EPERM).
 * - Anything that leans on a guard (a PerCpuRef, a token, a borrow) calls
 *   `assertHeld`, which throws EPERM once the guard was dropped, or when the
 *   caller runs on another CPU or in another task.
 *
 * "The same task" is the kernel's `current`: the per-CPU `current_task` of
 * the image when it has one (the machine keeps it up to date on every
 * context switch), so guards of two tasks interleaved on one CPU, which can
 * happen under migrate_disable, keep separate stacks. An interrupt handler
 * runs in the interrupted task's context and nests inside it, as in the
 * kernel. An image without `current_task` is one context per machine.
 *
 * Context: every call acts on the CPU executing the caller; guards are not
 * shared between CPUs and need no lock.
 *
 * @example
 * {
 *   using g = CpuGuard.enter(model);
 *   g.cpu; // smp_processor_id(), stable until the block ends
 * } // preempt_enable() here, which may reschedule
 */

import { ErrnoError } from '../segments/errno.ts';
import type { PerCpuAreas } from './per-cpu-areas.ts';
import type { PreemptionModel } from './preemption-model.ts';

/** The guard classes, as messages name them. */
export type GuardKind = 'CpuGuard' | 'IrqGuard' | 'MigrateGuard';

/** Live guards of one model, per task context, in order of entry. */
const stacks = new WeakMap<PreemptionModel, Map<number, Guard[]>>();
/** The per-CPU pointer of `current_task`, or null when the image has none. */
const currentTaskPtr = new WeakMap<PerCpuAreas, number | null>();

/**
 * The task context the caller runs in: the value of this CPU's
 * `current_task` (a task_struct address), or 0 when the image has no such
 * per-CPU variable.
 *
 * @example
 * currentContext(machine); // address of the running task's task_struct
 */
export function currentContext(model: PreemptionModel): number {
  const areas = model.areas;
  let ptr = currentTaskPtr.get(areas);
  if (ptr === undefined) {
    const s = areas.image.symbols.get('current_task');
    ptr = s !== undefined && s.section === '.data..percpu' ? s.address : null;
    currentTaskPtr.set(areas, ptr);
  }
  if (ptr === null) return 0;
  return Number(areas.memory.read64(areas.perCpuPtr(ptr, model.rawSmpProcessorId())));
}

function stackOf(model: PreemptionModel, context: number): Guard[] {
  let byContext = stacks.get(model);
  if (byContext === undefined) {
    byContext = new Map();
    stacks.set(model, byContext);
  }
  let stack = byContext.get(context);
  if (stack === undefined) {
    stack = [];
    byContext.set(context, stack);
  }
  return stack;
}

/**
 * The base of CpuGuard, IrqGuard and MigrateGuard. Subclasses enter their
 * region before calling `super` and pass the function that leaves it.
 *
 * @example
 * const g: Guard = CpuGuard.enter(model);
 * g.alive;             // true
 * g[Symbol.dispose](); // what `using` calls at the end of the block
 * g.alive;             // false
 */
export abstract class Guard implements Disposable {
  /** The model (machine) this guard acts on. */
  readonly model: PreemptionModel;
  readonly kind: GuardKind;
  /**
   * True when no other task can run on this CPU while the guard lives
   * (CpuGuard, IrqGuard); false for MigrateGuard, which only pins the task.
   */
  readonly excludesPreemption: boolean;
  private readonly entryCpu: number;
  private readonly context: number;
  private readonly leave: () => void;
  private dropped = false;

  protected constructor(
    model: PreemptionModel,
    kind: GuardKind,
    excludesPreemption: boolean,
    leave: () => void,
  ) {
    this.model = model;
    this.kind = kind;
    this.excludesPreemption = excludesPreemption;
    this.leave = leave;
    this.entryCpu = model.rawSmpProcessorId();
    this.context = currentContext(model);
    stackOf(model, this.context).push(this);
  }

  /**
   * False once the guard was dropped.
   *
   * @example
   * if (!g.alive) throw new Error('region already left');
   */
  get alive(): boolean {
    return !this.dropped;
  }

  /**
   * The CPU the guard holds the caller on: smp_processor_id() at entry, stable
   * while the guard lives. EPERM once the guard was dropped.
   *
   * @example
   * using g = CpuGuard.enter(model);
   * areas.perCpuPtr(ptr, g.cpu); // the same address as this_cpu_ptr(ptr) until g ends
   */
  get cpu(): number {
    this.assertHeld(`${this.kind}.cpu`);
    return this.entryCpu;
  }

  /**
   * Throws EPERM unless this guard is alive and the caller runs on its CPU in
   * the task that entered it. `what` names the user in the message.
   *
   * @example
   * guard.assertHeld("PerCpuRef to 'hits'");
   * // EPERM: PerCpuRef to 'hits' used after its CpuGuard was dropped
   * // EPERM: PerCpuRef to 'hits' used on CPU 1, but its CpuGuard is of CPU 0
   */
  assertHeld(what: string): void {
    if (this.dropped) {
      throw new ErrnoError('EPERM', `${what} used after its ${this.kind} was dropped`);
    }
    const misplaced = this.misplaced();
    if (misplaced !== null) {
      throw new ErrnoError(
        'EPERM',
        `${what} used ${misplaced}, but its ${this.kind} is of CPU ${this.entryCpu}`,
      );
    }
  }

  /** Where the caller runs when that is not this guard's CPU and task, else null. */
  private misplaced(): string | null {
    const cpu = this.model.rawSmpProcessorId();
    if (cpu !== this.entryCpu) return `on CPU ${cpu}`;
    if (currentContext(this.model) !== this.context) return `by another task on CPU ${cpu}`;
    return null;
  }

  /**
   * Leaves the region (preempt_enable, local_irq_restore or migrate_enable).
   * EINVAL when already dropped; EBUSY, with nothing changed, while a guard
   * entered after this one is still alive.
   *
   * @example
   * const g = CpuGuard.enter(model);
   * g[Symbol.dispose](); // preempt_enable(); `using` does this at the end of the block
   */
  [Symbol.dispose](): void {
    if (this.dropped) {
      throw new ErrnoError(
        'EINVAL',
        `${this.kind} of CPU ${this.entryCpu} was already dropped: a guard is dropped once`,
      );
    }
    const misplaced = this.misplaced();
    if (misplaced !== null) {
      throw new ErrnoError(
        'EPERM',
        `a ${this.kind} of CPU ${this.entryCpu} cannot be dropped ${misplaced}: only by the task that entered it`,
      );
    }
    const stack = stackOf(this.model, this.context);
    const top = stack[stack.length - 1];
    if (top !== this) {
      throw new ErrnoError(
        'EBUSY',
        `cannot drop a ${this.kind} of CPU ${this.entryCpu} while the ${top.kind} entered after it is alive: guards end in reverse order of entry`,
      );
    }
    stack.pop();
    if (stack.length === 0) stacks.get(this.model)!.delete(this.context);
    this.dropped = true;
    this.leave();
  }

  /**
   * For messages and debugging.
   *
   * @example
   * String(g); // 'CpuGuard(cpu 1)', or 'CpuGuard(cpu 1, dropped)'
   */
  toString(): string {
    return `${this.kind}(cpu ${this.entryCpu}${this.dropped ? ', dropped' : ''})`;
  }
}
