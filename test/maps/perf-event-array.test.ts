/**
 * PERF_EVENT_ARRAY, bpf_perf_event_output and the perf buffer reader,
 * following the kernel's prog_tests/perf_buffer.c (a program on each CPU
 * outputs its CPU number with BPF_F_CURRENT_CPU; the reader sees one
 * sample per CPU, in that CPU's ring), plus the helper's errnos in
 * __bpf_perf_event_output's order, the records and the
 * perf_event_mmap_page in memory, wrap-around, a full ring losing samples
 * reported by PERF_RECORD_LOST and counted exactly (samples + lost =
 * produced) under the deterministic engine and in parallel mode, and the
 * create and update errnos of the fd array.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY_PROG } from '../../maps/bpf-uapi.ts';
import { PerfBuffer } from '../../maps/perf-buffer.ts';
import { bpfMapCreate } from '../../maps/syscall.ts';
import { runDeterministic } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { bootRecipe, Machine } from '../../preempt/machine.ts';
import { ParallelRunner } from '../../preempt/parallel/runner.ts';
import {
  PERF_COUNT_SW_CPU_CLOCK,
  PERF_RECORD_LOST,
  PERF_RECORD_MISC_KERNEL,
  PERF_RECORD_SAMPLE,
  perfEventMmapPage,
} from '../../preempt/perf-event.ts';
import { pct } from '../../preempt/strategies/pct.ts';
import { random } from '../../preempt/strategies/random.ts';
import { perCpuValues } from '../../scenarios/scenario.ts';
import { ERRNO } from '../../segments/errno.ts';
import { PAGE_SIZE } from '../../segments/memory.ts';
import { ofKind, run } from '../preempt/machine-fixtures.ts';
import { u32b } from './map-bytes.ts';
import { PRODUCED, perfProducers } from './perf-recipes.ts';

const booted = (cpus = 2) => new Machine({ cpus, maxTasks: 400 }).boot();
const PAGE = perfEventMmapPage.off;

/** A program that outputs `size` bytes (u64 `value` first) with `flags`; exits with r0. */
const output = (map: string, flags: string, size = 8, value = '0') => `
  r6 = r1
  r7 = ${value} ll
  *(u64 *)(r10 - 24) = r7
  *(u64 *)(r10 - 16) = 0
  *(u64 *)(r10 - 8) = 0
  r1 = r6
  r2 = ${map} ll
  r3 = ${flags} ll
  r4 = r10
  r4 += -24
  r5 = ${size}
  call bpf_perf_event_output
  exit`;

/** Runs `source` pinned to `cpu`; returns r0 as a signed number. */
function r0Of(k: Kernel, source: string, cpu = 0): number {
  const t = k.spawn({ comm: 'out', cpu, allowed: [cpu], program: k.assemble(source) });
  run(k);
  return Number(BigInt.asIntN(64, t.exitCode));
}

