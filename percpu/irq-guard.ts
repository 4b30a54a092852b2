/**
 * IrqGuard: local interrupts disabled for the guard's lifetime
 * (local_irq_save at entry, local_irq_restore of the saved flags when
 * dropped; ArceOS's IrqSave). With interrupts off the task can be neither
 * preempted nor interrupted on this CPU, so it also excludes this CPU's
 * interrupt handlers from its per-CPU data.
 *
 * @example
 * {
 *   using g = IrqGuard.enter(model);  // local_irq_save(flags)
 *   counter.ptr.get(g).update((n) => n + 1);
 * }                                   // local_irq_restore(flags)
 */

import { Guard } from './guard.ts';
import type { PreemptionModel } from './preemption-model.ts';

export class IrqGuard extends Guard {
  /** The flags local_irq_save returned, restored when the guard is dropped. */
  readonly flags: number;

  /**
   * local_irq_save(), for the caller's CPU.
   *
   * @example
   * using g = new IrqGuard(model);
   */
  constructor(model: PreemptionModel) {
    const flags = model.localIrqSave();
    super(model, 'IrqGuard', true, () => model.localIrqRestore(flags));
    this.flags = flags;
  }

  /**
   * The same as `new IrqGuard(model)`.
   *
   * @example
   * using g = IrqGuard.enter(model);
   */
  static enter(model: PreemptionModel): IrqGuard {
    return new IrqGuard(model);
  }
}
