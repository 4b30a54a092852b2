/**
 * Helpers the machine tests share: running a machine, stepping one CPU,
 * spin loops in guest assembly, and reading per-CPU values, reports and
 * trace events.
 */

import { runDeterministic } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import type { Report } from '../../preempt/reports.ts';
import { roundRobin } from '../../preempt/strategies/round-robin.ts';
import type { TraceEvent } from '../../preempt/trace/events.ts';

/** Runs the machine round-robin until its tasks finish. */
export const run = (m: Kernel, quantum = 10) => runDeterministic(m, roundRobin({ quantum }));

/** Runs CPU `cpu` one instruction at a time until `done()`; fails after `limit` steps. */
export function stepUntil(m: Kernel, cpu: number, done: () => boolean, limit = 100_000): void {
  for (let k = 0; k < limit; k++) {
    if (done()) return;
    m.runCpu(cpu, 1);
  }
  throw new Error(`condition not reached in ${limit} steps`);
}

/** Guest assembly looping `n` times on r6, under `label`. */
export const spin = (n: number, label = 'spin') => `
  r6 = 0
${label}:
  r6 += 1
  if r6 < ${n} goto ${label}`;

/** CPU `cpu`'s copy of the per-CPU u64 `name`. */
export const perCpu = (m: Kernel, name: string, cpu: number) =>
  m.memory.read64(m.areas.perCpuPtr(m.symbol(name), cpu));

export const ofKind = (m: Kernel, kind: Report['kind']) => m.reports.filter((r) => r.kind === kind);

export const eventsOn = (m: Kernel, cpu: number, type: TraceEvent['type']) =>
  m.tracer!.events().filter((e) => e.cpu === cpu && e.type === type);
