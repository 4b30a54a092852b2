import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TRACE_TEXT_MAX, type TraceEvent } from '../../../preempt/trace/events.ts';
import { MAX_RECORD_SIZE, traceEntry } from '../../../preempt/trace/record.ts';
import {
  MIN_TRACE_BYTES_PER_CPU,
  TRACE_RING_DATA_OFFSET,
  TraceRingBuffer,
} from '../../../preempt/trace/ring-buffer.ts';
import { ErrnoError } from '../../../segments/errno.ts';
import { arbEvent, ev, flags, machineMemory, ONE_OF_EACH } from './trace-fixtures.ts';

function rings(nrCpus: number, bytesPerCpu = 64 * 1024) {
  const { memory, map } = machineMemory(nrCpus, bytesPerCpu);
  return { memory, map, rings: TraceRingBuffer.reserve(memory, map, nrCpus, bytesPerCpu) };
}

const print = (i: number, cpu = 0, text = `event ${i}`): TraceEvent =>
  ev({ type: 'print', text }, { ts: i, cpu });

describe('TraceRingBuffer', () => {
  it('reserves one named region per CPU from the address map', () => {
    const { map, rings: r } = rings(3, 16 * 1024);
    expect(r.regions.map((x) => x.name)).toEqual([
      'trace ring cpu0',
      'trace ring cpu1',
      'trace ring cpu2',
    ]);
    expect(r.regions.every((x) => x.size === 16 * 1024)).toBe(true);
    expect(map.describe(r.regions[2].start + 100)).toBe('trace ring cpu2+100');
  });

  it('round-trips an event of every type through memory', () => {
    const { rings: r } = rings(4);
    for (const e of ONE_OF_EACH) r.emit(e);
    for (let cpu = 0; cpu < 4; cpu++) {
      expect(r.read(cpu)).toEqual(ONE_OF_EACH.filter((e) => e.cpu === cpu));
    }
    expect(r.merged()).toEqual(ONE_OF_EACH);
  });

  it('decodes from memory: changing the bytes changes what is read', () => {
    const { memory, rings: r } = rings(1);
    r.emit(ev({ type: 'print', text: 'hello' }, { comm: 'abc' }));
    const record = r.regions[0].start + TRACE_RING_DATA_OFFSET;
    memory.write8(record + traceEntry.field('comm').offset, 'x'.charCodeAt(0));
    expect(r.read(0)[0].comm).toBe('xbc');
  });

  it('is seen the same by a second handle attached to the same regions', () => {
    const { memory, rings: r } = rings(2);
    for (const e of ONE_OF_EACH.filter((e) => e.cpu < 2)) r.emit(e);
    const other = new TraceRingBuffer(memory, r.regions);
    expect(other.merged()).toEqual(r.merged());
    other.emit(print(99_000, 1));
    expect(r.read(1).at(-1)).toEqual(print(99_000, 1));
  });

  it('cuts a comm to 15 bytes on a character boundary and counts to 15, as the kernel records them', () => {
    const { rings: r } = rings(1);
    r.emit(
      ev(
        { type: 'print', text: 'x' },
        {
          comm: 'ééééééééé',
          flags: { ...ONE_OF_EACH[0].flags, preemptCount: 20, migrateDisable: 16 },
        },
      ),
    );
    const [e] = r.read(0);
    expect(e.comm).toBe('ééééééé');
    expect(e.flags.preemptCount).toBe(15);
    expect(e.flags.migrateDisable).toBe(15);
  });

  it('lays a record out as the design comment says, with the kernel field values', () => {
    const { memory, rings: r } = rings(1);
    r.emit(
      ev(
        {
          type: 'sched_switch',
          prevComm: 'a',
          prevPid: 7,
          prevPrio: 120,
          prevState: 'R+',
          nextComm: 'b',
          nextPid: 8,
          nextPrio: 100,
        },
        {
          ts: 2 ** 40 + 5,
          pid: 7,
          comm: 'a',
          flags: flags({ needResched: true, irqsOff: true, preemptCount: 3, migrateDisable: 2 }),
        },
      ),
    );
    const at = r.regions[0].start + TRACE_RING_DATA_OFFSET;
    expect(memory.read32(at)).toBe(40 + 56); // len: header + sched_switch payload
    expect(memory.read16(at + 4)).toBe(1); // type
    expect(memory.read8(at + 6)).toBe(0x01 | 0x04 | 0x20); // IRQS_OFF | NEED_RESCHED | PREEMPT_RESCHED
    expect(memory.read8(at + 7)).toBe(0x23); // migrate-disable 2, preempt depth 3
    expect(memory.read32(at + 8)).toBe(7); // pid
    expect(memory.read64(at + 16)).toBe(2n ** 40n + 5n); // ts
    expect(memory.read8(at + 24)).toBe('a'.charCodeAt(0)); // comm
    // sched_switch's fields at the kernel format file's offsets, less its 8-byte common header
    expect(memory.read32(at + 40 + 16)).toBe(7); // prev_pid
    expect(memory.read64(at + 40 + 24)).toBe(0x100n); // prev_state: TASK_REPORT_MAX
    expect(memory.read32(at + 40 + 52)).toBe(100); // next_prio
  });

  it('cuts a long ASCII comm to 15 characters and a text to TRACE_TEXT_MAX bytes', () => {
    const { rings: r } = rings(1);
    r.emit(
      ev(
        { type: 'bpf_trace_printk', text: 'z'.repeat(TRACE_TEXT_MAX + 10) },
        { comm: 'abcdefghijklmnopqrst' },
      ),
    );
    const [e] = r.read(0);
    expect(e.comm).toBe('abcdefghijklmno');
    expect(e.type === 'bpf_trace_printk' && e.text).toBe('z'.repeat(TRACE_TEXT_MAX));
  });

  it('refuses malformed events with the value that is wrong', () => {
    const { rings: r } = rings(2);
    expect(() => r.emit(print(0, 2))).toThrow('EINVAL: cpu 2 has no trace ring: 2 CPUs');
    expect(() => r.emit(print(-1))).toThrow('EINVAL: ts -1 is not an integer in');
    expect(() => r.emit(print(1.5))).toThrow(ErrnoError);
    expect(() => r.emit(ev({ type: 'softirq_entry', vec: 3, name: 'TIMER' }))).toThrow(
      "EINVAL: softirq_entry.name 'TIMER' is not softirq 3's name NET_RX",
    );
    expect(() => r.emit(ev({ type: 'ipi_raise', targetCpus: [2, 1], reason: 'x' }))).toThrow(
      'EINVAL: ipi_raise.targetCpus [2,1] is not strictly ascending',
    );
    expect(() =>
      r.emit(
        ev({
          type: 'sched_wakeup',
          taskComm: 'a',
          taskPid: 2 ** 31,
          taskPrio: 0,
          targetCpu: 0,
        }),
      ),
    ).toThrow('EINVAL: sched_wakeup.taskPid 2147483648 is not an integer');
    expect(r.read(0)).toEqual([]);
  });

  it('refuses rings too small for the largest record', () => {
    const { memory, map } = machineMemory(1, 64 * 1024);
    expect(() => TraceRingBuffer.reserve(memory, map, 1, 4096)).toThrow(
      `EINVAL: trace ring of 4096 bytes per CPU is below the minimum ${MIN_TRACE_BYTES_PER_CPU}`,
    );
    expect(MIN_TRACE_BYTES_PER_CPU - TRACE_RING_DATA_OFFSET).toBeGreaterThanOrEqual(
      MAX_RECORD_SIZE,
    );
  });

  it('overwrites the oldest records when full and counts them lost per CPU', () => {
    const { rings: r } = rings(2, MIN_TRACE_BYTES_PER_CPU);
    const n = 1000;
    for (let i = 0; i < n; i++) r.emit(print(i, 0));
    r.emit(print(5, 1));
    const kept = r.read(0);
    expect(kept.length).toBeGreaterThan(50);
    expect(kept.length).toBeLessThan(n);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => print(n - kept.length + k)));
    expect(r.lost(0)).toBe(n - kept.length);
    expect(r.entries(0)).toBe(kept.length);
    expect(r.written(0)).toBe(n);
    expect(r.lost(1)).toBe(0);
    expect(r.read(1)).toEqual([print(5, 1)]);
  });

  it('wraps records of mixed sizes with padding and keeps a suffix of what was written', () => {
    const { rings: r } = rings(1, MIN_TRACE_BYTES_PER_CPU);
    const events = Array.from({ length: 300 }, (_, i) => print(i, 0, 'x'.repeat((i * 37) % 900)));
    for (const e of events) r.emit(e);
    const kept = r.read(0);
    expect(kept).toEqual(events.slice(events.length - kept.length));
    expect(r.lost(0) + r.entries(0)).toBe(events.length);
  });

  it('takes a record of the largest size in an almost full ring', () => {
    const { rings: r } = rings(1, MIN_TRACE_BYTES_PER_CPU);
    for (let i = 0; i < 100; i++) r.emit(print(i));
    const big = print(100, 0, 'y'.repeat(4096));
    r.emit(big);
    expect(r.read(0).at(-1)).toEqual(big);
  });

  it('merges CPUs by timestamp, ties by CPU then ring order', () => {
    const { rings: r } = rings(3);
    const a = print(5, 2, 'a');
    const b = print(5, 0, 'b');
    const c = print(3, 1, 'c');
    const d = print(5, 0, 'd');
    const e = print(5, 1, 'e');
    for (const x of [a, b, c, d, e]) r.emit(x);
    expect(r.merged()).toEqual([c, b, d, e, a]);
  });

  it('clear empties every ring and zeroes the counters', () => {
    const { rings: r } = rings(2, MIN_TRACE_BYTES_PER_CPU);
    for (let i = 0; i < 500; i++) r.emit(print(i, i % 2));
    expect(r.lost(0)).toBeGreaterThan(0);
    r.clear();
    expect(r.merged()).toEqual([]);
    expect([r.lost(0), r.entries(0), r.written(0)]).toEqual([0, 0, 0]);
    r.emit(print(1));
    expect(r.read(0)).toEqual([print(1)]);
  });

  it('stops reading at a corrupt record length instead of reading past it', () => {
    const { memory, rings: r } = rings(1);
    r.emit(print(1));
    r.emit(print(2));
    const second =
      r.regions[0].start +
      TRACE_RING_DATA_OFFSET +
      memory.read32(r.regions[0].start + TRACE_RING_DATA_OFFSET);
    memory.write32(second, 12);
    expect(r.read(0)).toEqual([print(1)]);
  });

  it('a header filled with 0xff is reported and the ring reset by the next emit', () => {
    const { memory, rings: r } = rings(2);
    const told: string[] = [];
    r.onCorrupt = (cpu, message) => told.push(`${cpu}: ${message}`);
    r.emit(print(1));
    memory.fill(r.regions[0].start, 64 * 1024, 0xff);
    expect(r.read(0)).toEqual([]);
    r.emit(print(2));
    expect(r.read(0)).toEqual([print(2)]);
    expect(told).toEqual([
      `0: BUG: trace ring of CPU 0 at 0x${r.regions[0].start.toString(16)} is corrupted (header head 0xffffffff tail 0xffffffff used 0xffffffff entries 4294967295 for a data area of ${64 * 1024 - 64} bytes): the ring was reset`,
    ]);
  });

  it('a record overwritten with garbage is dropped by emit as corrupt, never read past', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer(), (at, word) => {
        const { memory, rings: r } = rings(1, MIN_TRACE_BYTES_PER_CPU);
        for (let i = 0; i < 200; i++) r.emit(print(i));
        memory.write32(r.regions[0].start + TRACE_RING_DATA_OFFSET + 4 * at, word);
        r.read(0);
        for (let i = 0; i < 200; i++) r.emit(print(i));
        expect(r.read(0).length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });

  it('property: random event sequences survive emit then read unchanged', () => {
    fc.assert(
      fc.property(fc.array(arbEvent(4), { maxLength: 60 }), (events) => {
        const { rings: r } = rings(4, 256 * 1024);
        for (const e of events) r.emit(e);
        for (let cpu = 0; cpu < 4; cpu++) {
          expect(r.read(cpu)).toEqual(events.filter((e) => e.cpu === cpu));
          expect(r.lost(cpu)).toBe(0);
        }
        const sorted = [...events].sort((x, y) => x.ts - y.ts || x.cpu - y.cpu);
        expect(r.merged()).toEqual(sorted);
      }),
      { numRuns: 100 },
    );
  });

  it('property: a small ring keeps the newest events, in order, and counts the rest lost', () => {
    fc.assert(
      fc.property(fc.array(arbEvent(1), { maxLength: 400 }), (events) => {
        const { rings: r } = rings(1, MIN_TRACE_BYTES_PER_CPU);
        for (const e of events) r.emit(e);
        const kept = r.read(0);
        expect(kept).toEqual(events.slice(events.length - kept.length));
        expect(r.lost(0)).toBe(events.length - kept.length);
        expect(r.written(0)).toBe(events.length);
      }),
      { numRuns: 50 },
    );
  });
});
