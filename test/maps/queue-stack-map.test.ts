/**
 * QUEUE and STACK, following what the kernel's selftests check
 * (test_maps.c test_queuemap and test_stackmap: push until full, E2BIG,
 * BPF_EXIST replacing the oldest, pop order, peek, ENOENT when empty, EINVAL
 * for delete and get_next_key), the create-time checks of
 * queue_stack_map_alloc_check, the helpers 87-89 from guest programs, and
 * pushes and pops from programs on two CPUs under the deterministic engine.
 */

import { describe, expect, it } from 'vitest';
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_NO_PREALLOC,
  BPF_F_NUMA_NODE,
  BPF_F_RDONLY,
  BPF_F_RDONLY_PROG,
  BPF_NOEXIST,
} from '../../maps/bpf-uapi.ts';
import { bpfQueueStack, type QueueStackMap } from '../../maps/queue-stack-map.ts';
import { bpfMapCreate } from '../../maps/syscall.ts';
import { runDeterministic } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { random } from '../../preempt/strategies/random.ts';
import { KMALLOC_MAX_SIZE } from '../../segments/kmalloc.ts';
import { ofKind, run } from '../preempt/machine-fixtures.ts';
import { readU32, u32b } from './map-bytes.ts';

const booted = (cpus = 2) => new Machine({ cpus }).boot();
const NO_KEY = new Uint8Array(0);
const MAP_SIZE = 32;

/** MAP_SIZE + MAP_SIZE/2 distinct values, as the selftests' rand() fill. */
const vals = Array.from({ length: MAP_SIZE + MAP_SIZE / 2 }, (_, i) => (i * 2654435761) >>> 0);

describe('QUEUE (test_queuemap)', () => {
  it('refuses key_size 4, fills to max_entries, then E2BIG', () => {
    const m = booted();
    expect(() => bpfMapCreate(m, 'QUEUE', 'q', 4, 4, MAP_SIZE)).toThrow(/^EINVAL: key_size 4/);
    const q = bpfMapCreate(m, 'QUEUE', 'q', 0, 4, MAP_SIZE);
    for (let i = 0; i < MAP_SIZE; i++) q.updateElem(null, u32b(vals[i]), BPF_ANY);
    expect((q.map as QueueStackMap).count).toBe(MAP_SIZE);
    expect(() => q.updateElem(null, u32b(0), BPF_ANY)).toThrow(/^E2BIG: .* is full/);
  });

  it('peeks the oldest, BPF_EXIST replaces the oldest, pops FIFO, then ENOENT', () => {
    const m = booted();
    const q = bpfMapCreate(m, 'QUEUE', 'q', 0, 4, MAP_SIZE);
    for (let i = 0; i < MAP_SIZE; i++) q.updateElem(null, u32b(vals[i]));
    expect(readU32(q.lookupElem(null))).toBe(vals[0]);
    for (let i = MAP_SIZE; i < MAP_SIZE + MAP_SIZE / 2; i++) {
      q.updateElem(null, u32b(vals[i]), BPF_EXIST);
    }
    for (let i = MAP_SIZE / 2; i < MAP_SIZE + MAP_SIZE / 2; i++) {
      expect(readU32(q.lookupAndDeleteElem(null))).toBe(vals[i]);
    }
    expect(() => q.lookupAndDeleteElem(null)).toThrow(/^ENOENT: .* is empty/);
    expect(() => q.lookupElem(null)).toThrow(/^ENOENT/);
    expect((q.map as QueueStackMap).count).toBe(0);
  });

  it('delete and get_next_key are EINVAL', () => {
    const q = bpfMapCreate(booted(), 'QUEUE', 'q', 0, 4, MAP_SIZE);
    expect(() => q.deleteElem(NO_KEY)).toThrow(/^EINVAL/);
    expect(() => q.getNextKey(null)).toThrow(/^EINVAL/);
  });
});

