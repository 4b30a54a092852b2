import { describe, expect, it } from 'vitest';
import {
  type ChromeTraceEvent,
  formatChromeJson,
  toChromeTrace,
} from '../../../preempt/trace/chrome-format.ts';
import type { TaskStateLetter, TraceEvent } from '../../../preempt/trace/events.ts';
import { ev, ONE_OF_EACH } from './trace-fixtures.ts';

const sw = (
  ts: number,
  cpu: number,
  prev: [string, number, TaskStateLetter],
  next: [string, number],
): TraceEvent =>
  ev(
    {
      type: 'sched_switch',
      prevComm: prev[0],
      prevPid: prev[1],
      prevPrio: 120,
      prevState: prev[2],
      nextComm: next[0],
      nextPid: next[1],
      nextPrio: 120,
    },
    { ts, cpu, pid: prev[1], comm: prev[0] },
  );

/** Two CPUs' worth of scheduling, interrupts and messages, in merged order. */
const SCENARIO: TraceEvent[] = [
  ev({ type: 'print', text: 'go' }, { ts: 50_000, cpu: 1, pid: 7, comm: 'x' }),
  ev(
    { type: 'sched_wakeup', taskComm: 'a', taskPid: 10, taskPrio: 120, targetCpu: 0 },
    { ts: 60_000, cpu: 1, pid: 7, comm: 'x' },
  ),
  sw(100_000, 0, ['swapper/0', 0, 'R'], ['a', 10]),
  ev(
    { type: 'irq_handler_entry', irq: 0, name: 'timer', pc: 3 },
    { ts: 150_000, cpu: 0, pid: 10, comm: 'a' },
  ),
  ev(
    { type: 'irq_handler_exit', irq: 0, ret: 'handled' },
    { ts: 180_000, cpu: 0, pid: 10, comm: 'a' },
  ),
  ev({ type: 'softirq_entry', vec: 1, name: 'TIMER' }, { ts: 185_000, cpu: 0, pid: 10, comm: 'a' }),
  ev(
    { type: 'irq_handler_entry', irq: 1, name: 'nic', pc: -1 },
    { ts: 187_000, cpu: 0, pid: 10, comm: 'a' },
  ),
  ev(
    { type: 'irq_handler_exit', irq: 1, ret: 'handled' },
    { ts: 188_000, cpu: 0, pid: 10, comm: 'a' },
  ),
  ev({ type: 'softirq_exit', vec: 1, name: 'TIMER' }, { ts: 190_000, cpu: 0, pid: 10, comm: 'a' }),
  sw(200_000, 1, ['x', 7, 'S'], ['swapper/1', 0]),
  sw(300_000, 0, ['a', 10, 'R+'], ['b', 11]),
  ev(
    {
      type: 'debug_preempt',
      text: 'BUG: using smp_processor_id() in preemptible [00000000] code: b/11\ncaller is f',
    },
    { ts: 400_000, cpu: 0, pid: 11, comm: 'b' },
  ),
  ev({ type: 'print', text: 'end' }, { ts: 500_000, cpu: 0, pid: 11, comm: 'b' }),
];

const slices = (events: readonly ChromeTraceEvent[]) =>
  events
    .filter((e) => e.ph === 'X')
    .map((e) => ({ name: e.name, tid: e.tid, ts: e.ts, dur: e.dur, args: e.args }));

