/**
 * Extracts the data of a timeline (timeline-data.ts) from a kernel after
 * its run: the trace rings (task spans from sched_switch, nested hardirq
 * and softirq handlers, the preemptirq regions, migrations, wake-ups,
 * sleeps, exits, percpu_access events), the kernel's reports (each placed
 * at the instruction it names), and every guest program disassembled, with
 * C source lines when the program came from an object.
 *
 * The run should trace the `preemptirq` and `percpu` groups (run-scenario's
 * traceEvents and tracePercpu); without them the picture has no regions or
 * accesses, and says nothing is wrong.
 *
 * @example
 * const data = extractTimeline(result.machine, { title: 'stale-pointer-racy', report, replay, command });
 * data.breaking; // the mark of the first suspected write, or -1
 */

import { disassembleInsn } from '../cpu/disasm.ts';
import { LDDW } from '../cpu/opcodes.ts';
import type { LoadedProgram } from '../cpu/program.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { sourceLocation, symbolizePc } from '../preempt/oops.ts';
import { RaceSuspects } from './race-suspects.ts';
import {
  MarkKind,
  SpanKind,
  type TimelineData,
  type TimelineProgram,
  type TimelineReport,
  type TimelineTask,
} from './timeline-data.ts';

export interface TimelineRunInfo {
  readonly title: string;
  /** The run's readable report (scenarios/report.ts). */
  readonly report: string;
  readonly replay: string;
  readonly command: string;
}

interface Open {
  readonly kind: number;
  readonly id: number;
  readonly start: number;
}

interface CpuLane {
  task: number;
  taskStart: number;
  readonly stack: Open[];
  preemptOff: number;
  irqsOff: number;
  migrateOff: number;
}

/** Region rows sit above the handler rows; the viewer puts them in their own strip. */
const REGION_DEPTH = { preempt: 0, irqs: 1, migrate: 2 } as const;

