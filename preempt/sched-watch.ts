/**
 * What a strategy sees of the machine changes rarely: which task runs on
 * each CPU, what waits on each run queue, which CPU spins on a lock. PCT
 * decides again only when one of those changed, so the engine can run a
 * CPU for many one-instruction steps in one decision (execution.ts,
 * `runCpuSteps`) as long as this watch says nothing changed, with the same
 * result as one decision per instruction.
 *
 * `changed()` is called by every mutation of that state (run-queue
 * operations, context switches, the spinning flag); `interrupt()` by
 * anything that must be acted on before the next instruction (a raised
 * interrupt line, a reschedule request). Both stop the interpreter after the
 * helper that called them when a batched run is in progress, so the step
 * boundary is where a one-instruction run would have ended.
 *
 * Context: the deterministic engine (one CPU at a time). Parallel mode never
 * arms it: there `running` stays null and the counter is unused.
 *
 * @example
 * const gen = watch.gen;
 * // ... run a CPU ...
 * if (watch.gen !== gen) strategyMustDecideAgain();
 */

import type { Cpu } from '../cpu/cpu.ts';

export class SchedWatch {
  /** Incremented by every change a strategy could see. */
  gen = 0;
  /** The interpreter of a batched run in progress, stopped by a change; null otherwise. */
  running: Cpu | null = null;

  changed(): void {
    this.gen++;
    this.interrupt();
  }

  interrupt(): void {
    const cpu = this.running;
    if (cpu !== null && cpu.current !== null) cpu.requestStop();
  }
}
