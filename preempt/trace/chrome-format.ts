/**
 * Trace events as Chrome trace JSON (the Trace Event Format that
 * chrome://tracing, ui.perfetto.dev and Speedscope open).
 *
 * One process, `percpu-emu` (pid 1), with one thread track per CPU, named
 * `CPU n` (tid n + 1: trace viewers treat tid 0 as the kernel's idle
 * thread). On each track:
 *
 * - a complete (`X`) event per stretch a task ran, from the sched_switch
 *   that switched it in to the one that switched it out, named `comm-pid`.
 *   The task running before a CPU's first switch runs from that CPU's first
 *   event; a task still running at the end runs to the trace's last event.
 *   The idle task (pid 0) gets no slice: idle is the gap.
 * - nested `X` events for hardirq handlers (`irq N: name`, entry to exit)
 *   and softirqs (`softirq NAME`), closed at the trace's end if their exit
 *   is missing and dropped if their entry was overwritten;
 * - thread-scoped instant (`i`) events for wakeups, migrations, exits, IPIs,
 *   DEBUG_PREEMPT and oops lines, bpf_trace_printk and scenario prints, the
 *   preemptirq events and per-CPU accesses (`write hits+8 -> cpu1`);
 * - a flow (`s` on the CPU the task left, `f` on the one it went to, bound
 *   to the enclosing slice) per migration, drawn as an arrow between tracks.
 *
 * Timestamps are microseconds (`ts / 1000`). The output depends only on the
 * events: metadata first, then events by time, CPU, outer before inner and
 * input order, with fixed key order, so the same events give the same bytes.
 *
 * @example
 * const json = formatChromeJson(tracer.events(), { nrCpus: 4 });
 * JSON.parse(json).traceEvents.filter((e) => e.ph === 'X'); // the slices
 */

import type { TraceEvent } from './events.ts';

/** The process every track belongs to. */
export const CHROME_PID = 1;

/** The Chrome track (tid) of a CPU. */
export const chromeTid = (cpu: number): number => cpu + 1;

/** One entry of `traceEvents`. */
export interface ChromeTraceEvent {
  readonly name: string;
  readonly cat?: string;
  readonly ph: 'X' | 'i' | 'M' | 's' | 'f';
  /** A flow's id, on `s` and `f` events. */
  readonly id?: number;
  /** `e`: a flow end binds to the enclosing slice. */
  readonly bp?: 'e';
  /** Microseconds. */
  readonly ts?: number;
  /** Microseconds, on `X` events. */
  readonly dur?: number;
  readonly pid: number;
  readonly tid: number;
  /** Scope of an instant event: the thread. */
  readonly s?: 't';
  readonly args?: Readonly<Record<string, unknown>>;
}

/** The JSON object format of a Chrome trace. */
export interface ChromeTrace {
  readonly traceEvents: readonly ChromeTraceEvent[];
  readonly displayTimeUnit: 'ns';
  readonly otherData: Readonly<Record<string, unknown>>;
}

export interface ChromeTraceOptions {
  /** CPUs to make tracks for (tracks exist even when a CPU has no events). */
  readonly nrCpus: number;
  /** Events lost per CPU (overwritten in the rings), reported in `otherData`. */
  readonly lost?: readonly number[];
}

interface Timed {
  readonly event: ChromeTraceEvent;
  readonly ts: number;
  readonly dur: number;
  readonly seq: number;
}

interface OpenSlice {
  readonly kind: 'irq' | 'softirq';
  readonly id: number;
  readonly name: string;
  readonly cat: string;
  readonly start: number;
  readonly args: Record<string, unknown>;
}

interface Running {
  readonly comm: string;
  readonly pid: number;
  readonly prio: number;
  readonly start: number;
}

interface CpuTrack {
  first: number;
  switched: boolean;
  running: Running | null;
  open: OpenSlice[];
}

const us = (ns: number): number => ns / 1000;

/**
 * Builds the Chrome trace of `events` (in merged order).
 *
 * @example
 * toChromeTrace(events, { nrCpus: 2 }).traceEvents[0];
 * // { name: 'process_name', ph: 'M', pid: 1, tid: 1, args: { name: 'percpu-emu' } }
 */
