/**
 * RINGBUF, following what the kernel's ring buffer selftests check
 * (prog_tests/ringbuf.c and ringbuf_multi.c: reserve/submit/discard and
 * output from a program, bpf_ringbuf_query's figures, samples read back by
 * the consumer in order with their lengths, discarded samples skipped, a
 * full ring refusing reservations, wake-up flags), plus the record header in
 * memory, wrap-around, pending_pos, the create-time checks of
 * ringbuf_map_alloc, and producers on several CPUs under the deterministic
 * engine with a consumer task draining the ring as they go.
 */

import { describe, expect, it } from 'vitest';
import { BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_RDONLY } from '../../maps/bpf-uapi.ts';
import { ringBufferAvailData, ringBufferConsume } from '../../maps/ring-buffer.ts';
import {
  BPF_RB_AVAIL_DATA,
  BPF_RB_CONS_POS,
  BPF_RB_FORCE_WAKEUP,
  BPF_RB_NO_WAKEUP,
  BPF_RB_PROD_POS,
  BPF_RB_RING_SIZE,
  BPF_RINGBUF_BUSY_BIT,
  BPF_RINGBUF_DISCARD_BIT,
  RINGBUF_MAX_RECORD_SZ,
  type RingbufMap,
} from '../../maps/ringbuf-map.ts';
import { type BpfMapHandle, bpfMapCreate } from '../../maps/syscall.ts';
import { runDeterministic } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { pct } from '../../preempt/strategies/pct.ts';
import { random } from '../../preempt/strategies/random.ts';
import type { TaskBody } from '../../preempt/task.ts';
import { ofKind, run, stepUntil } from '../preempt/machine-fixtures.ts';
import { readU32, readU64 } from './map-bytes.ts';

const booted = (cpus = 2) => new Machine({ cpus }).boot();
const NO_KEY = new Uint8Array(0);

/** Spawns `source` pinned to `cpu`, runs the machine, returns the exit code. */
function exitOf(m: Kernel, source: string, cpu = 0): bigint {
  const t = m.spawn({ comm: 'prog', cpu, allowed: [cpu], program: m.assemble(source) });
  run(m);
  return t.exitCode;
}

/** Every sample the consumer reads now, copied. */
function drain(h: BpfMapHandle): Uint8Array[] {
  const out: Uint8Array[] = [];
  ringBufferConsume(h, (s) => {
    out.push(s.slice());
  });
  return out;
}

const ringOf = (h: BpfMapHandle) => h.map as RingbufMap;

/** Reserves `size` bytes into r6, jumping to `none` on NULL. */
const reserve = (map: string, size: number) => `
  r1 = ${map} ll
  r2 = ${size}
  r3 = 0
  call bpf_ringbuf_reserve
  if r0 == 0 goto none
  r6 = r0`;

describe('RINGBUF creation and the syscall side', () => {
  it('checks its attributes at creation (ringbuf_map_alloc)', () => {
    const m = booted();
    const bad = (k: number, v: number, n: number, mapFlags = 0) =>
      expect(() => bpfMapCreate(m, 'RINGBUF', 'rb', k, v, n, { mapFlags }));
    bad(4, 0, 4096).toThrow(/^EINVAL: key_size 4 and value_size 0/);
    bad(0, 8, 4096).toThrow(/^EINVAL: key_size 0 and value_size 8/);
    bad(0, 0, 0).toThrow(/^EINVAL: max_entries 0 is not a power of 2/);
    bad(0, 0, 3 * 4096).toThrow(/^EINVAL: max_entries 12288/);
    bad(0, 0, 2048).toThrow(/^EINVAL: max_entries 2048/);
    bad(0, 0, 4096, BPF_F_NO_PREALLOC).toThrow(/^EINVAL: map_flags 0x1/);
    bad(0, 0, 4096, BPF_F_RDONLY).toThrow(/^EINVAL: map_flags 0x8/);
    bad(0, 0, 8 << 20).toThrow(/^ENOMEM: no memory for a ring of 8388608 bytes/);
    expect(
      ringOf(bpfMapCreate(m, 'RINGBUF', 'ok', 0, 0, 8192, { mapFlags: BPF_F_NUMA_NODE })).dataSize,
    ).toBe(8192);
  });

  it('every map command from userspace is ENOTSUPP, as the ringbuf_map ops', () => {
    const h = bpfMapCreate(booted(), 'RINGBUF', 'rb', 0, 0, 4096);
    expect(() => h.lookupElem(null)).toThrow(/^ENOTSUPP: lookup/);
    expect(() => h.updateElem(null, NO_KEY)).toThrow(/^ENOTSUPP: update/);
    expect(() => h.deleteElem(NO_KEY)).toThrow(/^ENOTSUPP: delete/);
    expect(() => h.getNextKey(null)).toThrow(/^ENOTSUPP: get_next_key/);
    expect(() => h.lookupAndDeleteElem(null)).toThrow(/^ENOTSUPP: lookup_and_delete/);
  });

  it('lays out struct bpf_ringbuf in vmalloc pages: three meta pages, then the data twice', () => {
    const m = booted();
    const map = ringOf(bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096));
    expect(m.vmalloc.areaSize(map.rb)).toBe(5 * 4096);
    expect(map.rb % 4096).toBe(0);
    expect(map.data - map.rb).toBe(3 * 4096);
    expect(readU64(m.memory.u8, map.addr + 32)).toBe(map.rb); // bpf_ringbuf_map.rb
    expect([map.consumerPos, map.producerPos, map.pendingPos, map.wakeups]).toEqual([0, 0, 0, 0]);
  });

  it('the consumer refuses other map types (EINVAL) and closed fds (EBADF); close frees both blocks', () => {
    const m = booted();
    const arr = bpfMapCreate(m, 'ARRAY', 'a', 4, 8, 1);
    expect(() => ringBufferConsume(arr, () => 0)).toThrow(/^EINVAL: .* is not a ring buffer/);
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    const { addr, rb } = ringOf(h);
    h.close();
    expect(() => ringBufferConsume(h, () => 0)).toThrow(/^EBADF/);
    expect(() => m.kheap.ksize(addr)).toThrow(/^EINVAL/);
    expect(m.vmalloc.areaSize(rb)).toBe(0);
  });
});

