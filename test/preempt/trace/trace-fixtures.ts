/** Events of every type and a fast-check arbitrary of events, for the trace tests. */

import fc from 'fast-check';
import {
  NO_TRACE_FLAGS,
  SOFTIRQ_NAMES,
  type TaskStateLetter,
  type TraceEvent,
  type TraceEventBody,
  type TraceFlags,
  type TraceHeader,
} from '../../../preempt/trace/events.ts';
import { AddressMap } from '../../../segments/address-map.ts';
import { PhysicalMemory } from '../../../segments/memory.ts';

/** An event with a default header (CPU 0, pid 1 `init`, no flags) overridden by `header`. */
export function ev(body: TraceEventBody, header: Partial<TraceHeader> = {}): TraceEvent {
  return { ts: 0, cpu: 0, pid: 1, comm: 'init', flags: NO_TRACE_FLAGS, ...header, ...body };
}

export function flags(f: Partial<TraceFlags>): TraceFlags {
  return { ...NO_TRACE_FLAGS, ...f };
}

/** One event of each of the 14 types, on CPUs 0-3, in time order. */
export const ONE_OF_EACH: readonly TraceEvent[] = [
  ev(
    {
      type: 'sched_switch',
      prevComm: 'swapper/1',
      prevPid: 0,
      prevPrio: 120,
      prevState: 'R',
      nextComm: 'bash',
      nextPid: 1234,
      nextPrio: 120,
    },
    {
      ts: 1000,
      cpu: 1,
      pid: 0,
      comm: 'swapper/1',
      flags: flags({ irqsOff: true, preemptCount: 2 }),
    },
  ),
  ev(
    {
      type: 'sched_migrate_task',
      taskComm: 'worker',
      taskPid: 42,
      taskPrio: 120,
      origCpu: 2,
      destCpu: 3,
    },
    {
      ts: 2000,
      cpu: 2,
      pid: 7,
      comm: 'balancer',
      flags: flags({ irqsOff: true, preemptCount: 3 }),
    },
  ),
  ev(
    { type: 'sched_wakeup', taskComm: 'worker', taskPid: 42, taskPrio: 100, targetCpu: 3 },
    {
      ts: 3000,
      cpu: 0,
      pid: 5,
      comm: 'waker',
      flags: flags({ needResched: true, migrateDisable: 1 }),
    },
  ),
  ev(
    { type: 'sched_process_exit', taskComm: 'worker', taskPid: 42, taskPrio: 120 },
    { ts: 4000, cpu: 3, pid: 42, comm: 'worker' },
  ),
  ev(
    { type: 'irq_handler_entry', irq: 0, name: 'timer', pc: 5 },
    { ts: 5000, cpu: 0, flags: flags({ irqsOff: true, hardirq: true, preemptCount: 1 }) },
  ),
  ev(
    { type: 'irq_handler_exit', irq: 0, ret: 'handled' },
    { ts: 6000, cpu: 0, flags: flags({ irqsOff: true, hardirq: true, preemptCount: 1 }) },
  ),
  ev(
    { type: 'softirq_entry', vec: 1, name: 'TIMER' },
    { ts: 7000, cpu: 0, flags: flags({ softirq: true }) },
  ),
  ev(
    { type: 'softirq_exit', vec: 1, name: 'TIMER' },
    { ts: 8000, cpu: 0, flags: flags({ softirq: true }) },
  ),
  ev(
    { type: 'ipi_raise', targetCpus: [1, 3], reason: 'Rescheduling interrupts' },
    { ts: 9000, cpu: 0, flags: flags({ irqsOff: true, preemptCount: 1 }) },
  ),
  ev(
    {
      type: 'debug_preempt',
      text: 'BUG: using smp_processor_id() in preemptible [00000000] code: racer/3',
    },
    { ts: 10000, cpu: 1, pid: 3, comm: 'racer' },
  ),
  ev(
    { type: 'oops', text: 'BUG: unable to handle page fault for address: 0000000000000000' },
    { ts: 11000, cpu: 2, pid: 9, comm: 'faulty' },
  ),
  ev({ type: 'bpf_trace_printk', text: 'count=41' }, { ts: 12000, cpu: 3, pid: 4, comm: 'prog' }),
  ev({ type: 'print', text: 'scenario: start' }, { ts: 13000, cpu: 0 }),
  ev({ type: 'irq_handler_exit', irq: 11, ret: 'unhandled' }, { ts: 14000, cpu: 1 }),
];

