import { describe, expect, it } from 'vitest';
import {
  formatFtrace,
  ftraceHeader,
  ftraceLatencyFlags,
  ftraceLines,
  ftraceTimestamp,
} from '../../../preempt/trace/ftrace-format.ts';
import { ev, flags, ONE_OF_EACH } from './trace-fixtures.ts';

// Golden lines derived by hand from trace_print_context() ("%16s-%-7d [%03d] "),
// trace_print_lat_fmt(), trace_print_time() (" %5lu.%06lu") and each event's
// TP_printk in include/trace/events/{sched,irq,ipi}.h and kernel/trace/bpf_trace.h.
const GOLDEN = [
  '          <idle>-0       [001] d..2.     0.000001: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=bash next_pid=1234 next_prio=120',
  '        balancer-7       [002] d..3.     0.000002: sched_migrate_task: comm=worker pid=42 prio=120 orig_cpu=2 dest_cpu=3',
  '           waker-5       [000] .N..1     0.000003: sched_wakeup: comm=worker pid=42 prio=100 target_cpu=003',
  '          worker-42      [003] .....     0.000004: sched_process_exit: comm=worker pid=42 prio=120',
  '            init-1       [000] d.h1.     0.000005: irq_handler_entry: irq=0 name=timer pc=5',
  '            init-1       [000] d.h1.     0.000006: irq_handler_exit: irq=0 ret=handled',
  '            init-1       [000] ..s..     0.000007: softirq_entry: vec=1 [action=TIMER]',
  '            init-1       [000] ..s..     0.000008: softirq_exit: vec=1 [action=TIMER]',
  '            init-1       [000] d..1.     0.000009: ipi_raise: target_mask=00000000,0000000a (Rescheduling interrupts)',
  '           racer-3       [001] .....     0.000010: console: BUG: using smp_processor_id() in preemptible [00000000] code: racer/3',
  '          faulty-9       [002] .....     0.000011: console: BUG: unable to handle page fault for address: 0000000000000000',
  '            prog-4       [003] .....     0.000012: bpf_trace_printk: count=41',
  '            init-1       [000] .....     0.000013: tracing_mark_write: scenario: start',
  '            init-1       [001] .....     0.000014: irq_handler_exit: irq=11 ret=unhandled',
];

const HEADER = `# tracer: nop
#
# entries-in-buffer/entries-written: 2/5   #P:4
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
`;

describe('ftrace text', () => {
  it('prints every event type exactly as the kernel does', () => {
    expect(ONE_OF_EACH.map((e) => ftraceLines(e))).toEqual(GOLDEN.map((l) => [l]));
  });

  it('prints the sched_switch line of the design document', () => {
    const e = ev(
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
        ts: 1_234_567_890_123,
        cpu: 1,
        pid: 0,
        comm: 'swapper/1',
        flags: flags({ irqsOff: true, preemptCount: 2 }),
      },
    );
    expect(ftraceLines(e)).toEqual([
      '          <idle>-0       [001] d..2.  1234.567890: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=bash next_pid=1234 next_prio=120',
    ]);
  });

  it("prints a preempted task's prev_state as R+ and a sleeping one by its letter", () => {
    const sw = (prevState: 'R+' | 'S' | 'D' | 'Z') =>
      ftraceLines(
        ev({
          type: 'sched_switch',
          prevComm: 'a',
          prevPid: 2,
          prevPrio: 120,
          prevState,
          nextComm: 'b',
          nextPid: 3,
          nextPrio: 100,
        }),
      )[0].split('prev_state=')[1];
    expect(sw('R+')).toBe('R+ ==> next_comm=b next_pid=3 next_prio=100');
    expect(sw('S')).toMatch(/^S ==>/);
    expect(sw('D')).toMatch(/^D ==>/);
    expect(sw('Z')).toMatch(/^Z ==>/);
  });

  it('prints the latency columns as trace_print_lat_fmt does', () => {
    expect(ftraceLatencyFlags(flags({}))).toBe('.....');
    expect(
      ftraceLatencyFlags(flags({ irqsOff: true, needResched: true, hardirq: true, softirq: true })),
    ).toBe('dNH..');
    expect(ftraceLatencyFlags(flags({ softirq: true, preemptCount: 1 }))).toBe('..s1.');
    expect(ftraceLatencyFlags(flags({ preemptCount: 12, migrateDisable: 15 }))).toBe('...cf');
    expect(ftraceLatencyFlags(flags({ preemptCount: 40 }))).toBe('...f.');
  });

  it('rounds nanoseconds to microseconds and prints seconds in at least five columns', () => {
    expect(ftraceTimestamp(0)).toBe('    0.000000');
    expect(ftraceTimestamp(1_234_567_890_499)).toBe(' 1234.567890');
    expect(ftraceTimestamp(1_234_567_890_500)).toBe(' 1234.567891');
    expect(ftraceTimestamp(999_999_500)).toBe('    1.000000');
    expect(ftraceTimestamp(123_456_000_000_000)).toBe('123456.000000');
  });

  it('shows pid 0 as <idle> and an unknown comm as <...>', () => {
    const e = ev({ type: 'print', text: 'x' }, { pid: 0, comm: 'swapper/0' });
    expect(ftraceLines(e)[0].slice(0, 25)).toBe('          <idle>-0       ');
    expect(ftraceLines(ev({ type: 'print', text: 'x' }, { pid: 77, comm: '' }))[0]).toMatch(
      /^ {11}<\.\.\.>-77 {6}\[000\]/,
    );
  });

  it('prints a cpumask of the upper 32 CPUs in its own chunk', () => {
    const e = ev({
      type: 'ipi_raise',
      targetCpus: [0, 32, 63],
      reason: 'Function call interrupts',
    });
    expect(ftraceLines(e)[0]).toMatch(
      /ipi_raise: target_mask=80000001,00000001 \(Function call interrupts\)$/,
    );
  });

  it('gives each line of a multi-line text its own context, without a blank line for the last newline', () => {
    const e = ev(
      { type: 'oops', text: 'Oops: 0000 [#1] SMP\nCPU: 2 PID: 9 Comm: faulty\n' },
      { ts: 2_000_000 },
    );
    expect(ftraceLines(e)).toEqual([
      '            init-1       [000] .....     0.002000: console: Oops: 0000 [#1] SMP',
      '            init-1       [000] .....     0.002000: console: CPU: 2 PID: 9 Comm: faulty',
    ]);
  });

  it('starts the file with the nop tracer header and the entry counts', () => {
    expect(ftraceHeader(2, 5, 4)).toBe(HEADER);
  });

  it('formats a whole file: header, then one line per event, newline-terminated', () => {
    const text = formatFtrace(ONE_OF_EACH.slice(0, 2), { nrCpus: 4, written: 5 });
    expect(text).toBe(`${HEADER}${GOLDEN[0]}\n${GOLDEN[1]}\n`);
    expect(formatFtrace([], { nrCpus: 1 })).toContain(
      '# entries-in-buffer/entries-written: 0/0   #P:1\n',
    );
  });

  it('is deterministic: the same events give byte-identical text', () => {
    const a = formatFtrace(ONE_OF_EACH, { nrCpus: 4 });
    const b = formatFtrace(
      ONE_OF_EACH.map((e) => structuredClone(e)),
      { nrCpus: 4 },
    );
    expect(b).toBe(a);
  });
});
