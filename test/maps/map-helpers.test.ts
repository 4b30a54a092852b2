/**
 * The map helpers from guest programs: lookups that return real addresses
 * (this CPU's copy for per-CPU maps), updates and their errnos in r0,
 * bpf_map_lookup_percpu_elem, bpf_for_each_map_elem with a guest callback,
 * `map[i] + off` map values, and faults for what the verifier would refuse.
 */

import { describe, expect, it } from 'vitest';
import { BPF_F_RDONLY_PROG } from '../../maps/bpf-uapi.ts';
import { bpfMapCreate } from '../../maps/syscall.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { ofKind, run } from '../preempt/machine-fixtures.ts';
import { perCpuU64s, percpuU64, readU64, u32b, u64b } from './map-bytes.ts';

const booted = (cpus = 2) => new Machine({ cpus }).boot();

/** Spawns `source` on `cpu`, runs the machine, returns the task's exit code. */
function exitOf(m: Kernel, source: string, cpu = 0): bigint {
  const t = m.spawn({ comm: 'prog', cpu, allowed: [cpu], program: m.assemble(source) });
  run(m);
  return t.exitCode;
}

/** `*(u32 *)(r10 - 4) = key; r2 = r10 - 4` */
const keyOnStack = (key: number) => `
  *(u32 *)(r10 - 4) = ${key}
  r2 = r10
  r2 += -4`;