describe('RINGBUF from guest programs (helpers 130-134)', () => {
  it('reserve returns a pointer the program fills with plain stores; submit publishes it with the kernel header', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    const code = exitOf(
      m,
      `${reserve('rb', 16)}
      r1 = 0x1122334455 ll
      *(u64 *)(r6 + 0) = r1
      r1 = 77
      *(u64 *)(r6 + 8) = r1
      r1 = r6
      r2 = 0
      call bpf_ringbuf_submit
      exit
    none:
      r0 = -1
      exit`,
    );
    expect(code).toBe(0n);
    const map = ringOf(h);
    // struct bpf_ringbuf_hdr: len 16, BUSY cleared; pg_off 3 (data starts three pages in).
    expect(m.memory.read32(map.data)).toBe(16);
    expect(m.memory.read32(map.data + 4)).toBe(3);
    expect(map.producerPos).toBe(24);
    expect(ringBufferAvailData(h)).toBe(24);
    const samples = drain(h);
    expect(samples.map((s) => s.length)).toEqual([16]);
    expect(readU64(samples[0], 0)).toBe(0x1122334455);
    expect(readU64(samples[0], 8)).toBe(77);
    expect(map.consumerPos).toBe(24);
    expect(drain(h)).toEqual([]);
  });

  it('a discarded sample is skipped; bpf_ringbuf_output copies from the stack', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    const code = exitOf(
      m,
      `${reserve('rb', 8)}
      r1 = r6
      r2 = 0
      call bpf_ringbuf_discard
      *(u32 *)(r10 - 16) = 0x04030201
      *(u32 *)(r10 - 12) = 0x08070605
      *(u32 *)(r10 - 8) = 0x0c0b0a09
      r1 = rb ll
      r2 = r10
      r2 += -16
      r3 = 12
      r4 = 0
      call bpf_ringbuf_output
      exit
    none:
      r0 = -1
      exit`,
    );
    expect(code).toBe(0n);
    const map = ringOf(h);
    expect(m.memory.read32(map.data)).toBe((8 | BPF_RINGBUF_DISCARD_BIT) >>> 0);
    expect(map.producerPos).toBe(16 + 24);
    const samples = drain(h);
    expect(samples.map((s) => [...s])).toEqual([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]]);
    expect(map.consumerPos).toBe(40);
  });

  it('bpf_ringbuf_query reports available data, ring size and both positions; 0 for other flags', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 8192);
    const query = (flags: number) =>
      exitOf(m, `r1 = rb ll\nr2 = ${flags}\ncall bpf_ringbuf_query\nexit`);
    const output = (n: number) =>
      exitOf(
        m,
        `r1 = rb ll\nr2 = r10\nr2 += -${n}\nr3 = ${n}\nr4 = 0\ncall bpf_ringbuf_output\nexit`,
      );
    expect(output(32)).toBe(0n);
    expect(output(8)).toBe(0n);
    expect(query(BPF_RB_AVAIL_DATA)).toBe(56n);
    expect(query(BPF_RB_RING_SIZE)).toBe(8192n);
    expect(query(BPF_RB_CONS_POS)).toBe(0n);
    expect(query(BPF_RB_PROD_POS)).toBe(56n);
    expect(query(4)).toBe(0n);
    expect(ringBufferConsume(h, () => 0, 1)).toBe(1);
    expect(query(BPF_RB_CONS_POS)).toBe(40n);
    expect(query(BPF_RB_AVAIL_DATA)).toBe(16n);
  });

  it('a full ring returns NULL from reserve and -EAGAIN from output; bad flags NULL and -EINVAL', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    const call = (body: string) => exitOf(m, `${body}\nexit`);
    const reserveOf = (size: number, flags = 0) =>
      call(
        `r1 = rb ll\nr2 = ${size}\nr3 = ${flags}\ncall bpf_ringbuf_reserve\nif r0 == 0 goto out\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = 1\nout:`,
      );
    const outputOf = (size: number, flags = 0) =>
      call(`r1 = rb ll\nr2 = r10\nr2 += -64\nr3 = ${size}\nr4 = ${flags}\ncall bpf_ringbuf_output`);
    expect(reserveOf(4096)).toBe(0n); // 4096 + 8 > the ring
    expect(reserveOf(RINGBUF_MAX_RECORD_SZ + 1)).toBe(0n);
    expect(reserveOf(8, 1)).toBe(0n); // any flag
    expect(outputOf(8, 4)).toBe(-22n);
    expect(outputOf(8, BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)).toBe(0n);
    expect(reserveOf(4000)).toBe(1n); // 16 + 4008 of 4096 used
    expect(reserveOf(64)).toBe(0n); // 4024 + 72 > 4095
    expect(outputOf(64)).toBe(-11n);
    expect(outputOf(56)).toBe(0n); // 4024 + 64 = 4088 fits
    expect(drain(h).map((s) => s.length)).toEqual([8, 4000, 56]);
    expect(reserveOf(64)).toBe(1n); // room again
  });

  it('a record that runs past the end of the ring is contiguous for the program and the consumer', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    const map = ringOf(h);
    for (let i = 0; i < 3; i++) {
      exitOf(m, `${reserve('rb', 1000)}\nr1 = r6\nr2 = 0\ncall bpf_ringbuf_submit\nnone:\nexit`);
    }
    expect(drain(h).length).toBe(3);
    expect(map.consumerPos).toBe(3024);
    // 2000 bytes from 3032: past the end at 4096, on to 1064 + 3032 - 4096 = 936 bytes of the start.
    const code = exitOf(
      m,
      `${reserve('rb', 2000)}
      r1 = r6
      r2 = 0
    fill:
      *(u64 *)(r1 + 0) = r2
      r1 += 8
      r2 += 1
      if r2 < 250 goto fill
      r1 = r6
      r2 = 0
      call bpf_ringbuf_submit
      r0 = 0
      exit
    none:
      r0 = -1
      exit`,
    );
    expect(code).toBe(0n);
    // The wrapped part is back at the start of data: sample offset 1064 is u64 #133.
    expect(Number(m.memory.read64(map.data))).toBe(133);
    const [sample] = drain(h);
    expect(sample.length).toBe(2000);
    expect(Array.from({ length: 250 }, (_, i) => readU64(sample, 8 * i))).toEqual(
      Array.from({ length: 250 }, (_, i) => i),
    );
    expect(map.consumerPos).toBe(3024 + 2008);
  });

  it('a BUSY record stops the consumer; records reserved after it wait for its commit', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    const map = ringOf(h);
    const slow = m.spawn({
      comm: 'slow',
      cpu: 0,
      allowed: [0],
      program: m.assemble(`${reserve('rb', 8)}
        r7 = 0
      spin:
        r7 += 1
        if r7 < 100 goto spin
        *(u64 *)(r6 + 0) = 0xa
        r1 = r6
        r2 = 0
        call bpf_ringbuf_submit
        r0 = 0
        exit
      none:
        r0 = -1
        exit`),
    });
    stepUntil(m, 0, () => map.producerPos > 0);
    const fast = m.spawn({
      comm: 'fast',
      cpu: 1,
      allowed: [1],
      program: m.assemble(`*(u64 *)(r10 - 8) = 0xb
        r1 = rb ll
        r2 = r10
        r2 += -8
        r3 = 8
        r4 = 0
        call bpf_ringbuf_output
        exit`),
    });
    stepUntil(m, 1, () => fast.exited);
    expect(fast.exitCode).toBe(0n);
    expect((m.memory.read32(map.data) & BPF_RINGBUF_BUSY_BIT) !== 0).toBe(true);
    expect(drain(h)).toEqual([]);
    expect(ringBufferAvailData(h)).toBe(32);
    run(m);
    expect(slow.exitCode).toBe(0n);
    expect(drain(h).map((s) => readU64(s))).toEqual([0xa, 0xb]);
  });

  it('pending_pos: a consumer that skips ahead cannot let producers overrun a record still being written', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    const map = ringOf(h);
    const holder = m.spawn({
      comm: 'holder',
      cpu: 0,
      allowed: [0],
      program: m.assemble(`${reserve('rb', 16)}
        r7 = 0
      spin:
        r7 += 1
        if r7 < 50 goto spin
        r1 = r6
        r2 = 0
        call bpf_ringbuf_submit
        r0 = 0
        exit
      none:
        r0 = -1
        exit`),
    });
    stepUntil(m, 0, () => map.producerPos > 0);
    map.consumerPos = 24; // userspace moves its consumer_pos past the busy record
    const big = `r1 = rb ll\nr2 = 4080\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto out\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_discard\nr0 = 1\nout:\nexit`;
    const t = m.spawn({ comm: 'big', cpu: 1, allowed: [1], program: m.assemble(big) });
    stepUntil(m, 1, () => t.exited);
    expect(t.exitCode).toBe(0n); // 4112 - pending_pos 0 > 4095
    expect(map.pendingPos).toBe(0);
    run(m);
    expect(holder.exitCode).toBe(0n);
    expect(exitOf(m, big, 1)).toBe(1n); // pending_pos moved past the committed record
    expect(map.pendingPos).toBe(24);
  });

  it('wakes the consumer as bpf_ringbuf_commit decides: at its position, FORCE always, NO_WAKEUP never', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    const map = ringOf(h);
    const submit = (flags: number) =>
      exitOf(
        m,
        `${reserve('rb', 8)}\nr1 = r6\nr2 = ${flags}\ncall bpf_ringbuf_submit\nr0 = 0\nexit\nnone:\nr0 = -1\nexit`,
      );
    submit(0);
    expect(map.wakeups).toBe(1); // the consumer waits at this record
    submit(0);
    expect(map.wakeups).toBe(1); // it has not consumed the first yet
    submit(BPF_RB_FORCE_WAKEUP);
    expect(map.wakeups).toBe(2);
    drain(h);
    submit(BPF_RB_NO_WAKEUP);
    expect(map.wakeups).toBe(2);
    drain(h);
    exitOf(m, `r1 = rb ll\nr2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall bpf_ringbuf_output\nexit`);
    expect(map.wakeups).toBe(3);
  });

  it('faults a task that submits what it did not reserve, submits twice, or reserves on another map', () => {
    const m = booted();
    bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    bpfMapCreate(m, 'ARRAY', 'arr', 4, 8, 1);
    exitOf(m, `r1 = r10\nr1 += -8\nr2 = 0\ncall bpf_ringbuf_submit\nexit`);
    exitOf(
      m,
      `${reserve('rb', 8)}\nr1 = r6\nr2 = 0\ncall bpf_ringbuf_submit\nr1 = r6\nr2 = 0\ncall bpf_ringbuf_discard\nexit\nnone:\nexit`,
    );
    exitOf(m, `r1 = arr ll\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nexit`);
    const oopses = ofKind(m, 'oops').map((r) => r.lines[0]);
    expect(oopses[0]).toMatch(
      /EINVAL: bpf_ringbuf_submit: 0x[0-9a-f]+ is not a ring buffer sample/,
    );
    expect(oopses[1]).toMatch(/EINVAL: bpf_ringbuf_discard: .* is not a reserved record/);
    expect(oopses[2]).toMatch(
      /EINVAL: bpf_ringbuf_reserve: BPF_MAP_TYPE_ARRAY 'arr' is not a ring buffer/,
    );
  });

  it('a negative callback return stops the consumer after that record and is returned', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
    for (let i = 0; i < 3; i++) {
      exitOf(
        m,
        `*(u64 *)(r10 - 8) = ${i}\nr1 = rb ll\nr2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall bpf_ringbuf_output\nexit`,
      );
    }
    const seen: number[] = [];
    const record = (s: Uint8Array) => {
      seen.push(readU64(s));
      return seen.length === 2 ? -5 : 0;
    };
    expect(ringBufferConsume(h, record)).toBe(-5);
    expect(ringOf(h).consumerPos).toBe(32);
    expect(ringBufferConsume(h, record)).toBe(1);
    expect(seen).toEqual([0, 1, 2]);
  });
});