describe('STACK (test_stackmap)', () => {
  it('refuses key_size 4, fills, E2BIG, peeks the newest, BPF_EXIST, pops LIFO, ENOENT', () => {
    const m = booted();
    expect(() => bpfMapCreate(m, 'STACK', 's', 4, 4, MAP_SIZE)).toThrow(/^EINVAL: key_size 4/);
    const s = bpfMapCreate(m, 'STACK', 's', 0, 4, MAP_SIZE);
    for (let i = 0; i < MAP_SIZE; i++) s.updateElem(null, u32b(vals[i]), BPF_ANY);
    expect(() => s.updateElem(null, u32b(0), BPF_ANY)).toThrow(/^E2BIG/);
    expect(readU32(s.lookupElem(null))).toBe(vals[MAP_SIZE - 1]);
    for (let i = MAP_SIZE; i < MAP_SIZE + MAP_SIZE / 2; i++) {
      s.updateElem(null, u32b(vals[i]), BPF_EXIST);
    }
    for (let i = MAP_SIZE + MAP_SIZE / 2 - 1; i >= MAP_SIZE / 2; i--) {
      expect(readU32(s.lookupAndDeleteElem(null))).toBe(vals[i]);
    }
    expect(() => s.lookupAndDeleteElem(null)).toThrow(/^ENOENT/);
    expect(() => s.deleteElem(NO_KEY)).toThrow(/^EINVAL/);
    expect(() => s.getNextKey(null)).toThrow(/^EINVAL/);
  });

  it('wraps its ring: pushes and pops around the end of the slots stay LIFO', () => {
    const s = bpfMapCreate(booted(), 'STACK', 's', 0, 4, 3);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3; i++) s.updateElem(null, u32b(10 * round + i));
      s.lookupAndDeleteElem(null);
      s.updateElem(null, u32b(99), BPF_EXIST);
      expect([0, 1, 2].map(() => readU32(s.lookupAndDeleteElem(null)))).toEqual([
        99,
        10 * round + 1,
        10 * round,
      ]);
    }
  });
});