describe('map helpers', () => {
  it('bpf_map_lookup_elem on an ARRAY returns the value address; the program writes in place', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'ARRAY', 'counts', 4, 8, 4);
    const code = exitOf(
      m,
      `r1 = counts ll
      ${keyOnStack(2)}
      call bpf_map_lookup_elem
      if r0 == 0 goto miss
      r1 = 41
      *(u64 *)(r0 + 0) = r1
      r1 = 1
      lock *(u64 *)(r0 + 0) += r1
      r1 = counts ll
      ${keyOnStack(9)}
      call bpf_map_lookup_elem
      exit
    miss:
      r0 = -1
      exit`,
    );
    expect(code).toBe(0n); // index 9 is out of range: NULL
    expect(readU64(h.lookupElem(u32b(2)))).toBe(42);
  });

  it('a PERCPU_ARRAY lookup returns this CPU’s copy, lookup_percpu_elem any CPU’s', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'PERCPU_ARRAY', 'pc', 4, 8, 1);
    h.updateElem(
      u32b(0),
      percpuU64(2, (cpu) => 10 * (cpu + 1)),
    );
    const prog = `
      r1 = pc ll
      ${keyOnStack(0)}
      call bpf_map_lookup_elem
      r1 = *(u64 *)(r0 + 0)
      r1 += 1
      *(u64 *)(r0 + 0) = r1
      r1 = pc ll
      r2 = r10
      r2 += -4
      r3 = 1
      call bpf_map_lookup_percpu_elem
      r6 = *(u64 *)(r0 + 0)
      r1 = pc ll
      r2 = r10
      r2 += -4
      r3 = 2
      call bpf_map_lookup_percpu_elem
      if r0 != 0 goto bad
      r0 = r6
      exit
    bad:
      r0 = -1
      exit`;
    expect(exitOf(m, prog, 0)).toBe(20n); // CPU 1's copy, as CPU 0 sees it
    expect(perCpuU64s(h.lookupElem(u32b(0)), 2)).toEqual([11, 20]);
    expect(exitOf(m, prog, 1)).toBe(21n);
    expect(perCpuU64s(h.lookupElem(u32b(0)), 2)).toEqual([11, 21]);
  });

  it('a program update writes only this CPU’s copy of a PERCPU_ARRAY value', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'PERCPU_ARRAY', 'pc', 4, 8, 2);
    const code = exitOf(
      m,
      `*(u64 *)(r10 - 16) = 7
      r1 = pc ll
      ${keyOnStack(1)}
      r3 = r10
      r3 += -16
      r4 = 0
      call bpf_map_update_elem
      exit`,
      1,
    );
    expect(code).toBe(0n);
    expect(perCpuU64s(h.lookupElem(u32b(1)), 2)).toEqual([0, 7]);
  });

  it('returns the kernel’s errnos in r0: E2BIG, EEXIST, EINVAL', () => {
    const m = booted();
    bpfMapCreate(m, 'ARRAY', 'a', 4, 8, 2);
    const update = (key: number, flags: number) =>
      exitOf(
        m,
        `r1 = a ll
        ${keyOnStack(key)}
        r3 = r10
        r3 += -16
        r4 = ${flags}
        call bpf_map_update_elem
        exit`,
      );
    expect(update(5, 0)).toBe(-7n);
    expect(update(0, 1)).toBe(-17n);
    expect(update(0, 8)).toBe(-22n);
    const del = exitOf(m, `r1 = a ll\n${keyOnStack(0)}\ncall bpf_map_delete_elem\nexit`);
    expect(del).toBe(-22n);
  });

  it('bpf_for_each_map_elem calls the guest callback per element until it returns 1', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'ARRAY', 'arr', 4, 8, 5);
    for (let i = 0; i < 5; i++) h.updateElem(u32b(i), u64b(i * 10));
    const code = exitOf(
      m,
      `*(u64 *)(r10 - 8) = 0
      r1 = arr ll
      r2 = func(sum) ll
      r3 = r10
      r3 += -8
      r4 = 0
      call bpf_for_each_map_elem
      r6 = *(u64 *)(r10 - 8)
      r6 <<= 8
      r0 |= r6
      exit
    sum:
      r6 = *(u32 *)(r2 + 0)
      r7 = *(u64 *)(r3 + 0)
      r8 = *(u64 *)(r4 + 0)
      r8 += r7
      *(u64 *)(r4 + 0) = r8
      r0 = 0
      if r6 == 3 goto stop
      exit
    stop:
      r0 = 1
      exit`,
    );
    // Visited 4 (indexes 0..3), sum 0+10+20+30 = 60.
    expect(code).toBe((60n << 8n) | 4n);
    expect(ofKind(m, 'oops')).toEqual([]);
  });

  it('bpf_for_each_map_elem with flags set is -EINVAL', () => {
    const m = booted();
    bpfMapCreate(m, 'ARRAY', 'arr', 4, 8, 1);
    const code = exitOf(
      m,
      `r1 = arr ll
      r2 = func(cb) ll
      r3 = 0
      r4 = 1
      call bpf_for_each_map_elem
      exit
    cb:
      r0 = 0
      exit`,
    );
    expect(code).toBe(-22n);
  });

  it('`map[i] + off ll` is the address of entry i’s value plus off', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'ARRAY', 'vals', 4, 16, 3);
    exitOf(m, 'r1 = vals[2] + 8 ll\nr2 = 99\n*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit');
    const v = h.lookupElem(u32b(2));
    expect(readU64(v, 8)).toBe(99);
    expect(() => m.assemble('r1 = vals[3] + 0 ll\nexit')).not.toThrow();
    expect(() => m.spawn({ comm: 'x', program: m.assemble('r1 = vals[3] + 0 ll\nexit') })).toThrow(
      /EINVAL: offset 48 is outside the 48 bytes/,
    );
  });

  it('faults a task whose r1 is not a map, or that writes a RDONLY_PROG map', () => {
    const m = booted();
    bpfMapCreate(m, 'ARRAY', 'ro', 4, 8, 1, { mapFlags: BPF_F_RDONLY_PROG });
    exitOf(m, `r1 = 0x5000\n${keyOnStack(0)}\ncall bpf_map_lookup_elem\nexit`);
    exitOf(
      m,
      `r1 = ro ll\n${keyOnStack(0)}\nr3 = r10\nr3 += -16\nr4 = 0\ncall bpf_map_update_elem\nexit`,
    );
    const oopses = ofKind(m, 'oops').map((r) => r.lines[0]);
    expect(oopses[0]).toMatch(
      /bpf_map_lookup_elem: EINVAL: bpf_map_lookup_elem: 0x5000 is not a map/,
    );
    expect(oopses[1]).toMatch(/EPERM: bpf_map_update_elem: BPF_MAP_TYPE_ARRAY 'ro' is read-only/);
  });

  it('a program holding a closed map’s address faults rather than reading freed memory', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'ARRAY', 'gone', 4, 8, 1);
    const prog = m.loadText(
      m.assemble(`r1 = gone ll\n${keyOnStack(0)}\ncall bpf_map_lookup_elem\nexit`),
      'late',
    );
    h.close();
    expect(() => m.assemble('r1 = gone ll\nexit')).not.toThrow();
    expect(() => m.spawn({ comm: 'x', program: m.assemble('r1 = gone ll\nexit') })).toThrow(
      /^EBADF/,
    );
    m.spawn({ comm: 'late', program: prog });
    run(m);
    expect(ofKind(m, 'oops')[0].lines[0]).toMatch(/is not a map/);
  });
});
