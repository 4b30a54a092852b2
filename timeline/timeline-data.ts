/**
 * The data of a timeline: everything the HTML viewer draws, extracted from
 * one run (extract-timeline.ts) and embedded in the page as JSON. It is
 * columnar, flat arrays of numbers with a fixed stride, so a million events
 * cost a few numbers each and the viewer reads them without building an
 * object per event.
 *
 * Times are emulated nanoseconds from the start of the run
 * (`nsPerInsn` converts to instructions). Spans are grouped by CPU lane and
 * row, each row's spans sorted by start and not overlapping, so the viewer
 * finds the visible ones by binary search:
 *
 *   row 0            the task running (ref = task index); idle is a gap
 *   rows 1..         hardirq (ref = index into `interrupts`) and softirq
 *                    handlers (ref = label), by nesting depth
 *   REGION_ROWS      preempt-disabled, irqs-disabled, migrate-disabled regions
 *
 * @example
 * const data = extractTimeline(k, { title: 'lost-update-racy', replay, command, report });
 * timelineHtml(data); // one self-contained page
 */

/** Span kinds, the `kind` column of `spans`. */
export const SpanKind = {
  Task: 0,
  Hardirq: 1,
  Softirq: 2,
  PreemptOff: 3,
  IrqsOff: 4,
  MigrateOff: 5,
} as const;

/** Mark kinds, the `kind` column of `marks`. */
export const MarkKind = {
  /** a = task woken, b = target CPU. */
  Wakeup: 0,
  /** a = task, b = from CPU, c = to CPU. */
  Migrate: 1,
  /** a = task. */
  Exit: 2,
  /** a = task that went to sleep (switched out in state S or D). */
  Sleep: 3,
  /** a = index into `accesses`. */
  Access: 4,
  /** a = index into `reports`. */
  Report: 5,
  /** a = index into `labels` (a printk or scenario message). */
  Print: 6,
} as const;

/** Strides of the flat arrays. */
export const SPAN_STRIDE = 6; // cpu, start, end, kind, ref, depth
export const MARK_STRIDE = 6; // cpu, ts, kind, a, b, c
export const ACCESS_STRIDE = 8; // var, unit, offset, write, pc, task, program, suspect
/** A hardirq: its label, the task it interrupted, that task's program and pc (-1: idle or native code). */
export const INTERRUPT_STRIDE = 4; // label, task, program, pc

/** Why an access is suspected of breaking the invariant (bits of the `suspect` column). */
export const Suspect = {
  /** It touched another CPU's unit. */
  CrossUnit: 1,
  /** A write that overwrote an update made after this context read the same slot. */
  LostUpdate: 2,
  /** The task migrated between it and its previous access in the same pass (pc went forward). */
  SplitByMigration: 4,
} as const;

export interface TimelineTask {
  readonly pid: number;
  readonly comm: string;
  readonly kthread: boolean;
}

export interface TimelineReport {
  readonly kind: string;
  readonly cpu: number;
  readonly pid: number;
  readonly comm: string;
  readonly ts: number;
  readonly lines: readonly string[];
  /** The guest instruction the report names, with its program; -1 when none. */
  readonly program: number;
  readonly pc: number;
}

/** A program's listing: per instruction its disassembly ('' for an lddw's second half) and C source line. */
export interface TimelineProgram {
  readonly name: string;
  readonly insns: readonly string[];
  readonly source: readonly (string | null)[];
}

export interface TimelineData {
  readonly version: 1;
  readonly title: string;
  readonly nrCpus: number;
  readonly nsPerInsn: number;
  /** The last event's time. */
  readonly end: number;
  readonly tasks: readonly TimelineTask[];
  readonly labels: readonly string[];
  /** The traced per-CPU variables, by index. */
  readonly vars: readonly string[];
  readonly spans: readonly number[];
  readonly marks: readonly number[];
  readonly accesses: readonly number[];
  /** Per hardirq span, what it interrupted (INTERRUPT_STRIDE). */
  readonly interrupts: readonly number[];
  readonly reports: readonly TimelineReport[];
  readonly programs: readonly TimelineProgram[];
  /** The mark index of the access that first broke the invariant, -1 if none is known. */
  readonly breaking: number;
  /** Events the trace rings lost (overwritten), per CPU: the picture misses them. */
  readonly lost: readonly number[];
  /** The run's readable report, the replay string and the command that replays it. */
  readonly report: string;
  readonly replay: string;
  readonly command: string;
}