describe('queue and stack attributes and flags', () => {
  it('checks its attributes at creation (queue_stack_map_alloc_check)', () => {
    const m = booted();
    for (const type of ['QUEUE', 'STACK'] as const) {
      expect(() => bpfMapCreate(m, type, 'x', 0, 0, 4)).toThrow(/^EINVAL: value_size is 0/);
      expect(() => bpfMapCreate(m, type, 'x', 0, 4, 0)).toThrow(/^EINVAL: max_entries is 0/);
      expect(() => bpfMapCreate(m, type, 'x', 0, 4, 4, { mapFlags: BPF_F_NO_PREALLOC })).toThrow(
        /^EINVAL: map_flags 0x1/,
      );
      expect(() => bpfMapCreate(m, type, 'x', 0, KMALLOC_MAX_SIZE + 1, 1)).toThrow(
        /^E2BIG: value_size 4194305/,
      );
      expect(() => bpfMapCreate(m, type, 'x', 0, 8, 4, { spinLockOff: 0 })).toThrow(/^EOPNOTSUPP/);
      expect(() => bpfMapCreate(m, type, 'x', 0, 1024, 1 << 20)).toThrow(/^ENOMEM/);
    }
    expect(() =>
      bpfMapCreate(m, 'QUEUE', 'ok', 0, 4, 4, { mapFlags: BPF_F_NUMA_NODE | BPF_F_RDONLY_PROG }),
    ).not.toThrow();
  });

  it('lays out struct bpf_queue_stack in memory with max_entries + 1 slots', () => {
    const m = booted();
    const q = bpfMapCreate(m, 'QUEUE', 'q', 0, 8, 5);
    const map = q.map as QueueStackMap;
    expect(m.memory.read32(map.addr + bpfQueueStack.field('size').offset)).toBe(6);
    expect(map.elements % 8).toBe(0);
    for (let i = 0; i < 5; i++) q.updateElem(null, new Uint8Array(8).fill(i + 1));
    // Five pushes filled slots 0..4; head is 5, the one slot left empty.
    expect(m.memory.read32(map.addr + bpfQueueStack.field('head').offset)).toBe(5);
    expect(m.memory.u8[map.elements + 4 * 8]).toBe(5);
  });

  it('push flags: NOEXIST and anything above EXIST are EINVAL, F_LOCK too', () => {
    const q = bpfMapCreate(booted(), 'QUEUE', 'q', 0, 4, 2);
    expect(() => q.updateElem(null, u32b(1), BPF_NOEXIST)).toThrow(/^EINVAL: push flags 0x1/);
    expect(() => q.updateElem(null, u32b(1), 3)).toThrow(/^EINVAL/);
    expect(() => q.updateElem(null, u32b(1), BPF_F_LOCK)).toThrow(/^EINVAL: BPF_F_LOCK/);
    expect(() => q.lookupAndDeleteElem(null, BPF_F_LOCK)).toThrow(/^EINVAL/);
    expect((q.map as QueueStackMap).count).toBe(0);
  });

  it('a read-only map refuses pushes and pops from userspace (EPERM), allows peeks', () => {
    const q = bpfMapCreate(booted(), 'QUEUE', 'q', 0, 4, 2, { mapFlags: BPF_F_RDONLY });
    expect(() => q.updateElem(null, u32b(1))).toThrow(/^EPERM/);
    expect(() => q.lookupAndDeleteElem(null)).toThrow(/^EPERM/);
    expect(() => q.lookupElem(null)).toThrow(/^ENOENT/);
  });

  it('takes its block from kmalloc when small, vmalloc when large (bpf_map_area_alloc), and close frees it', () => {
    const m = booted();
    const q = bpfMapCreate(m, 'QUEUE', 'q', 0, 4, 2);
    const addr = q.map.addr;
    expect(m.vmalloc.contains(addr)).toBe(false);
    q.close();
    expect(() => m.kheap.ksize(addr)).toThrow(/^EINVAL/);
    const big = bpfMapCreate(m, 'STACK', 'big', 0, 8, 10_000);
    expect(m.vmalloc.areaSize(big.map.addr)).toBe(20 * 4096); // 56 + 10001 * 8 bytes
    big.updateElem(null, new Uint8Array(8).fill(3));
    expect([...big.lookupAndDeleteElem(null)]).toEqual(new Array(8).fill(3));
    big.close();
    expect(m.vmalloc.areaSize(big.map.addr)).toBe(0);
  });
});

/** Spawns `source` pinned to `cpu`, runs the machine, returns the exit code. */
function exitOf(m: Kernel, source: string, cpu = 0): bigint {
  const t = m.spawn({ comm: 'prog', cpu, allowed: [cpu], program: m.assemble(source) });
  run(m);
  return t.exitCode;
}

/** `*(u32 *)(r10 - 4) = v; r2 = r10 - 4` */
const valueOnStack = (v: number) => `
  *(u32 *)(r10 - 4) = ${v}
  r2 = r10
  r2 += -4`;