/** A machine's memory and address map big enough for `nrCpus` rings of `bytesPerCpu`. */
export function machineMemory(
  nrCpus: number,
  bytesPerCpu: number,
): {
  memory: PhysicalMemory;
  map: AddressMap;
} {
  const size = Math.ceil((nrCpus * bytesPerCpu + 64 * 1024) / 4096) * 4096;
  const memory = new PhysicalMemory(size);
  return { memory, map: new AddressMap(memory.size) };
}

const commChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCZ0123456789/-:_<>. '.split(''));
const comm = fc.string({ unit: commChars, maxLength: 15 });
const text = fc.string({ unit: 'grapheme', maxLength: 80 });
const s32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const small = fc.nat(4096);
const state = fc.constantFrom<TaskStateLetter>('R', 'R+', 'S', 'D', 'T', 't', 'X', 'Z', 'P', 'I');

const arbFlags: fc.Arbitrary<TraceFlags> = fc.record({
  irqsOff: fc.boolean(),
  needResched: fc.boolean(),
  hardirq: fc.boolean(),
  softirq: fc.boolean(),
  preemptCount: fc.integer({ min: 0, max: 15 }),
  migrateDisable: fc.integer({ min: 0, max: 15 }),
});

const arbBody: fc.Arbitrary<TraceEventBody> = fc.oneof(
  fc.record({
    type: fc.constant('sched_switch' as const),
    prevComm: comm,
    prevPid: s32,
    prevPrio: s32,
    prevState: state,
    nextComm: comm,
    nextPid: s32,
    nextPrio: s32,
  }),
  fc.record({
    type: fc.constant('sched_migrate_task' as const),
    taskComm: comm,
    taskPid: small,
    taskPrio: small,
    origCpu: fc.nat(63),
    destCpu: fc.nat(63),
  }),
  fc.record({
    type: fc.constant('sched_wakeup' as const),
    taskComm: comm,
    taskPid: small,
    taskPrio: small,
    targetCpu: fc.nat(63),
  }),
  fc.record({
    type: fc.constant('sched_process_exit' as const),
    taskComm: comm,
    taskPid: s32,
    taskPrio: s32,
  }),
  fc.record({ type: fc.constant('irq_handler_entry' as const), irq: s32, name: text, pc: s32 }),
  fc.record({
    type: fc.constant('irq_handler_exit' as const),
    irq: s32,
    ret: fc.constantFrom('handled' as const, 'unhandled' as const),
  }),
  fc
    .record({
      type: fc.constantFrom('softirq_entry' as const, 'softirq_exit' as const),
      vec: fc.nat(SOFTIRQ_NAMES.length - 1),
    })
    .map((b) => ({ ...b, name: SOFTIRQ_NAMES[b.vec] })),
  fc.record({
    type: fc.constant('ipi_raise' as const),
    targetCpus: fc.uniqueArray(fc.nat(63), { maxLength: 8 }).map((a) => a.sort((x, y) => x - y)),
    reason: text,
  }),
  fc.record({
    type: fc.constantFrom(
      'debug_preempt' as const,
      'oops' as const,
      'bpf_trace_printk' as const,
      'print' as const,
    ),
    text,
  }),
);

/** Any valid event on one of `nrCpus` CPUs. */
export function arbEvent(nrCpus: number): fc.Arbitrary<TraceEvent> {
  return fc
    .tuple(
      fc.record({
        ts: fc.nat(1e12),
        cpu: fc.nat(nrCpus - 1),
        pid: fc.nat(1 << 22),
        comm,
        flags: arbFlags,
      }),
      arbBody,
    )
    .map(([h, b]) => ({ ...h, ...b }));
}
