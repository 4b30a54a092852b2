/**
 * An emulator bug: an exception inside the machine that is not a guest
 * fault (guest faults stop the interpreter with StopReason.Fault and become
 * oopses). Both ways of running a machine turn one into the same crash
 * report, naming the CPU, what it was running and where, with the last
 * trace lines of that CPU; the run then ends and returns what it gathered.
 * The CLI exits with status 3 for it.
 *
 * @example
 * const crash = emulatorCrash(k, k.cpus[1], new TypeError('x is undefined'));
 * k.reports.push(crashReport(k, crash, { pid: 0, comm: 'parallel', ts: k.now() }));
 */

import { BPF_PSEUDO_KFUNC_CALL } from '../cpu/opcodes.ts';
import type { CpuState } from './cpu-state.ts';
import type { Kernel } from './kernel.ts';
import { symbolizePc } from './oops.ts';
import { HARDIRQ_MASK, SOFTIRQ_MASK } from './preempt-count.ts';
import type { Report } from './reports.ts';
import { ftraceLines } from './trace/ftrace-format.ts';

/** An exception inside the emulator, with where it happened. */
export interface EmulatorCrash {
  readonly cpu: number;
  /** What the CPU was running: `comm/pid`, and where. */
  readonly running: string;
  readonly message: string;
  readonly stack: string;
}

/** Trace lines of the crashed CPU quoted in the report. */
const TRACE_TAIL = 8;
/** Stack frames quoted in the report. */
const STACK_FRAMES = 4;

/** `comm/pid` of what `c` runs, with the place: pc in a program, or the context. */
export function describeRunning(k: Kernel, c: CpuState): string {
  const task = c.curr;
  const count = c.preemptCount;
  let where: string;
  if (count & HARDIRQ_MASK) where = ' in hardirq';
  else if (count & SOFTIRQ_MASK) where = ' in softirq';
  else if (task.body.kind === 'program') where = ` at ${pcOf(task.body.program, task.ctx!.pc)}`;
  else where = task.body.kind === 'native' ? ' (native code)' : ' (idle)';
  return `${task.comm}/${task.pid}${where}, ${k.steps} instructions into the run`;
}

/** A pc as `sym+0xoff/0xsize`, or the raw number when memory holds one outside the program. */
function pcOf(program: Parameters<typeof symbolizePc>[0], pc: number): string {
  return pc >= 0 && pc < program.length
    ? symbolizePc(program, pc)
    : `pc ${pc} (outside the program)`;
}

/** The crash record of exception `e` thrown while `c` ran. */
export function emulatorCrash(k: Kernel, c: CpuState, e: unknown): EmulatorCrash {
  const err = e instanceof Error ? e : new Error(String(e));
  let running: string;
  try {
    running = describeRunning(k, c);
  } catch {
    running = `CPU ${c.id}'s current task (unreadable)`;
  }
  return { cpu: c.id, running, message: err.message, stack: err.stack ?? '' };
}

/**
 * The report of `crash`: the BUG line, the top of the host stack, and the
 * last trace lines of the crashed CPU (when tracing is on and its ring reads).
 */
export function crashReport(
  k: Kernel,
  crash: EmulatorCrash,
  who: { readonly pid: number; readonly comm: string; readonly ts: number },
): Report {
  const lines = [
    `BUG: emulator exception on CPU#${crash.cpu} while running ${crash.running}: ${crash.message}`,
    'the machine was stopped; what the other CPUs did so far is kept',
  ];
  const frames = crash.stack
    .split('\n')
    .filter((l) => l.trimStart().startsWith('at '))
    .slice(0, STACK_FRAMES);
  for (const f of frames) lines.push(`  ${f.trim()}`);
  const tail = traceTail(k, crash.cpu);
  if (tail.length > 0) {
    lines.push(`last trace lines of CPU#${crash.cpu}:`);
    for (const l of tail) lines.push(`  ${l}`);
  }
  return { kind: 'warning', cpu: crash.cpu, ...who, lines };
}

function traceTail(k: Kernel, cpu: number): string[] {
  if (k.tracer === null || cpu < 0 || cpu >= k.nrCpus) return [];
  try {
    return k.tracer.read(cpu).slice(-TRACE_TAIL).flatMap(ftraceLines).slice(-TRACE_TAIL);
  } catch (e) {
    return [`(the trace ring is unreadable: ${e instanceof Error ? e.message : String(e)})`];
  }
}

/**
 * Which host code the machine was in when a run was stopped from outside
 * (host-time-limit.ts): the CPU that was executing, its task, and whether
 * a helper or kfunc the guest called, a native task's body or kernel code.
 */
export function describeHostCode(k: Kernel): string {
  const c = k.current;
  if (c === null) return 'the engine, between two CPUs';
  const task = c.curr;
  const ctx = c.cpu.current;
  if (ctx !== null) {
    const prog = ctx.program;
    const i = ctx.pc - 1;
    const table = prog.src[i] === BPF_PSEUDO_KFUNC_CALL ? k.kfuncs : k.helpers;
    const name = table.get(prog.imm[i])?.name ?? `${table.kind} ${prog.imm[i]}`;
    return `CPU#${c.id}: ${task.comm}/${task.pid}, in ${name} called at ${pcOf(prog, i)}`;
  }
  if (task.body.kind === 'native')
    return `CPU#${c.id}: the body of native task ${task.comm}/${task.pid}`;
  return `CPU#${c.id}: ${describeRunning(k, c)}, in kernel code (interrupts or the scheduler)`;
}