/**
 * A producer pinned to `cpu`: `n` records of 40 bytes, each `{ u32 cpu, u32
 * seq, u64 tag[4] }` with every tag `cpu * 1000 + seq`, written in place;
 * every fourth discarded. It retries a reservation that finds no room.
 */
const producer = (cpu: number, n: number) => `
  r7 = 0
loop:
  r1 = rb ll
  r2 = 40
  r3 = 0
  call bpf_ringbuf_reserve
  if r0 == 0 goto loop
  r6 = r0
  *(u32 *)(r6 + 0) = ${cpu}
  *(u32 *)(r6 + 4) = r7
  r2 = r7
  r2 += ${cpu * 1000}
  *(u64 *)(r6 + 8) = r2
  *(u64 *)(r6 + 16) = r2
  *(u64 *)(r6 + 24) = r2
  *(u64 *)(r6 + 32) = r2
  r1 = r6
  r2 = 0
  r3 = r7
  r3 &= 3
  if r3 == 3 goto drop
  call bpf_ringbuf_submit
  goto next
drop:
  call bpf_ringbuf_discard
next:
  r7 += 1
  if r7 < ${n} goto loop
  r0 = 0
  exit`;

/** Checks what the consumer saw: per CPU the submitted sequence numbers, in order, intact. */
function checkRecords(samples: Uint8Array[], cpus: number, n: number): void {
  for (const s of samples) {
    expect(s.length).toBe(40);
    const tag = readU32(s, 0) * 1000 + readU32(s, 4);
    expect([8, 16, 24, 32].map((at) => readU64(s, at))).toEqual([tag, tag, tag, tag]);
  }
  const kept = Array.from({ length: n }, (_, i) => i).filter((i) => (i & 3) !== 3);
  for (let cpu = 0; cpu < cpus; cpu++) {
    expect(samples.filter((s) => readU32(s, 0) === cpu).map((s) => readU32(s, 4))).toEqual(kept);
  }
}

