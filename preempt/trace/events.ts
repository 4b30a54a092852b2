/**
 * Trace events: what the machine records in its per-CPU trace rings, one
 * kind per kernel tracepoint it mirrors. Every event has a common header (the
 * kernel's `struct trace_entry` plus the time, CPU and current task) and a
 * body whose fields are the tracepoint's `TP_STRUCT__entry` fields in
 * camelCase.
 *
 * The body of a tracepoint that describes some other task (sched_wakeup,
 * sched_migrate_task, sched_process_exit) names that task `taskComm`,
 * `taskPid`, `taskPrio`, because `comm` and `pid` in the header are always
 * the task running on the CPU when the event fired, as in the kernel.
 *
 * @example
 * const e: TraceEvent = {
 *   type: 'irq_handler_entry', irq: 0, name: 'timer', pc: -1,
 *   ts: 1_000, cpu: 1, pid: 0, comm: 'swapper/1', flags: { ...NO_TRACE_FLAGS, irqsOff: true, hardirq: true },
 * };
 */

import { ErrnoError } from '../../segments/errno.ts';

/**
 * The latency-format context of an event, as `tracing_gen_ctx()` captures it
 * (kernel/trace/trace.c). The two counts are clamped to 15 when recorded,
 * as the kernel's 4-bit fields are.
 */
export interface TraceFlags {
  /** Interrupts disabled on this CPU ('d'). */
  readonly irqsOff: boolean;
  /** A reschedule is pending ('N'). */
  readonly needResched: boolean;
  /** In hardirq context ('h', or 'H' together with softirq). */
  readonly hardirq: boolean;
  /** Serving a softirq ('s'). */
  readonly softirq: boolean;
  /** preempt_count() & PREEMPT_MASK, 0..15. */
  readonly preemptCount: number;
  /** The current task's migration_disabled count, 0..15. */
  readonly migrateDisable: number;
}

/** Flags of a preemptible task with interrupts on: the context column `.....`. */
export const NO_TRACE_FLAGS: TraceFlags = Object.freeze({
  irqsOff: false,
  needResched: false,
  hardirq: false,
  softirq: false,
  preemptCount: 0,
  migrateDisable: 0,
});

/** The fields every event carries. */
export interface TraceHeader {
  /** Emulated time in nanoseconds, a non-negative integer. */
  readonly ts: number;
  /** The CPU the event happened on; it selects the ring. */
  readonly cpu: number;
  /** The task running on that CPU (0 for its idle task). */
  readonly pid: number;
  /** That task's comm, at most 15 bytes (TASK_COMM_LEN - 1); longer is cut. */
  readonly comm: string;
  readonly flags: TraceFlags;
}

/**
 * `prev_state` as sched_switch prints it: the letter of the task's state
 * (`__task_state_index`), or `R+` for a task that was preempted while
 * runnable (`TASK_REPORT_MAX`).
 */
export type TaskStateLetter = 'R' | 'R+' | 'S' | 'D' | 'T' | 't' | 'X' | 'Z' | 'P' | 'I';

/** The softirq vectors in the kernel's order (`softirq_to_name`). */
export const SOFTIRQ_NAMES = [
  'HI',
  'TIMER',
  'NET_TX',
  'NET_RX',
  'BLOCK',
  'IRQ_POLL',
  'TASKLET',
  'SCHED',
  'HRTIMER',
  'RCU',
] as const;

export type SoftirqName = (typeof SOFTIRQ_NAMES)[number];

/** sched:sched_switch — the CPU switches from `prev` to `next`. */
export interface SchedSwitchBody {
  readonly type: 'sched_switch';
  readonly prevComm: string;
  readonly prevPid: number;
  readonly prevPrio: number;
  readonly prevState: TaskStateLetter;
  readonly nextComm: string;
  readonly nextPid: number;
  readonly nextPrio: number;
}

/** sched:sched_migrate_task — a task moves from `origCpu`'s run queue to `destCpu`'s. */
export interface SchedMigrateTaskBody {
  readonly type: 'sched_migrate_task';
  readonly taskComm: string;
  readonly taskPid: number;
  readonly taskPrio: number;
  readonly origCpu: number;
  readonly destCpu: number;
}

/** sched:sched_wakeup — a task becomes runnable on `targetCpu`. */
export interface SchedWakeupBody {
  readonly type: 'sched_wakeup';
  readonly taskComm: string;
  readonly taskPid: number;
  readonly taskPrio: number;
  readonly targetCpu: number;
}

/** sched:sched_process_exit — a task exits. */
export interface SchedProcessExitBody {
  readonly type: 'sched_process_exit';
  readonly taskComm: string;
  readonly taskPid: number;
  readonly taskPrio: number;
}