export function extractTimeline(k: Kernel, info: TimelineRunInfo): TimelineData {
  const events = k.tracer?.events() ?? [];
  const spans: number[] = [];
  const marks: number[] = [];
  const accesses: number[] = [];
  const interrupts: number[] = [];
  const labels: string[] = [];
  const vars: string[] = [];
  const varIndex = new Map<string, number>();

  const tasks: TimelineTask[] = [];
  const taskIndex = new Map<number, number>();
  const taskOf = (pid: number, comm: string): number => {
    let t = taskIndex.get(pid);
    if (t === undefined) {
      t = tasks.length;
      const kt = k.tasks.get(pid);
      tasks.push({ pid, comm, kthread: kt?.kthread === true && pid !== 0 });
      taskIndex.set(pid, t);
    }
    return t;
  };

  const { programs, loaded, programOf, handlerProgram } = listPrograms(k);
  const end = events.reduce((m, e) => Math.max(m, e.ts), 0);
  const lanes: CpuLane[] = Array.from({ length: k.nrCpus }, () => ({
    task: -1,
    taskStart: 0,
    stack: [],
    preemptOff: -1,
    irqsOff: -1,
    migrateOff: -1,
  }));
  /** Tasks switched out inside migrate_disable: the region goes on where they run next. */
  const migrateOpen = new Set<number>();
  const suspects = new RaceSuspects();
  let breaking = -1;

  const span = (
    cpu: number,
    start: number,
    stop: number,
    kind: number,
    ref: number,
    depth: number,
  ) => {
    if (stop >= start) spans.push(cpu, start, stop, kind, ref, depth);
  };
  const mark = (cpu: number, ts: number, kind: number, a: number, b = 0, c = 0) => {
    marks.push(cpu, ts, kind, a, b, c);
    return marks.length / 6 - 1;
  };

  for (const e of events) {
    const lane = lanes[e.cpu];
    if (lane === undefined) continue;
    switch (e.type) {
      case 'sched_switch': {
        const prev = taskOf(e.prevPid, e.prevComm);
        if (lane.task >= 0) span(e.cpu, lane.taskStart, e.ts, SpanKind.Task, lane.task, 0);
        else if (e.prevPid !== 0) span(e.cpu, 0, e.ts, SpanKind.Task, prev, 0);
        if (lane.migrateOff >= 0) {
          span(e.cpu, lane.migrateOff, e.ts, SpanKind.MigrateOff, prev, REGION_DEPTH.migrate);
          lane.migrateOff = -1;
          migrateOpen.add(prev);
        }
        if (e.prevState === 'S' || e.prevState === 'D') mark(e.cpu, e.ts, MarkKind.Sleep, prev);
        const next = taskOf(e.nextPid, e.nextComm);
        lane.task = e.nextPid === 0 ? -1 : next;
        lane.taskStart = e.ts;
        if (migrateOpen.delete(next)) lane.migrateOff = e.ts;
        break;
      }
      case 'softirq_entry':
        lane.stack.push({
          kind: SpanKind.Softirq,
          id: labelOf(labels, `softirq ${e.name}`),
          start: e.ts,
        });
        break;
      case 'irq_handler_entry': {
        // What it interrupted: the task in the header, at the pc it resumes at.
        const program = e.pc < 0 ? -1 : programOf(e.pid);
        const id = interrupts.length / 4;
        interrupts.push(
          labelOf(labels, `irq ${e.irq}: ${e.name}`),
          e.pid === 0 ? -1 : taskOf(e.pid, e.comm),
          program,
          program < 0 ? -1 : e.pc,
        );
        lane.stack.push({ kind: SpanKind.Hardirq, id, start: e.ts });
        break;
      }
      case 'irq_handler_exit':
      case 'softirq_exit': {
        const kind = e.type === 'irq_handler_exit' ? SpanKind.Hardirq : SpanKind.Softirq;
        let at = lane.stack.length - 1;
        while (at >= 0 && lane.stack[at].kind !== kind) at--;
        if (at < 0) break;
        while (lane.stack.length > at) {
          const o = lane.stack.pop()!;
          span(e.cpu, o.start, e.ts, o.kind, o.id, lane.stack.length + 1);
        }
        break;
      }
      case 'preempt_disable':
        if (lane.preemptOff < 0) lane.preemptOff = e.ts;
        break;
      case 'preempt_enable':
        if (lane.preemptOff >= 0)
          span(e.cpu, lane.preemptOff, e.ts, SpanKind.PreemptOff, 0, REGION_DEPTH.preempt);
        lane.preemptOff = -1;
        break;
      case 'irq_disable':
        if (lane.irqsOff < 0) lane.irqsOff = e.ts;
        break;
      case 'irq_enable':
        if (lane.irqsOff >= 0)
          span(e.cpu, lane.irqsOff, e.ts, SpanKind.IrqsOff, 0, REGION_DEPTH.irqs);
        lane.irqsOff = -1;
        break;
      case 'migrate_disable':
        if (lane.migrateOff < 0) lane.migrateOff = e.ts;
        break;
      case 'migrate_enable':
        if (lane.migrateOff >= 0) {
          span(
            e.cpu,
            lane.migrateOff,
            e.ts,
            SpanKind.MigrateOff,
            taskOf(e.pid, e.comm),
            REGION_DEPTH.migrate,
          );
        }
        lane.migrateOff = -1;
        break;
      case 'sched_wakeup':
        mark(e.cpu, e.ts, MarkKind.Wakeup, taskOf(e.taskPid, e.taskComm), e.targetCpu);
        break;
      case 'sched_migrate_task': {
        const t = taskOf(e.taskPid, e.taskComm);
        suspects.migrate(t);
        mark(e.cpu, e.ts, MarkKind.Migrate, t, e.origCpu, e.destCpu);
        break;
      }
      case 'sched_process_exit':
        mark(e.cpu, e.ts, MarkKind.Exit, taskOf(e.taskPid, e.taskComm));
        break;
      case 'bpf_trace_printk':
      case 'print':
        mark(e.cpu, e.ts, MarkKind.Print, labelOf(labels, e.text));
        break;
      case 'percpu_access': {
        const task = taskOf(e.pid, e.comm);
        let v = varIndex.get(e.var);
        if (v === undefined) {
          v = vars.length;
          vars.push(e.var);
          varIndex.set(e.var, v);
        }
        const inIrq = e.flags.hardirq || e.flags.softirq;
        const program = inIrq ? handlerProgram(e.cpu) : programOf(e.pid);
        const write = e.access === 'write';
        const bits = suspects.access({
          task,
          cpu: e.cpu,
          ctx: `${e.pid}${e.flags.hardirq ? 'h' : e.flags.softirq ? 's' : ''}`,
          slot: `${e.var}+${e.offset}@${e.unit}`,
          unit: e.unit,
          pc: e.pc,
          program,
          write,
          inIrq,
        });
        const a = accesses.length / 8;
        accesses.push(v, e.unit, e.offset, write ? 1 : 0, e.pc, task, program, bits);
        const m = mark(e.cpu, e.ts, MarkKind.Access, a);
        if (breaking < 0 && bits !== 0 && write) breaking = m;
        break;
      }
      default:
        break;
    }
  }

  lanes.forEach((lane, cpu) => {
    if (lane.task >= 0) span(cpu, lane.taskStart, end, SpanKind.Task, lane.task, 0);
    while (lane.stack.length > 0) {
      const o = lane.stack.pop()!;
      span(cpu, o.start, end, o.kind, o.id, lane.stack.length + 1);
    }
    if (lane.preemptOff >= 0) span(cpu, lane.preemptOff, end, SpanKind.PreemptOff, 0, 0);
    if (lane.irqsOff >= 0) span(cpu, lane.irqsOff, end, SpanKind.IrqsOff, 0, 1);
    if (lane.migrateOff >= 0) span(cpu, lane.migrateOff, end, SpanKind.MigrateOff, 0, 2);
  });

  const reports: TimelineReport[] = k.reports.map((r, i) => {
    mark(r.cpu, r.ts, MarkKind.Report, i);
    taskOf(r.pid, r.comm);
    const program = programOf(r.pid);
    const pc = program < 0 ? -1 : pcNamedIn(r.lines, loaded[program]);
    return {
      kind: r.kind,
      cpu: r.cpu,
      pid: r.pid,
      comm: r.comm,
      ts: r.ts,
      lines: r.lines,
      program,
      pc,
    };
  });

  const sorted = sortMarks(marks);
  return {
    version: 1,
    title: info.title,
    nrCpus: k.nrCpus,
    nsPerInsn: k.opts.nsPerInsn,
    end: Math.max(end, ...k.reports.map((r) => r.ts)),
    tasks,
    labels,
    vars,
    spans: sortSpans(spans),
    marks: sorted.marks,
    accesses,
    interrupts,
    reports,
    programs,
    breaking: breaking < 0 ? -1 : sorted.at[breaking],
    lost: Array.from({ length: k.nrCpus }, (_, cpu) => k.tracer?.lost(cpu) ?? 0),
    report: info.report,
    replay: info.replay,
    command: info.command,
  };
}