describe('bpf_perf_event_output and the perf buffer (prog_tests/perf_buffer.c)', () => {
  it('each CPU outputs into its own ring with BPF_F_CURRENT_CPU; the reader sees one sample per CPU', () => {
    const k = booted(4);
    const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'perf_buf_map', 4, 4, k.nrCpus);
    const seen: [number, number][] = [];
    const pb = PerfBuffer.open(events, 1, {
      sample: (cpu, data, size) => {
        expect(size).toBe(4); // round_up(4 + 4, 8) - 4
        seen.push([cpu, new DataView(data.buffer, data.byteOffset).getInt32(0, true)]);
      },
    });
    expect(pb.bufferCnt).toBe(4);
    for (let cpu = 0; cpu < 4; cpu++) {
      const prog = `
        call bpf_get_smp_processor_id
        *(u32 *)(r10 - 8) = r0
        r1 = 0
        r2 = perf_buf_map ll
        r3 = 0xffffffff ll
        r4 = r10
        r4 += -8
        r5 = 4
        call bpf_perf_event_output
        exit`;
      expect(r0Of(k, prog, cpu)).toBe(0);
    }
    expect(pb.poll(100)).toBe(4);
    expect(seen).toEqual([0, 1, 2, 3].map((cpu) => [cpu, cpu]));
    expect(pb.poll()).toBe(0);
    pb.free();
    expect(() => events.lookupElem(u32b(0))).toThrow(/^ENOTSUPP/);
    expect(k.perfEvents.fds()).toEqual([]);
  });

  it('lays out the record and the mmap page as the kernel: header, padded raw size, data_head', () => {
    const k = booted(1);
    const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'events', 4, 4, 1);
    const pb = PerfBuffer.open(events, 2);
    const page = pb.event(0).userPage;
    const mem = k.memory;
    expect(page % PAGE_SIZE).toBe(0);
    expect(mem.read64(page + PAGE.data_offset)).toBe(BigInt(PAGE_SIZE));
    expect(mem.read64(page + PAGE.data_size)).toBe(BigInt(2 * PAGE_SIZE));
    expect(PAGE.data_head).toBe(1024);
    expect(PAGE.data_tail).toBe(1032);
    // 5 bytes: size = round_up(5 + 4, 8) - 4 = 12, record 8 + 4 + 12 = 24.
    expect(r0Of(k, output('events', '0', 5, '0x6f6c6c6568'))).toBe(0);
    const rec = mem.readBytes(page + PAGE_SIZE, 24);
    const v = new DataView(rec.buffer);
    expect([v.getUint32(0, true), v.getUint16(4, true), v.getUint16(6, true)]).toEqual([
      PERF_RECORD_SAMPLE,
      PERF_RECORD_MISC_KERNEL,
      24,
    ]);
    expect(v.getUint32(8, true)).toBe(12);
    expect(new TextDecoder().decode(rec.subarray(12, 17))).toBe('hello');
    expect(mem.read64(page + PAGE.data_head)).toBe(24n);
    expect(mem.read64(page + PAGE.data_tail)).toBe(0n);
    pb.consume();
    expect(mem.read64(page + PAGE.data_tail)).toBe(24n);
  });

  it('returns the kernel errnos in order: EINVAL, E2BIG, ENOENT, EINVAL, EOPNOTSUPP, ENOSPC', () => {
    const k = booted(2);
    const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'events', 4, 4, 4);
    // Flags beyond BPF_F_INDEX_MASK.
    expect(r0Of(k, output('events', '0x100000000'))).toBe(-ERRNO.EINVAL);
    // An index past max_entries, explicit or this CPU's.
    expect(r0Of(k, output('events', '4'))).toBe(-ERRNO.E2BIG);
    // An empty slot.
    expect(r0Of(k, output('events', '0'))).toBe(-ERRNO.ENOENT);
    // An event that is not PERF_COUNT_SW_BPF_OUTPUT.
    const clock = k.perfEvents.open({ cpu: 0, config: PERF_COUNT_SW_CPU_CLOCK });
    events.updateElem(u32b(0), u32b(clock.fd));
    expect(r0Of(k, output('events', '0'))).toBe(-ERRNO.EINVAL);
    // Another CPU's event, and a disabled one.
    const ev1 = k.perfEvents.open({ cpu: 1 });
    events.updateElem(u32b(1), u32b(ev1.fd));
    expect(r0Of(k, output('events', '1'), 0)).toBe(-ERRNO.EOPNOTSUPP);
    ev1.disable();
    expect(r0Of(k, output('events', '1'), 1)).toBe(-ERRNO.EOPNOTSUPP);
    ev1.enable();
    // The right CPU, but no ring mmap'ed: no room, and nothing counted lost.
    expect(r0Of(k, output('events', '1'), 1)).toBe(-ERRNO.ENOSPC);
    expect(ev1.lostSamples).toBe(0);
    ev1.mmap(1);
    expect(r0Of(k, output('events', '1'), 1)).toBe(0);
  });

  it('a full ring loses samples; the next one that fits is preceded by PERF_RECORD_LOST with the count', () => {
    const k = booted(1);
    const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'events', 4, 4, 1);
    const records: string[] = [];
    const pb = PerfBuffer.open(events, 1, {
      sample: (_cpu, data) =>
        records.push(`s${new DataView(data.buffer, data.byteOffset).getUint32(0, true)}`),
      lost: (_cpu, n) => records.push(`lost ${n}`),
    });
    const ev = pb.event(0);
    // 24-byte records: CIRC_SPACE leaves room for 170 (4095 bytes), then 5 are lost.
    const results = Array.from({ length: 175 }, (_, i) =>
      r0Of(k, output('events', '0', 8, `${i}`)),
    );
    expect(results.filter((r) => r === 0)).toHaveLength(170);
    expect(results.slice(170)).toEqual(Array(5).fill(-ERRNO.ENOSPC));
    expect([ev.lostSamples, ev.pendingLost]).toEqual([5, 5]);
    pb.consume();
    expect(records).toHaveLength(170);
    expect(r0Of(k, output('events', '0', 8, '999'))).toBe(0);
    expect(ev.pendingLost).toBe(0);
    const page = ev.userPage;
    const lostRec = new DataView(
      k.memory.readBytes(page + PAGE_SIZE + ((170 * 24) % 4096), 24).buffer,
    );
    expect([lostRec.getUint32(0, true), lostRec.getUint16(6, true)]).toEqual([
      PERF_RECORD_LOST,
      24,
    ]);
    expect(lostRec.getBigUint64(8, true)).toBe(BigInt(ev.id));
    pb.consume();
    expect(records.slice(170)).toEqual(['lost 5', 's999']);
  });

  it('records that wrap around the end of the ring are read back whole', () => {
    const k = booted(1);
    const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'events', 4, 4, 1);
    const got: number[] = [];
    const pb = PerfBuffer.open(events, 1, {
      sample: (_cpu, data, size) => {
        expect(size).toBe(20);
        const v = new DataView(data.buffer, data.byteOffset);
        expect(v.getUint32(8, true)).toBe(0);
        got.push(v.getUint32(0, true));
      },
    });
    // 16 bytes of data: 32-byte records; 4096 / 32 is whole, so use 20 bytes: 40-byte records.
    for (let i = 0; i < 300; i++) {
      expect(r0Of(k, output('events', '0', 16, `${i}`))).toBe(0);
      if (i % 50 === 49) pb.consume();
    }
    pb.consume();
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('a stray store that breaks a record header stops the read with EUCLEAN, keeping the tail', () => {
    const k = booted(1);
    const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'events', 4, 4, 1);
    const pb = PerfBuffer.open(events, 1);
    expect(r0Of(k, output('events', '0'))).toBe(0);
    const page = pb.event(0).userPage;
    k.memory.write16(page + PAGE_SIZE + 6, 0);
    expect(() => pb.consume()).toThrow(
      /^EUCLEAN: perf buffer of CPU 0: record at position 0 has size 0/,
    );
    expect(k.memory.read64(page + PAGE.data_tail)).toBe(0n);
  });

  it('bpf_perf_event_output on a map that is not a perf event array faults', () => {
    const k = booted(1);
    bpfMapCreate(k, 'ARRAY', 'arr', 4, 8, 1);
    r0Of(k, output('arr', '0'));
    expect(ofKind(k, 'oops')[0].lines.join('\n')).toMatch(
      /bpf_perf_event_output: BPF_MAP_TYPE_ARRAY 'arr' is not a perf event array/,
    );
  });
});

