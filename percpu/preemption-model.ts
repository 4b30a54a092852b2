/**
 * What per-CPU code needs from the preemption layer above it: which CPU the
 * caller runs on, and the controls that keep it there. `preempt/` implements
 * it (the machine); `percpu/` only depends on this interface, so the layer
 * order holds. Every call acts on the CPU that is executing the caller.
 *
 * @example
 * model.preemptDisable();
 * const cpu = model.smpProcessorId(); // stable until preemptEnable()
 * model.preemptEnable();
 */

import type { PerCpuAreas } from './per-cpu-areas.ts';

export interface PreemptionModel {
  readonly areas: PerCpuAreas;
  /** raw_smp_processor_id(): no check. */
  rawSmpProcessorId(): number;
  /** smp_processor_id(): with the DEBUG_PREEMPT check. */
  smpProcessorId(): number;
  preemptDisable(): void;
  /** Reschedules when the count drops to 0 with a reschedule pending. */
  preemptEnable(): void;
  preemptEnableNoResched(): void;
  migrateDisable(): void;
  migrateEnable(): void;
  /** local_irq_save(): disables interrupts, returns the previous flags. */
  localIrqSave(): number;
  localIrqRestore(flags: number): void;
  /** preempt_count() == 0 && interrupts enabled. */
  preemptible(): boolean;
  /**
   * DEBUG_PREEMPT's check_preemption_disabled(what1, what2): reports
   * `BUG: using <what1><what2>() in preemptible ...` when the caller could
   * be preempted or migrated.
   */
  checkPreemptionDisabled(what1: string, what2: string): void;
}