describe('queue and stack from guest programs (helpers 87-89)', () => {
  it('push, peek and pop move values between the map and the program', () => {
    const m = booted();
    const q = bpfMapCreate(m, 'QUEUE', 'q', 0, 4, 4);
    q.updateElem(null, u32b(5));
    const code = exitOf(
      m,
      `r1 = q ll
      ${valueOnStack(7)}
      r3 = 0
      call bpf_map_push_elem
      if r0 != 0 goto bad
      r1 = q ll
      ${valueOnStack(0)}
      call bpf_map_peek_elem
      r6 = *(u32 *)(r10 - 4)
      r1 = q ll
      ${valueOnStack(0)}
      call bpf_map_pop_elem
      r7 = *(u32 *)(r10 - 4)
      r6 <<= 8
      r0 = r6
      r0 |= r7
      exit
    bad:
      exit`,
    );
    expect(code).toBe((5n << 8n) | 5n);
    expect(readU32(q.lookupAndDeleteElem(null))).toBe(7);
  });

  it('returns the kernel errnos: E2BIG when full, BPF_EXIST makes room, EINVAL flags, ENOENT with the value zeroed', () => {
    const m = booted();
    const s = bpfMapCreate(m, 'STACK', 's', 0, 4, 1);
    const push = (flags: number) =>
      exitOf(
        m,
        `r1 = s ll\n${valueOnStack(40 + flags)}\nr3 = ${flags}\ncall bpf_map_push_elem\nexit`,
      );
    expect(push(BPF_ANY)).toBe(0n);
    expect(push(BPF_ANY)).toBe(-7n);
    expect(push(BPF_EXIST)).toBe(0n);
    expect(push(BPF_NOEXIST)).toBe(-22n);
    expect(push(4)).toBe(-22n);
    expect(readU32(s.lookupElem(null))).toBe(42);
    const popTwice = `
      r1 = s ll
      ${valueOnStack(0)}
      call bpf_map_pop_elem
      r1 = s ll
      ${valueOnStack(0x5555)}
      call bpf_map_pop_elem
      if r0 != -2 goto bad
      r0 = *(u32 *)(r10 - 4)
      exit
    bad:
      r0 = 1000
      exit`;
    // The second pop finds it empty: -ENOENT, and the value buffer zeroed.
    expect(exitOf(m, popTwice)).toBe(0n);
  });

  it('lookup returns NULL, update and delete -EINVAL, as the queue_stack ops', () => {
    const m = booted();
    const q = bpfMapCreate(m, 'QUEUE', 'q', 0, 4, 2);
    q.updateElem(null, u32b(1));
    const code = exitOf(
      m,
      `r1 = q ll
      ${valueOnStack(0)}
      call bpf_map_lookup_elem
      r6 = r0
      r1 = q ll
      ${valueOnStack(0)}
      r3 = r2
      r4 = 0
      call bpf_map_update_elem
      r7 = r0
      r1 = q ll
      ${valueOnStack(0)}
      call bpf_map_delete_elem
      r0 += r7
      r0 += r6
      exit`,
    );
    expect(code).toBe(-44n);
    expect(ofKind(m, 'oops')).toEqual([]);
  });

  it('a program cannot push to a BPF_F_RDONLY_PROG queue (the task faults) but may peek', () => {
    const m = booted();
    const q = bpfMapCreate(m, 'QUEUE', 'ro', 0, 4, 2, { mapFlags: BPF_F_RDONLY_PROG });
    q.updateElem(null, u32b(3));
    expect(
      exitOf(
        m,
        `r1 = ro ll\n${valueOnStack(0)}\ncall bpf_map_peek_elem\nr0 = *(u32 *)(r10 - 4)\nexit`,
      ),
    ).toBe(3n);
    exitOf(m, `r1 = ro ll\n${valueOnStack(1)}\nr3 = 0\ncall bpf_map_push_elem\nexit`);
    expect(ofKind(m, 'oops')[0].lines[0]).toMatch(/EPERM: bpf_map_push_elem: .*read-only/);
  });
});

/**
 * A producer on `cpu` pushing `n` values `cpu << 16 | i`; on an error it
 * stops (exit code: the errno) or, with `retry`, pushes again.
 */
const producer = (map: string, cpu: number, n: number, retry = false) => `
  r7 = 0
loop:
  r1 = r7
  r1 += ${cpu << 16}
  *(u32 *)(r10 - 4) = r1
  r1 = ${map} ll
  r2 = r10
  r2 += -4
  r3 = 0
  call bpf_map_push_elem
  if r0 != 0 goto ${retry ? 'loop' : 'out'}
  r7 += 1
  if r7 < ${n} goto loop
  r0 = 0
out:
  exit`;

