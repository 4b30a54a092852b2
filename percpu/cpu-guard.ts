/**
 * CpuGuard: preemption disabled for the guard's lifetime (ArceOS's
 * NoPreempt, the Rust-for-Linux series' CpuGuard). While it lives the task
 * stays on `g.cpu` and no other task runs there, so `this_cpu_ptr` is stable
 * and this CPU's copy of a per-CPU variable is the caller's alone (interrupt
 * handlers on this CPU can still run; take an IrqGuard against those).
 *
 * @example
 * {
 *   using g = CpuGuard.enter(model);   // preempt_disable()
 *   hits.ptr.get(g).update((n) => n + 1n);
 * }                                    // preempt_enable(): may reschedule
 */

import { Guard } from './guard.ts';
import type { PreemptionModel } from './preemption-model.ts';

export class CpuGuard extends Guard {
  /**
   * preempt_disable(), for the caller's CPU.
   *
   * @example
   * using g = new CpuGuard(model);
   */
  constructor(model: PreemptionModel) {
    model.preemptDisable();
    super(model, 'CpuGuard', true, () => model.preemptEnable());
  }

  /**
   * The same as `new CpuGuard(model)`, reading better after `using`.
   *
   * @example
   * using g = CpuGuard.enter(model);
   * g.cpu; // this CPU, until the block ends
   */
  static enter(model: PreemptionModel): CpuGuard {
    return new CpuGuard(model);
  }
}