describe('Chrome trace JSON', () => {
  it('parses, with one process and one named track per CPU', () => {
    const trace = JSON.parse(formatChromeJson(SCENARIO, { nrCpus: 3 }));
    expect(trace.displayTimeUnit).toBe('ns');
    const meta = trace.traceEvents.filter((e: ChromeTraceEvent) => e.ph === 'M');
    expect(meta.filter((e: ChromeTraceEvent) => e.name === 'process_name')).toEqual([
      { name: 'process_name', ph: 'M', pid: 1, tid: 1, args: { name: 'percpu-emu' } },
    ]);
    expect(
      meta
        .filter((e: ChromeTraceEvent) => e.name === 'thread_name')
        .map((e: ChromeTraceEvent) => [e.tid, e.args?.name]),
    ).toEqual([
      [1, 'CPU 0'],
      [2, 'CPU 1'],
      [3, 'CPU 2'],
    ]);
    const tids = new Set(trace.traceEvents.map((e: ChromeTraceEvent) => e.pid));
    expect([...tids]).toEqual([1]);
  });

  it('makes a task slice per sched_switch pair, in microseconds, and none for idle', () => {
    const tasks = slices(toChromeTrace(SCENARIO, { nrCpus: 2 }).traceEvents).filter((s) =>
      /^[abx]-/.test(s.name),
    );
    expect(tasks).toEqual([
      {
        name: 'x-7',
        tid: 2,
        ts: 50,
        dur: 150,
        args: { comm: 'x', pid: 7, prio: 120, end_state: 'S' },
      },
      {
        name: 'a-10',
        tid: 1,
        ts: 100,
        dur: 200,
        args: { comm: 'a', pid: 10, prio: 120, end_state: 'R+' },
      },
      {
        name: 'b-11',
        tid: 1,
        ts: 300,
        dur: 200,
        args: { comm: 'b', pid: 11, prio: 120, unfinished: true },
      },
    ]);
  });

  it('nests irq and softirq slices inside the task that was running', () => {
    const all = slices(toChromeTrace(SCENARIO, { nrCpus: 2 }).traceEvents);
    const irqs = all.filter((s) => !/^[abx]-/.test(s.name));
    expect(irqs).toEqual([
      {
        name: 'irq 0: timer',
        tid: 1,
        ts: 150,
        dur: 30,
        args: { irq: 0, name: 'timer', pc: 3, ret: 'handled' },
      },
      { name: 'softirq TIMER', tid: 1, ts: 185, dur: 5, args: { vec: 1, action: 'TIMER' } },
      {
        name: 'irq 1: nic',
        tid: 1,
        ts: 187,
        dur: 1,
        args: { irq: 1, name: 'nic', pc: -1, ret: 'handled' },
      },
    ]);
    const a = all.find((s) => s.name === 'a-10')!;
    for (const s of irqs) {
      expect(s.ts! >= a.ts! && s.ts! + s.dur! <= a.ts! + a.dur!).toBe(true);
    }
  });

  it('marks wakeups, DEBUG_PREEMPT lines and prints as thread instants on their CPU', () => {
    const instants = toChromeTrace(SCENARIO, { nrCpus: 2 }).traceEvents.filter((e) => e.ph === 'i');
    expect(instants.map((e) => [e.tid, e.ts, e.cat, e.name, e.s])).toEqual([
      [2, 50, 'print', 'go', 't'],
      [2, 60, 'sched_wakeup', 'wakeup a-10', 't'],
      [
        1,
        400,
        'debug_preempt',
        'BUG: using smp_processor_id() in preemptible [00000000] code: b/11',
        't',
      ],
      [1, 500, 'print', 'end', 't'],
    ]);
    expect(instants[2].args?.text).toContain('\ncaller is f');
  });

  it('closes an interrupt whose exit is missing at the end and drops an exit without entry', () => {
    const events = [
      ev({ type: 'irq_handler_exit', irq: 3, ret: 'handled' }, { ts: 1000 }),
      ev({ type: 'softirq_entry', vec: 7, name: 'SCHED' }, { ts: 2000 }),
      ev({ type: 'print', text: 'later' }, { ts: 9000 }),
    ];
    expect(slices(toChromeTrace(events, { nrCpus: 1 }).traceEvents)).toEqual([
      {
        name: 'softirq SCHED',
        tid: 1,
        ts: 2,
        dur: 7,
        args: { vec: 7, action: 'SCHED', unfinished: true },
      },
    ]);
  });

  it('gives every event type a place and reports lost events', () => {
    const trace = JSON.parse(formatChromeJson(ONE_OF_EACH, { nrCpus: 4, lost: [0, 3, 0, 0] }));
    expect(trace.otherData).toEqual({ source: 'percpu-emu', cpus: 4, lost_events: [0, 3, 0, 0] });
    const cats = new Set(trace.traceEvents.map((e: ChromeTraceEvent) => e.cat));
    for (const c of [
      'sched',
      'irq',
      'softirq',
      'sched_migrate_task',
      'sched_wakeup',
      'ipi_raise',
      'oops',
    ]) {
      expect(cats).toContain(c);
    }
  });

  it('is deterministic: the same events give byte-identical JSON', () => {
    const a = formatChromeJson(SCENARIO, { nrCpus: 2 });
    const b = formatChromeJson(
      SCENARIO.map((e) => structuredClone(e)),
      { nrCpus: 2 },
    );
    expect(b).toBe(a);
    expect(a.endsWith('}\n')).toBe(true);
  });
});