describe('queue and stack on two CPUs under the deterministic engine', () => {
  for (const seed of [1, 2, 3]) {
    it(`two producers' pushes all land, each CPU's in its order (random seed ${seed})`, () => {
      const m = booted(2);
      const q = bpfMapCreate(m, 'QUEUE', 'q', 0, 4, 64);
      const tasks = [0, 1].map((cpu) =>
        m.spawn({
          comm: `p${cpu}`,
          cpu,
          allowed: [cpu],
          program: m.assemble(producer('q', cpu, 30)),
        }),
      );
      expect(runDeterministic(m, random({ seed, maxQuantum: 7 })).finished).toBe(true);
      expect(tasks.map((t) => t.exitCode)).toEqual([0n, 0n]);
      const popped: number[] = [];
      for (let i = 0; i < 60; i++) popped.push(readU32(q.lookupAndDeleteElem(null)));
      expect(() => q.lookupAndDeleteElem(null)).toThrow(/^ENOENT/);
      for (const cpu of [0, 1]) {
        const mine = popped.filter((v) => v >>> 16 === cpu).map((v) => v & 0xffff);
        expect(mine).toEqual(Array.from({ length: 30 }, (_, i) => i));
      }
      // Interleaved: neither CPU's pushes all came first.
      expect(popped.slice(0, 30).some((v) => v >>> 16 === 1)).toBe(true);
    });
  }

  for (const seed of [4, 5, 6]) {
    it(`a consumer on CPU 1 pops in FIFO order what CPU 0 pushes (random seed ${seed})`, () => {
      const m = booted(2);
      bpfMapCreate(m, 'QUEUE', 'q', 0, 4, 4);
      const n = 40;
      const consumer = `
        r7 = 0
      loop:
        r1 = q ll
        r2 = r10
        r2 += -4
        call bpf_map_pop_elem
        if r0 != 0 goto loop
        r1 = *(u32 *)(r10 - 4)
        if r1 != r7 goto bad
        r7 += 1
        if r7 < ${n} goto loop
        r0 = 0
        exit
      bad:
        r0 = r1
        r0 += 1000
        exit`;
      const p = m.spawn({
        comm: 'prod',
        cpu: 0,
        allowed: [0],
        program: m.assemble(producer('q', 0, n, true)),
      });
      const c = m.spawn({ comm: 'cons', cpu: 1, allowed: [1], program: m.assemble(consumer) });
      expect(runDeterministic(m, random({ seed, maxQuantum: 20 })).finished).toBe(true);
      expect([p.exitCode, c.exitCode]).toEqual([0n, 0n]);
    });
  }

  it('a stack shared by two CPUs hands each pushed value to exactly one pop', () => {
    const m = booted(2);
    const s = bpfMapCreate(m, 'STACK', 's', 0, 4, 8);
    const popper = `
      r7 = 0
      r8 = 0
    loop:
      r1 = s ll
      r2 = r10
      r2 += -4
      call bpf_map_pop_elem
      if r0 != 0 goto skip
      r1 = *(u32 *)(r10 - 4)
      r8 += r1
      r7 += 1
    skip:
      if r7 < 10 goto loop
      r0 = r8
      exit`;
    for (let i = 1; i <= 8; i++) s.updateElem(null, u32b(i));
    const pushes = m.spawn({
      comm: 'push',
      cpu: 0,
      allowed: [0],
      program: m.assemble(producer('s', 0, 12, true)),
    });
    const a = m.spawn({ comm: 'popA', cpu: 0, allowed: [0], program: m.assemble(popper) });
    const b = m.spawn({ comm: 'popB', cpu: 1, allowed: [1], program: m.assemble(popper) });
    expect(runDeterministic(m, random({ seed: 9, maxQuantum: 5 })).finished).toBe(true);
    expect(pushes.exitCode).toBe(0n);
    // 8 preloaded (1..8) + 12 pushed (0..11) = 20 values, 20 pops: every value popped once.
    expect(a.exitCode + b.exitCode).toBe(36n + 66n);
    expect((s.map as QueueStackMap).count).toBe(0);
  });
});
