/**
 * Trace events as text in the shape of /sys/kernel/tracing/trace with the
 * nop tracer, which `trace-cmd report`, Perfetto (one track per CPU) and
 * people read:
 *
 *     # tracer: nop
 *     #
 *     # entries-in-buffer/entries-written: 2/2   #P:2
 *     ...
 *               <idle>-0       [001] d..2.  1234.567890: sched_switch: prev_comm=swapper/1 ...
 *
 * Each line is `trace_print_context()` (kernel/trace/trace_output.c): the
 * comm right-aligned in 16, `-`, the pid left-aligned in 7, the CPU as
 * `[%03d]`, the five latency-format columns of `trace_print_lat_fmt()`,
 * the time as ` %5lu.%06lu` seconds (nanoseconds rounded to microseconds,
 * as `ns2usecs()` does), then `name: ` and the tracepoint's TP_printk
 * output. The TP_printk formats are those of include/trace/events/sched.h,
 * irq.h and ipi.h and kernel/trace/bpf_trace.h.
 *
 * Text events: `bpf_trace_printk: <text>`; `print` as a trace_marker write,
 * `tracing_mark_write: <text>`; `debug_preempt` and `oops` are kernel log
 * lines and show as the printk:console event, `console: <text>`. A text of
 * several lines gives one event line per line of text (a trailing newline
 * gives none), so every line keeps its context columns.
 *
 * @example
 * formatFtrace(events, { nrCpus: 4 }); // the whole file, '\n'-terminated
 * ftraceLines(event)[0];                // '            bash-1234    [001] .....  ...'
 */

import {
  type IpiRaiseBody,
  SOFTIRQ_NAMES,
  type TraceEvent,
  type TraceEventType,
  type TraceFlags,
} from './events.ts';

/**
 * The five latency columns: irqs-off `d`, need-resched `N`, hardirq/softirq
 * `h`/`s`/`H`, preempt depth and migrate-disable as hex digits (`.` for 0).
 *
 * @example
 * ftraceLatencyFlags({ irqsOff: true, needResched: false, hardirq: true, softirq: false, preemptCount: 1, migrateDisable: 0 });
 * // 'd.h1.'
 */
export function ftraceLatencyFlags(f: TraceFlags): string {
  const irqsOff = f.irqsOff ? 'd' : '.';
  // The machine's need-resched is the task flag and the folded preempt bit together: 'N'.
  const needResched = f.needResched ? 'N' : '.';
  const hardsoft = f.hardirq && f.softirq ? 'H' : f.hardirq ? 'h' : f.softirq ? 's' : '.';
  const depth = Math.min(f.preemptCount, 15);
  const migrate = Math.min(f.migrateDisable, 15);
  return (
    irqsOff +
    needResched +
    hardsoft +
    (depth === 0 ? '.' : depth.toString(16)) +
    (migrate === 0 ? '.' : migrate.toString(16))
  );
}

/**
 * Nanoseconds as ftrace prints them: microseconds rounded to nearest, then
 * `%5lu.%06lu` seconds.
 *
 * @example
 * ftraceTimestamp(1_234_567_890_499); // ' 1234.567890'
 */
export function ftraceTimestamp(ns: number): string {
  const us = Math.floor((ns + 500) / 1000);
  const secs = Math.floor(us / 1_000_000);
  const rem = us - secs * 1_000_000;
  return `${String(secs).padStart(5)}.${String(rem).padStart(6, '0')}`;
}

/** The comm the context column shows: `<idle>` for pid 0, as trace_find_cmdline does. */
function contextComm(e: TraceEvent): string {
  if (e.pid === 0) return '<idle>';
  return e.comm === '' ? '<...>' : e.comm;
}

/**
 * `trace_print_context()`: everything before the event name, ending in `': '`.
 *
 * @example
 * ftraceContext(event); // '            bash-1234    [001] d..2.  1234.567890: '
 */
export function ftraceContext(e: TraceEvent): string {
  return (
    `${contextComm(e).padStart(16)}-${String(e.pid).padEnd(7)} ` +
    `[${String(e.cpu).padStart(3, '0')}] ${ftraceLatencyFlags(e.flags)} ${ftraceTimestamp(e.ts)}: `
  );
}

/** The event name ftrace prints for each event type. */
export const FTRACE_EVENT_NAME: Readonly<Record<TraceEventType, string>> = Object.freeze({
  sched_switch: 'sched_switch',
  sched_migrate_task: 'sched_migrate_task',
  sched_wakeup: 'sched_wakeup',
  sched_process_exit: 'sched_process_exit',
  irq_handler_entry: 'irq_handler_entry',
  irq_handler_exit: 'irq_handler_exit',
  softirq_entry: 'softirq_entry',
  softirq_exit: 'softirq_exit',
  ipi_raise: 'ipi_raise',
  debug_preempt: 'console',
  oops: 'console',
  bpf_trace_printk: 'bpf_trace_printk',
  print: 'tracing_mark_write',
  xdp_exception: 'xdp_exception',
  xdp_redirect: 'xdp_redirect',
  xdp_redirect_err: 'xdp_redirect_err',
  xdp_cpumap_enqueue: 'xdp_cpumap_enqueue',
  xdp_cpumap_kthread: 'xdp_cpumap_kthread',
  xdp_devmap_xmit: 'xdp_devmap_xmit',
  preempt_disable: 'preempt_disable',
  preempt_enable: 'preempt_enable',
  irq_disable: 'irq_disable',
  irq_enable: 'irq_enable',
  migrate_disable: 'migrate_disable',
  migrate_enable: 'migrate_enable',
  percpu_access: 'percpu_access',
});

