import { describe, expect, it } from 'vitest';
import { traceFlags } from '../../../preempt/trace/events.ts';
import { MIN_TRACE_BYTES_PER_CPU } from '../../../preempt/trace/ring-buffer.ts';
import { Tracer } from '../../../preempt/trace/tracer.ts';
import { ev, machineMemory, ONE_OF_EACH } from './trace-fixtures.ts';

function tracer(nrCpus: number, bytesPerCpu = 64 * 1024, enabled = true) {
  const { memory, map } = machineMemory(nrCpus, bytesPerCpu);
  return { memory, map, tracer: new Tracer(memory, map, nrCpus, { bytesPerCpu, enabled }) };
}

describe('Tracer', () => {
  it('records events into its CPU rings in emit order and returns them merged by time', () => {
    const { tracer: t } = tracer(4);
    const reversed = [...ONE_OF_EACH].reverse();
    for (const e of reversed) t.emit(e);
    expect(t.events()).toEqual(ONE_OF_EACH);
    expect(t.read(3)).toEqual(reversed.filter((e) => e.cpu === 3));
  });

  it('records nothing while disabled, with the same memory layout as when enabled', () => {
    const off = tracer(2, 64 * 1024, false);
    const on = tracer(2, 64 * 1024, true);
    off.tracer.emit(ONE_OF_EACH[0]);
    expect(off.tracer.events()).toEqual([]);
    expect(off.map.regions()).toEqual(on.map.regions());
    off.tracer.enabled = true;
    off.tracer.emit(ONE_OF_EACH[0]);
    expect(off.tracer.events()).toEqual([ONE_OF_EACH[0]]);
  });

  it('defaults to 256 KiB per CPU', () => {
    const { memory, map } = machineMemory(2, 256 * 1024);
    const t = new Tracer(memory, map, 2);
    expect(t.rings.regions.map((r) => r.size)).toEqual([256 * 1024, 256 * 1024]);
    expect(t.enabled).toBe(true);
  });

  it('reports overwritten events as lost, and in the ftrace header and Chrome otherData', () => {
    const { tracer: t } = tracer(2, MIN_TRACE_BYTES_PER_CPU);
    for (let i = 0; i < 400; i++) t.emit(ev({ type: 'print', text: `m${i}` }, { ts: i, cpu: 1 }));
    const kept = t.read(1).length;
    expect(t.lost(1)).toBe(400 - kept);
    expect(t.lost(0)).toBe(0);
    expect(t.toFtrace()).toContain(`# entries-in-buffer/entries-written: ${kept}/400   #P:2\n`);
    expect(JSON.parse(t.toChromeJson()).otherData.lost_events).toEqual([0, 400 - kept]);
    t.clear();
    expect([t.events(), t.lost(1)]).toEqual([[], 0]);
  });

  it('prints the same bytes for the same events, twice and across machines', () => {
    const a = tracer(4).tracer;
    const b = tracer(4).tracer;
    for (const e of ONE_OF_EACH) {
      a.emit(e);
      b.emit(e);
    }
    expect(a.toFtrace()).toBe(a.toFtrace());
    expect(b.toFtrace()).toBe(a.toFtrace());
    expect(b.toChromeJson()).toBe(a.toChromeJson());
    expect(
      a
        .toFtrace()
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#')),
    ).toHaveLength(ONE_OF_EACH.length);
  });
});

describe('traceFlags', () => {
  it('maps preempt_count as tracing_gen_ctx does', () => {
    expect(
      traceFlags({
        preemptCount: 0x1_0001,
        irqsOff: true,
        needResched: false,
        migrationDisabled: 0,
      }),
    ).toEqual({
      irqsOff: true,
      needResched: false,
      hardirq: true,
      softirq: false,
      preemptCount: 1,
      migrateDisable: 0,
    });
    // local_bh_disable (SOFTIRQ_DISABLE_OFFSET) is not serving a softirq.
    expect(
      traceFlags({ preemptCount: 0x200, irqsOff: false, needResched: true, migrationDisabled: 2 }),
    ).toMatchObject({ softirq: false, preemptCount: 0, needResched: true, migrateDisable: 2 });
    expect(
      traceFlags({
        preemptCount: 0x1_0123,
        irqsOff: false,
        needResched: false,
        migrationDisabled: 40,
      }),
    ).toMatchObject({ hardirq: true, softirq: true, preemptCount: 15, migrateDisable: 15 });
    expect(() =>
      traceFlags({ preemptCount: -1, irqsOff: false, needResched: false, migrationDisabled: 0 }),
    ).toThrow('EINVAL: preempt_count -1 is not a non-negative integer');
  });
});