/**
 * irq:irq_handler_entry — the handler of `irq` (named `name`) starts. `pc`
 * is the emulator's addition: the kernel's event does not say what the
 * interrupt stopped, and a race is often exactly that.
 */
export interface IrqHandlerEntryBody {
  readonly type: 'irq_handler_entry';
  readonly irq: number;
  readonly name: string;
  /**
   * The interrupted guest instruction, the one the task resumes at (the
   * kernel's regs->ip) in the program of the task in the header; -1 when
   * the CPU was idle or in native code.
   */
  readonly pc: number;
}

/** irq:irq_handler_exit — the handler of `irq` returns. */
export interface IrqHandlerExitBody {
  readonly type: 'irq_handler_exit';
  readonly irq: number;
  readonly ret: 'handled' | 'unhandled';
}

/** irq:softirq_entry / irq:softirq_exit — softirq vector `vec` starts or ends. */
export interface SoftirqBody {
  readonly type: 'softirq_entry' | 'softirq_exit';
  /** 0..9, an index into {@link SOFTIRQ_NAMES}. */
  readonly vec: number;
  /** Must be `SOFTIRQ_NAMES[vec]`; only `vec` is recorded. */
  readonly name: SoftirqName;
}

/** ipi:ipi_raise — an IPI is sent to `targetCpus` for `reason`. */
export interface IpiRaiseBody {
  readonly type: 'ipi_raise';
  /** Distinct CPU numbers below 64, ascending. */
  readonly targetCpus: readonly number[];
  /** e.g. 'Rescheduling interrupts', 'Function call interrupts'. */
  readonly reason: string;
}

/**
 * The xdp tracepoints (include/trace/events/xdp.h). The network layer
 * (nic/) formats their TP_printk text; the ring records the text.
 */
export type XdpTracepoint =
  | 'xdp_exception'
  | 'xdp_redirect'
  | 'xdp_redirect_err'
  | 'xdp_cpumap_enqueue'
  | 'xdp_cpumap_kthread'
  | 'xdp_devmap_xmit';

/**
 * A line of text. `debug_preempt` and `oops` are kernel log lines (a
 * DEBUG_PREEMPT report, an oops report), which ftrace shows through the
 * printk:console event; `bpf_trace_printk` is a guest program's message;
 * `print` is a scenario's message (a write to trace_marker).
 */
export interface TextBody {
  readonly type: 'debug_preempt' | 'oops' | 'bpf_trace_printk' | 'print' | XdpTracepoint;
  /** At most {@link TRACE_TEXT_MAX} bytes of UTF-8; longer is cut. */
  readonly text: string;
}

/**
 * preemptirq:preempt_disable / preempt_enable / irq_disable / irq_enable
 * (include/trace/events/preemptirq.h): the CPU's preempt count leaves or
 * returns to 0, its interrupts go off or on. `migrate_disable` /
 * `migrate_enable` are the emulator's own (the kernel has no tracepoint for
 * them): the current task's migration_disabled leaves or returns to 0.
 * Opt-in: the tracer records them only when the `preemptirq` group is on.
 */
export interface PreemptIrqBody {
  readonly type:
    | 'preempt_disable'
    | 'preempt_enable'
    | 'irq_disable'
    | 'irq_enable'
    | 'migrate_disable'
    | 'migrate_enable';
  /** The guest instruction that asked (the kernel's caller_offs), -1 from native code. */
  readonly callerPc: number;
}

/**
 * percpu:percpu_access — the emulator's own event: an instruction read or
 * wrote a per-CPU variable being traced (`--trace-percpu VAR`), in the unit
 * of CPU `unit`, which need not be the CPU the event is on.
 */
export interface PercpuAccessBody {
  readonly type: 'percpu_access';
  /** The variable's symbol name. */
  readonly var: string;
  /** The CPU whose unit the access touched. */
  readonly unit: number;
  /** Byte offset inside the variable. */
  readonly offset: number;
  readonly size: number;
  readonly access: 'read' | 'write';
  /** The guest instruction, -1 for a native access (a this_cpu op kfunc counts as its call). */
  readonly pc: number;
}

/** The tracepoint-specific part of an event, without the header. */
export type TraceEventBody =
  | SchedSwitchBody
  | SchedMigrateTaskBody
  | SchedWakeupBody
  | SchedProcessExitBody
  | IrqHandlerEntryBody
  | IrqHandlerExitBody
  | SoftirqBody
  | IpiRaiseBody
  | PreemptIrqBody
  | PercpuAccessBody
  | TextBody;

/** A whole event: the header plus one body, discriminated by `type`. */
export type TraceEvent = TraceHeader & TraceEventBody;

