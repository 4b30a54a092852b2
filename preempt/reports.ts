/**
 * Kernel messages the machine prints: DEBUG_PREEMPT reports, oopses, soft
 * lockups, warnings. Each is kept whole (all its lines), in order, with the
 * CPU, task and emulated time, for the run report and for tests.
 *
 * @example
 * k.reports.filter((r) => r.kind === 'debug_preempt')[0].lines[0];
 * // 'BUG: using smp_processor_id() in preemptible [00000000] code: worker/3'
 */

export type ReportKind = 'debug_preempt' | 'oops' | 'soft_lockup' | 'warning' | 'kasan' | 'leak';

export interface Report {
  readonly kind: ReportKind;
  readonly cpu: number;
  readonly pid: number;
  readonly comm: string;
  /** Emulated time in ns. */
  readonly ts: number;
  readonly lines: readonly string[];
}