describe('PERF_EVENT_ARRAY from userspace (fd_array_map ops)', () => {
  it('creation: value_size 4, no *_PROG flags; BPF_F_PRESERVE_ELEMS is this type only', () => {
    const k = booted();
    expect(() => bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'e', 4, 8, 2)).toThrow(
      /^EINVAL: value_size 8/,
    );
    expect(() =>
      bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'e', 4, 4, 2, { mapFlags: BPF_F_RDONLY_PROG }),
    ).toThrow(/^EINVAL/);
    bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'e', 4, 4, 2, { mapFlags: BPF_F_PRESERVE_ELEMS });
    expect(() =>
      bpfMapCreate(k, 'ARRAY', 'a', 4, 4, 2, { mapFlags: BPF_F_PRESERVE_ELEMS }),
    ).toThrow(/^EINVAL/);
  });

  it('update takes a perf event fd with BPF_ANY only; delete empties; lookup is ENOTSUPP', () => {
    const k = booted();
    const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'events', 4, 4, 2);
    const ev = k.perfEvents.open({ cpu: 0 });
    expect(ev.fd).toBe(200);
    expect(() => events.updateElem(u32b(0), u32b(ev.fd), 1)).toThrow(/^EINVAL: flags 0x1/);
    expect(() => events.updateElem(u32b(2), u32b(ev.fd))).toThrow(/^E2BIG/);
    expect(() => events.updateElem(u32b(0), u32b(3))).toThrow(/^EBADF: fd 3 is not a perf event/);
    events.updateElem(u32b(0), u32b(ev.fd));
    expect(() => events.lookupElem(u32b(0))).toThrow(/^ENOTSUPP/);
    events.deleteElem(u32b(0));
    expect(() => events.deleteElem(u32b(0))).toThrow(/^ENOENT: slot 0/);
    expect(() => PerfBuffer.open(events, 3)).toThrow(
      /^EINVAL: page count 3 should be a power of two/,
    );
    const arr = bpfMapCreate(k, 'ARRAY', 'arr', 4, 4, 2);
    expect(() => PerfBuffer.open(arr, 1)).toThrow(/is not BPF_MAP_TYPE_PERF_EVENT_ARRAY/);
    expect(() => k.perfEvents.open({ cpu: 2 })).toThrow(/^EINVAL: cpu 2 is not one of the 2 CPUs/);
  });
});

