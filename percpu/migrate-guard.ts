/**
 * MigrateGuard: the task pinned to its CPU for the guard's lifetime
 * (migrate_disable / migrate_enable). Preemption stays on: `g.cpu` and
 * `this_cpu_ptr` are stable, but another task may run on this CPU between
 * two of the caller's steps and touch the same per-CPU copy. So it is enough
 * for `PerCpuPtr.get` and for CheckedPerCpu borrows (whose dynamic checks
 * catch such a task), not for a PerCpuToken, which promises exclusive access.
 *
 * @example
 * {
 *   using g = MigrateGuard.enter(model); // migrate_disable()
 *   const mine = stats.ptr.get(g);       // stays this CPU's copy
 * }                                      // migrate_enable()
 */

import { Guard } from './guard.ts';
import type { PreemptionModel } from './preemption-model.ts';

export class MigrateGuard extends Guard {
  /**
   * migrate_disable(), for the calling task.
   *
   * @example
   * using g = new MigrateGuard(model);
   */
  constructor(model: PreemptionModel) {
    model.migrateDisable();
    super(model, 'MigrateGuard', false, () => model.migrateEnable());
  }

  /**
   * The same as `new MigrateGuard(model)`.
   *
   * @example
   * using g = MigrateGuard.enter(model);
   */
  static enter(model: PreemptionModel): MigrateGuard {
    return new MigrateGuard(model);
  }
}
