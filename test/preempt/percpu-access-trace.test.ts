import { describe, expect, it } from 'vitest';
import { runDeterministic } from '../../preempt/engine.ts';
import { Machine } from '../../preempt/machine.ts';
import { tracePercpuVariables } from '../../preempt/percpu-access-trace.ts';
import { roundRobin } from '../../preempt/strategies/round-robin.ts';
import { formatChromeJson } from '../../preempt/trace/chrome-format.ts';
import { NO_TRACE_FLAGS, parseTraceEventGroups } from '../../preempt/trace/events.ts';
import { u64 } from '../../segments/ctype.ts';

function boot() {
  const m = new Machine({ cpus: 2 });
  m.definePerCpu('hits', u64, 0n);
  m.definePerCpu('other', u64, 0n);
  return m.boot();
}

describe('percpu_access and preemptirq events', () => {
  it('traces loads, stores and this_cpu ops of the named variable, with the unit each touched', () => {
    const k = boot();
    k.tracer!.select(['sched', 'percpu', 'preemptirq']);
    tracePercpuVariables(k, ['hits']);
    const program = k.asm`
      r1 = hits ll
      r1 = this_cpu_ptr(r1)
      r2 = *(u64 *)(r1 + 0)
      *(u64 *)(r1 + 0) = r2
      r1 = other ll
      r1 = this_cpu_ptr(r1)
      *(u64 *)(r1 + 0) = r2
      call preempt_disable
      r1 = hits ll
      r2 = 1
      call this_cpu_add
      call preempt_enable
      r0 = 0
      exit`;
    k.spawn({ comm: 'w', cpu: 1, allowed: [1], program });
    runDeterministic(k, roundRobin());
    const events = k.tracer!.events();
    const accesses = events.filter((e) => e.type === 'percpu_access');
    expect(accesses.map((e) => [e.cpu, e.unit, e.access, e.pc, e.var])).toEqual([
      [1, 1, 'read', 3, 'hits'],
      [1, 1, 'write', 4, 'hits'],
      [1, 1, 'write', 13, 'hits'],
    ]);
    const pi = events.filter((e) => e.type === 'preempt_disable' || e.type === 'preempt_enable');
    expect(pi.map((e) => [e.type, 'callerPc' in e ? e.callerPc : -2])).toEqual([
      ['preempt_disable', 9],
      ['preempt_enable', 14],
    ]);
    expect(k.tracer!.toFtrace()).toContain('percpu_access: write hits+0 size=8 unit=cpu1 pc=4');
  });

  it('records neither group unless selected, and refuses unknown names', () => {
    const k = boot();
    tracePercpuVariables(k, ['hits']);
    k.spawn({
      comm: 'w',
      program: k.asm`r1 = hits ll\nr1 = this_cpu_ptr(r1)\nr2 = *(u64 *)(r1 + 0)\nr0 = 0\nexit`,
    });
    runDeterministic(k, roundRobin());
    expect(k.tracer!.events().some((e) => e.type === 'percpu_access')).toBe(false);
    expect(() => tracePercpuVariables(k, ['hits'])).toThrow(/EBUSY/);
    expect(() => tracePercpuVariables(boot(), ['nope'])).toThrow(
      /ENOENT: no per-CPU variable 'nope'/,
    );
    expect(() => parseTraceEventGroups('sched,bogus')).toThrow(
      /EINVAL: unknown trace event group 'bogus'/,
    );
  });
});

describe('the new events in Chrome JSON', () => {
  it('shows accesses and preemptirq events as instants and a migration as a flow between CPU tracks', () => {
    const header = { pid: 2, comm: 'w', flags: NO_TRACE_FLAGS };
    const json = JSON.parse(
      formatChromeJson(
        [
          { ...header, ts: 1000, cpu: 0, type: 'preempt_disable', callerPc: 4 },
          {
            ...header,
            ts: 2000,
            cpu: 0,
            type: 'percpu_access',
            var: 'hits',
            unit: 1,
            offset: 8,
            size: 8,
            access: 'write',
            pc: 9,
          },
          {
            ...header,
            ts: 3000,
            cpu: 0,
            type: 'sched_migrate_task',
            taskComm: 'w',
            taskPid: 2,
            taskPrio: 120,
            origCpu: 0,
            destCpu: 1,
          },
        ],
        { nrCpus: 2 },
      ),
    );
    const names = json.traceEvents.map(
      (e: { ph: string; name: string; tid: number }) => `${e.ph} ${e.name} ${e.tid}`,
    );
    expect(names).toContain('i preempt_disable 1');
    expect(names).toContain('i write hits+8 -> cpu1 1');
    expect(names).toContain('s migrate w-2 CPU 0 -> 1 1');
    expect(names).toContain('f migrate w-2 CPU 0 -> 1 2');
  });
});