function labelOf(labels: string[], text: string): number {
  const at = labels.indexOf(text);
  if (at >= 0) return at;
  labels.push(text);
  return labels.length - 1;
}

/** Every guest program of the run (tasks' and timer handlers'), listed once each. */
function listPrograms(k: Kernel) {
  const loaded: LoadedProgram[] = [];
  const index = new Map<LoadedProgram, number>();
  const add = (p: LoadedProgram): number => {
    let i = index.get(p);
    if (i === undefined) {
      i = loaded.length;
      loaded.push(p);
      index.set(p, i);
    }
    return i;
  };
  const byPid = new Map<number, number>();
  for (const t of k.tasks.values())
    if (t.body.kind === 'program') byPid.set(t.pid, add(t.body.program));
  const handlers = k.timerHandlers.map((hs) => {
    const h = hs.find((x) => 'program' in x);
    return h !== undefined && 'program' in h ? add(h.program) : -1;
  });
  const disasm = k.disasmOptions();
  const programs: TimelineProgram[] = loaded.map((p) => {
    const insns: string[] = [];
    const source: (string | null)[] = [];
    for (let pc = 0; pc < p.length; pc++) {
      const half = pc > 0 && p.insns[pc - 1].code === LDDW && insns[pc - 1] !== '';
      insns.push(half ? '' : disassembleInsn(p.insns, pc, disasm));
      const line = p.sourceLine(pc);
      source.push(line === undefined ? null : `${sourceLocation(line)}: ${line.text}`);
    }
    return { name: p.name, insns, source };
  });
  return {
    programs,
    loaded,
    programOf: (pid: number) => byPid.get(pid) ?? -1,
    handlerProgram: (cpu: number) => handlers[cpu] ?? -1,
  };
}

/** The instruction a report names (`caller is loop+0x18/0x80`, a KASAN site), or -1. */
function pcNamedIn(lines: readonly string[], prog: LoadedProgram): number {
  for (const line of lines) {
    const site = /([\w.$]+\+0x[0-9a-f]+\/0x[0-9a-f]+)/.exec(line)?.[1];
    if (site === undefined) continue;
    for (let pc = 0; pc < prog.length; pc++) if (symbolizePc(prog, pc) === site) return pc;
  }
  return -1;
}

/** Spans by CPU, then row (task, handler depths, regions), then start: the viewer's order. */
function sortSpans(spans: number[]): number[] {
  const n = spans.length / 6;
  const row = (i: number) => {
    const kind = spans[i * 6 + 3];
    return kind >= SpanKind.PreemptOff ? 100 + kind : spans[i * 6 + 5];
  };
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort(
    (a, b) =>
      spans[a * 6] - spans[b * 6] ||
      row(a) - row(b) ||
      spans[a * 6 + 1] - spans[b * 6 + 1] ||
      a - b,
  );
  return order.flatMap((i) => spans.slice(i * 6, i * 6 + 6));
}

/** Marks by CPU, then time; `at[old]` is a mark's new index. */
function sortMarks(marks: number[]): { marks: number[]; at: number[] } {
  const n = marks.length / 6;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => marks[a * 6] - marks[b * 6] || marks[a * 6 + 1] - marks[b * 6 + 1] || a - b);
  const at = new Array<number>(n);
  order.forEach((old, i) => {
    at[old] = i;
  });
  return { marks: order.flatMap((i) => marks.slice(i * 6, i * 6 + 6)), at };
}