describe('RINGBUF with producers on several CPUs under the deterministic engine', () => {
  for (const seed of [1, 2, 3]) {
    it(`four producers and a consumer task draining a 4 KiB ring as it wraps (random seed ${seed})`, () => {
      const m = booted(5);
      const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 4096);
      const n = 40;
      const expected = 4 * n * 0.75;
      const samples: Uint8Array[] = [];
      const producers = [0, 1, 2, 3].map((cpu) =>
        m.spawn({ comm: `p${cpu}`, cpu, allowed: [cpu], program: m.assemble(producer(cpu, n)) }),
      );
      function* consumer(): TaskBody {
        while (samples.length < expected) {
          ringBufferConsume(h, (s) => {
            samples.push(s.slice());
          });
          yield;
        }
        return 0;
      }
      const c = m.spawn({ comm: 'consumer', cpu: 4, allowed: [4], body: consumer });
      expect(runDeterministic(m, random({ seed, maxQuantum: 30 })).finished).toBe(true);
      expect([...producers, c].map((t) => t.exitCode)).toEqual([0n, 0n, 0n, 0n, 0n]);
      checkRecords(samples, 4, n);
      expect(new Set(samples.slice(0, 20).map((s) => readU32(s, 0))).size).toBeGreaterThan(1);
      // Discarded records committed after the consumer's last pass are passed over now.
      expect(drain(h)).toEqual([]);
      const map = ringOf(h);
      // 160 records of 48 bytes went round the 4 KiB ring nearly twice.
      expect(map.producerPos).toBe(4 * n * 48);
      expect(map.consumerPos).toBe(map.producerPos);
    });
  }

  for (const seed of [7, 8]) {
    it(`records from four CPUs all arrive, each CPU's in order (pct seed ${seed})`, () => {
      const m = booted(4);
      const h = bpfMapCreate(m, 'RINGBUF', 'rb', 0, 0, 16384);
      const n = 30;
      const tasks = [0, 1, 2, 3].map((cpu) =>
        m.spawn({ comm: `p${cpu}`, cpu, allowed: [cpu], program: m.assemble(producer(cpu, n)) }),
      );
      expect(runDeterministic(m, pct({ seed, depth: 3, steps: 3000 })).finished).toBe(true);
      expect(tasks.map((t) => t.exitCode)).toEqual([0n, 0n, 0n, 0n]);
      const samples = drain(h);
      checkRecords(samples, 4, n);
      expect(ringBufferAvailData(h)).toBe(0);
    });
  }
});