export function toChromeTrace(
  events: readonly TraceEvent[],
  options: ChromeTraceOptions,
): ChromeTrace {
  const timed: Timed[] = [];
  let seq = 0;
  const add = (event: ChromeTraceEvent, ts: number, dur = -1): void => {
    timed.push({ event, ts, dur, seq: seq++ });
  };
  const slice = (
    name: string,
    cat: string,
    cpu: number,
    start: number,
    end: number,
    args: Record<string, unknown>,
  ): void => {
    add(
      {
        name,
        cat,
        ph: 'X',
        ts: us(start),
        dur: us(end - start),
        pid: CHROME_PID,
        tid: chromeTid(cpu),
        args,
      },
      start,
      end - start,
    );
  };
  const instant = (e: TraceEvent, name: string, args: Record<string, unknown>): void => {
    add(
      {
        name,
        cat: e.type,
        ph: 'i',
        ts: us(e.ts),
        pid: CHROME_PID,
        tid: chromeTid(e.cpu),
        s: 't',
        args,
      },
      e.ts,
    );
  };

  const tracks = new Map<number, CpuTrack>();
  let flows = 0;
  const end = events.reduce((m, e) => Math.max(m, e.ts), 0);

  const closeOpen = (
    t: CpuTrack,
    cpu: number,
    depth: number,
    at: number,
    finished: boolean,
  ): void => {
    while (t.open.length > depth) {
      const o = t.open.pop()!;
      slice(o.name, o.cat, cpu, o.start, at, finished ? o.args : { ...o.args, unfinished: true });
    }
  };

  for (const e of events) {
    let t = tracks.get(e.cpu);
    if (t === undefined) {
      t = { first: e.ts, switched: false, running: null, open: [] };
      tracks.set(e.cpu, t);
    }
    switch (e.type) {
      case 'sched_switch': {
        closeOpen(t, e.cpu, 0, e.ts, false);
        const r = t.running;
        if (r !== null) {
          slice(`${r.comm}-${r.pid}`, 'sched', e.cpu, r.start, e.ts, {
            comm: r.comm,
            pid: r.pid,
            prio: r.prio,
            end_state: e.prevState,
          });
        } else if (!t.switched && e.prevPid !== 0 && e.ts > t.first) {
          slice(`${e.prevComm}-${e.prevPid}`, 'sched', e.cpu, t.first, e.ts, {
            comm: e.prevComm,
            pid: e.prevPid,
            prio: e.prevPrio,
            end_state: e.prevState,
          });
        }
        t.switched = true;
        t.running =
          e.nextPid === 0
            ? null
            : { comm: e.nextComm, pid: e.nextPid, prio: e.nextPrio, start: e.ts };
        break;
      }
      case 'irq_handler_entry':
        t.open.push({
          kind: 'irq',
          id: e.irq,
          name: `irq ${e.irq}: ${e.name}`,
          cat: 'irq',
          start: e.ts,
          args: { irq: e.irq, name: e.name, pc: e.pc },
        });
        break;
      case 'softirq_entry':
        t.open.push({
          kind: 'softirq',
          id: e.vec,
          name: `softirq ${e.name}`,
          cat: 'softirq',
          start: e.ts,
          args: { vec: e.vec, action: e.name },
        });
        break;
      case 'irq_handler_exit':
      case 'softirq_exit': {
        const kind = e.type === 'irq_handler_exit' ? 'irq' : 'softirq';
        const id = e.type === 'irq_handler_exit' ? e.irq : e.vec;
        let at = t.open.length - 1;
        while (at >= 0 && (t.open[at].kind !== kind || t.open[at].id !== id)) at--;
        if (at < 0) break;
        closeOpen(t, e.cpu, at + 1, e.ts, false);
        const o = t.open.pop()!;
        const args = e.type === 'irq_handler_exit' ? { ...o.args, ret: e.ret } : o.args;
        slice(o.name, o.cat, e.cpu, o.start, e.ts, args);
        break;
      }
      case 'sched_wakeup':
        instant(e, `wakeup ${e.taskComm}-${e.taskPid}`, {
          comm: e.taskComm,
          pid: e.taskPid,
          prio: e.taskPrio,
          target_cpu: e.targetCpu,
        });
        break;
      case 'sched_migrate_task': {
        const name = `migrate ${e.taskComm}-${e.taskPid} CPU ${e.origCpu} -> ${e.destCpu}`;
        instant(e, name, {
          comm: e.taskComm,
          pid: e.taskPid,
          prio: e.taskPrio,
          orig_cpu: e.origCpu,
          dest_cpu: e.destCpu,
        });
        const id = ++flows;
        const flow = { name, cat: 'migration', id, ts: us(e.ts), pid: CHROME_PID };
        add({ ...flow, ph: 's', tid: chromeTid(e.origCpu) }, e.ts);
        add({ ...flow, ph: 'f', bp: 'e', tid: chromeTid(e.destCpu) }, e.ts);
        break;
      }
      case 'preempt_disable':
      case 'preempt_enable':
      case 'irq_disable':
      case 'irq_enable':
      case 'migrate_disable':
      case 'migrate_enable':
        instant(e, e.type, { caller_pc: e.callerPc });
        break;
      case 'percpu_access':
        instant(e, `${e.access} ${e.var}+${e.offset} -> cpu${e.unit}`, {
          var: e.var,
          unit: e.unit,
          offset: e.offset,
          size: e.size,
          pc: e.pc,
          cross_unit: e.unit !== e.cpu,
        });
        break;
      case 'sched_process_exit':
        instant(e, `exit ${e.taskComm}-${e.taskPid}`, {
          comm: e.taskComm,
          pid: e.taskPid,
          prio: e.taskPrio,
        });
        break;
      case 'ipi_raise':
        instant(e, `IPI to CPU ${e.targetCpus.join(',')} (${e.reason})`, {
          target_cpus: [...e.targetCpus],
          reason: e.reason,
        });
        break;
      case 'debug_preempt':
      case 'oops':
      case 'bpf_trace_printk':
      case 'print':
        instant(e, e.text.split('\n', 1)[0] || e.type, { comm: e.comm, pid: e.pid, text: e.text });
        break;
    }
  }

  for (const [cpu, t] of tracks) {
    closeOpen(t, cpu, 0, end, false);
    const r = t.running;
    if (r !== null) {
      slice(`${r.comm}-${r.pid}`, 'sched', cpu, r.start, end, {
        comm: r.comm,
        pid: r.pid,
        prio: r.prio,
        unfinished: true,
      });
    }
  }

  timed.sort((a, b) => a.ts - b.ts || a.event.tid - b.event.tid || b.dur - a.dur || a.seq - b.seq);

  const cpus = Math.max(options.nrCpus, ...[...tracks.keys()].map((c) => c + 1));
  const meta: ChromeTraceEvent[] = [
    {
      name: 'process_name',
      ph: 'M',
      pid: CHROME_PID,
      tid: chromeTid(0),
      args: { name: 'percpu-emu' },
    },
  ];
  for (let cpu = 0; cpu < cpus; cpu++) {
    meta.push(
      {
        name: 'thread_name',
        ph: 'M',
        pid: CHROME_PID,
        tid: chromeTid(cpu),
        args: { name: `CPU ${cpu}` },
      },
      {
        name: 'thread_sort_index',
        ph: 'M',
        pid: CHROME_PID,
        tid: chromeTid(cpu),
        args: { sort_index: cpu },
      },
    );
  }
  const otherData: Record<string, unknown> = { source: 'percpu-emu', cpus };
  if (options.lost !== undefined) otherData.lost_events = [...options.lost];
  return {
    traceEvents: [...meta, ...timed.map((t) => t.event)],
    displayTimeUnit: 'ns',
    otherData,
  };
}

/**
 * {@link toChromeTrace} as JSON text, one trace event per line.
 *
 * @example
 * writeFileSync('trace.json', formatChromeJson(tracer.events(), { nrCpus: 4 }));
 */
export function formatChromeJson(
  events: readonly TraceEvent[],
  options: ChromeTraceOptions,
): string {
  const trace = toChromeTrace(events, options);
  const lines = trace.traceEvents.map((e) => JSON.stringify(e));
  return (
    `{"traceEvents":[\n${lines.join(',\n')}\n],` +
    `"displayTimeUnit":${JSON.stringify(trace.displayTimeUnit)},` +
    `"otherData":${JSON.stringify(trace.otherData)}}\n`
  );
}