/** samples + lost reported + lost not yet reported = produced, and each matches what the helper returned. */
function expectExactCounts(k: Kernel): void {
  const produced = PRODUCED * k.nrCpus;
  const samples = Number(k.memory.read64(k.symbol('samples')));
  const lost = Number(k.memory.read64(k.symbol('lost')));
  const pending = k.perfEvents.fds().reduce((n, fd) => n + k.perfEvents.get(fd).pendingLost, 0);
  const oks = perCpuValues(k, 'oks').reduce((a, b) => a + b, 0n);
  const fails = perCpuValues(k, 'fails').reduce((a, b) => a + b, 0n);
  expect(samples + lost + pending).toBe(produced);
  expect(Number(oks)).toBe(samples);
  expect(Number(fails)).toBe(lost + pending);
}

describe('a reader draining per-CPU rings while every CPU produces', () => {
  it('counts exactly under the deterministic engine, with samples lost (random and PCT)', () => {
    for (const strategy of [random({ seed: 3 }), pct({ seed: 1 })]) {
      const k = bootRecipe(perfProducers);
      runDeterministic(k, strategy);
      expect(k.finished).toBe(true);
      expectExactCounts(k);
      expect(Number(k.memory.read64(k.symbol('lost')))).toBeGreaterThan(0);
    }
  });

  const runner = new ParallelRunner();
  afterAll(async () => {
    await runner.close();
  });

  it('counts exactly in parallel mode, one worker per CPU over the shared rings', async () => {
    const r = await runner.run(
      { module: new URL('./perf-recipes.ts', import.meta.url).href, exportName: 'perfProducers' },
      { maxSteps: Number.MAX_SAFE_INTEGER },
    );
    expect(r.end).toBe('finished');
    expect(r.crash).toBeUndefined();
    expectExactCounts(r.machine);
  });
});