export type TraceEventType = TraceEventBody['type'];

/**
 * Event groups, as trace-cmd's `-e` names subsystems: what `--events`
 * selects. `preemptirq` and `percpu` are off unless asked for.
 */
export const TRACE_EVENT_GROUPS = {
  sched: ['sched_switch', 'sched_migrate_task', 'sched_wakeup', 'sched_process_exit'],
  irq: ['irq_handler_entry', 'irq_handler_exit', 'softirq_entry', 'softirq_exit'],
  ipi: ['ipi_raise'],
  printk: ['debug_preempt', 'oops', 'bpf_trace_printk', 'print'],
  xdp: [
    'xdp_exception',
    'xdp_redirect',
    'xdp_redirect_err',
    'xdp_cpumap_enqueue',
    'xdp_cpumap_kthread',
    'xdp_devmap_xmit',
  ],
  preemptirq: [
    'preempt_disable',
    'preempt_enable',
    'irq_disable',
    'irq_enable',
    'migrate_disable',
    'migrate_enable',
  ],
  percpu: ['percpu_access'],
} as const satisfies Record<string, readonly TraceEventType[]>;

export type TraceEventGroup = keyof typeof TRACE_EVENT_GROUPS;

/** The groups a tracer records unless told otherwise. */
export const DEFAULT_TRACE_EVENT_GROUPS: readonly TraceEventGroup[] = [
  'sched',
  'irq',
  'ipi',
  'printk',
  'xdp',
];

/**
 * Parses a `--events` list (`sched,irq,percpu`) into its groups; EINVAL
 * names an unknown group and the known ones.
 *
 * @example
 * parseTraceEventGroups('sched,preemptirq'); // ['sched', 'preemptirq']
 */
export function parseTraceEventGroups(list: string): TraceEventGroup[] {
  const names = list.split(',').map((g) => g.trim());
  for (const g of names) {
    if (!(g in TRACE_EVENT_GROUPS)) {
      throw new ErrnoError(
        'EINVAL',
        `unknown trace event group '${g}': use ${Object.keys(TRACE_EVENT_GROUPS).join(', ')}`,
      );
    }
  }
  return names as TraceEventGroup[];
}

/** Longest text (and irq name or IPI reason) recorded, in UTF-8 bytes. */
export const TRACE_TEXT_MAX = 4096;

/** TASK_COMM_LEN: a comm takes 16 bytes with its NUL, so at most 15 characters' bytes. */
export const TASK_COMM_LEN = 16;

// The kernel's preempt_count layout (include/linux/preempt.h), for traceFlags().
const PREEMPT_MASK = 0x0000_00ff;
const SOFTIRQ_OFFSET = 0x0000_0100;
const HARDIRQ_MASK = 0x000f_0000;

/** What {@link traceFlags} needs to know about a CPU at the moment of an event. */
export interface TraceContext {
  /** preempt_count() without the folded NEED_RESCHED bit. */
  readonly preemptCount: number;
  readonly irqsOff: boolean;
  readonly needResched: boolean;
  /** The current task's migration_disabled. */
  readonly migrationDisabled: number;
}

/**
 * The flags `tracing_gen_ctx()` records for a CPU state: hardirq from
 * HARDIRQ_MASK, softirq only while serving one (SOFTIRQ_OFFSET, not
 * `local_bh_disable`), the preempt depth and migrate-disable count clamped
 * to 15.
 *
 * @example
 * traceFlags({ preemptCount: 0x10001, irqsOff: true, needResched: false, migrationDisabled: 0 });
 * // { irqsOff: true, needResched: false, hardirq: true, softirq: false, preemptCount: 1, migrateDisable: 0 }
 */
export function traceFlags(ctx: TraceContext): TraceFlags {
  const pc = ctx.preemptCount;
  if (!Number.isInteger(pc) || pc < 0) {
    throw new ErrnoError('EINVAL', `preempt_count ${pc} is not a non-negative integer`);
  }
  if (!Number.isInteger(ctx.migrationDisabled) || ctx.migrationDisabled < 0) {
    throw new ErrnoError(
      'EINVAL',
      `migration_disabled ${ctx.migrationDisabled} is not a non-negative integer`,
    );
  }
  return {
    irqsOff: ctx.irqsOff,
    needResched: ctx.needResched,
    hardirq: (pc & HARDIRQ_MASK) !== 0,
    softirq: (pc & SOFTIRQ_OFFSET) !== 0,
    preemptCount: Math.min(pc & PREEMPT_MASK, 15),
    migrateDisable: Math.min(ctx.migrationDisabled, 15),
  };
}