/**
 * A cpumask as `%*pb` prints a `__bitmask` of `nr_cpumask_bits` rounded up
 * to whole longs: 32-bit hex chunks, most significant first, comma-separated.
 */
function cpumaskString(cpus: IpiRaiseBody['targetCpus']): string {
  let lo = 0;
  let hi = 0;
  for (const c of cpus) {
    if (c < 32) lo |= 1 << c;
    else hi |= 1 << (c - 32);
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  return `${hex(hi)},${hex(lo)}`;
}

/** The TP_printk output of one event (possibly several lines for a text). */
function eventBodies(e: TraceEvent): string[] {
  switch (e.type) {
    case 'sched_switch':
      return [
        `prev_comm=${e.prevComm} prev_pid=${e.prevPid} prev_prio=${e.prevPrio} prev_state=${e.prevState}` +
          ` ==> next_comm=${e.nextComm} next_pid=${e.nextPid} next_prio=${e.nextPrio}`,
      ];
    case 'sched_migrate_task':
      return [
        `comm=${e.taskComm} pid=${e.taskPid} prio=${e.taskPrio} orig_cpu=${e.origCpu} dest_cpu=${e.destCpu}`,
      ];
    case 'sched_wakeup':
      return [
        `comm=${e.taskComm} pid=${e.taskPid} prio=${e.taskPrio} target_cpu=${pad03(e.targetCpu)}`,
      ];
    case 'sched_process_exit':
      return [`comm=${e.taskComm} pid=${e.taskPid} prio=${e.taskPrio}`];
    case 'irq_handler_entry':
      return [`irq=${e.irq} name=${e.name} pc=${e.pc < 0 ? 'kernel' : e.pc}`];
    case 'irq_handler_exit':
      return [`irq=${e.irq} ret=${e.ret}`];
    case 'softirq_entry':
    case 'softirq_exit':
      return [`vec=${e.vec} [action=${SOFTIRQ_NAMES[e.vec] ?? e.vec}]`];
    case 'ipi_raise':
      return [`target_mask=${cpumaskString(e.targetCpus)} (${e.reason})`];
    case 'preempt_disable':
    case 'preempt_enable':
    case 'irq_disable':
    case 'irq_enable':
    case 'migrate_disable':
    case 'migrate_enable':
      return [`caller=${e.callerPc < 0 ? 'kernel' : `insn ${e.callerPc}`}`];
    case 'percpu_access':
      return [
        `${e.access} ${e.var}+${e.offset} size=${e.size} unit=cpu${e.unit}` +
          ` pc=${e.pc < 0 ? 'kernel' : e.pc}${e.unit !== e.cpu ? ' CROSS-UNIT' : ''}`,
      ];
    case 'debug_preempt':
    case 'oops':
    case 'bpf_trace_printk':
    case 'print':
    case 'xdp_exception':
    case 'xdp_redirect':
    case 'xdp_redirect_err':
    case 'xdp_cpumap_enqueue':
    case 'xdp_cpumap_kthread':
    case 'xdp_devmap_xmit': {
      const lines = e.text.split('\n');
      if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
      return lines;
    }
  }
}

/** `%03d`: at least three digits, zero-padded after any sign. */
function pad03(n: number): string {
  return n < 0 ? `-${String(-n).padStart(2, '0')}` : String(n).padStart(3, '0');
}

/**
 * The trace lines of one event, without newlines: one line, or one per
 * line of a multi-line text.
 *
 * @example
 * ftraceLines({ type: 'irq_handler_exit', irq: 0, ret: 'handled', ts: 1500, cpu: 0, pid: 0, comm: 'swapper/0', flags });
 * // ['          <idle>-0       [000] d.h1.     0.000002: irq_handler_exit: irq=0 ret=handled']
 */
export function ftraceLines(e: TraceEvent): string[] {
  const prefix = `${ftraceContext(e)}${FTRACE_EVENT_NAME[e.type]}: `;
  return eventBodies(e).map((body) => prefix + body);
}

/** The counts the header reports. */
export interface FtraceHeaderInfo {
  /** Possible CPUs (`#P:`). */
  readonly nrCpus: number;
  /** Events in the buffers; defaults to the number of events formatted. */
  readonly entries?: number;
  /** Events ever written, lost ones included; defaults to `entries`. */
  readonly written?: number;
}

/**
 * The header of the trace file (`s_show()` and `print_func_help_header_irq()`
 * in kernel/trace/trace.c), each line newline-terminated.
 *
 * @example
 * ftraceHeader(2, 5, 4).split('\n')[2]; // '# entries-in-buffer/entries-written: 2/5   #P:4'
 */
export function ftraceHeader(entries: number, written: number, nrCpus: number): string {
  return [
    '# tracer: nop',
    '#',
    `# entries-in-buffer/entries-written: ${entries}/${written}   #P:${nrCpus}`,
    '#',
    '#                                _-----=> irqs-off/BH-disabled',
    '#                               / _----=> need-resched',
    '#                              | / _---=> hardirq/softirq',
    '#                              || / _--=> preempt-depth',
    '#                              ||| / _-=> migrate-disable',
    '#                              |||| /     delay',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '#              | |         |   |||||     |         |',
    '',
  ].join('\n');
}

/**
 * The whole trace file for `events` (already in the order to print, e.g.
 * merged by timestamp). Same events, same text, byte for byte.
 *
 * @example
 * formatFtrace(tracer.events(), { nrCpus: 4, written: 120 });
 */
export function formatFtrace(events: readonly TraceEvent[], info: FtraceHeaderInfo): string {
  const entries = info.entries ?? events.length;
  const parts = [ftraceHeader(entries, info.written ?? entries, info.nrCpus)];
  for (const e of events) for (const line of ftraceLines(e)) parts.push(`${line}\n`);
  return parts.join('');
}
