/**
 * mmap of BPF_F_MMAPABLE arrays, following the kernel's prog_tests/mmap.c
 * (the window and a program see each other's writes at once; a read-only
 * window refuses writes; freezing is refused while a writable mapping
 * exists and allowed after munmap; a frozen map maps read-only only) and
 * bpf_map_mmap's order of checks: ENOTSUPP for types without mmap and
 * values with a bpf_spin_lock, EPERM and EACCES for writable mappings of
 * frozen and BPF_F_RDONLY_PROG maps, EINVAL without BPF_F_MMAPABLE.
 */

import { describe, expect, it } from 'vitest';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG } from '../../maps/bpf-uapi.ts';
import { bpfMapCreate } from '../../maps/syscall.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { u32, u64 } from '../../segments/ctype.ts';
import { run } from '../preempt/machine-fixtures.ts';
import { readU64, u32b } from './map-bytes.ts';

const booted = () => new Machine({ cpus: 2 }).boot();

function exitOf(k: Kernel, source: string): number {
  const t = k.spawn({ comm: 'prog', cpu: 0, allowed: [0], program: k.assemble(source) });
  run(k);
  return Number(t.exitCode);
}

describe('BPF_F_MMAPABLE arrays through mmap (prog_tests/mmap.c)', () => {
  it('the window is the values: its writes reach programs, and programs’ writes reach it', () => {
    const k = booted();
    const data = bpfMapCreate(k, 'ARRAY', 'data', 4, 12, 4, { mapFlags: BPF_F_MMAPABLE });
    const w = data.mmap({ write: true });
    expect(w.size).toBe(4 * 16);
    w.set(16, u64, 1234n); // entry 1
    const prog = `
      *(u32 *)(r10 - 4) = 1
      r1 = data ll
      r2 = r10
      r2 += -4
      call bpf_map_lookup_elem
      if r0 == 0 goto out
      r6 = *(u64 *)(r0 + 0)
      r1 = 77
      *(u32 *)(r0 + 8) = r1
      r0 = r6
    out:
      exit`;
    expect(exitOf(k, prog)).toBe(1234);
    expect(w.get(24, u32)).toBe(77);
    expect(readU64(data.lookupElem(u32b(1)))).toBe(1234);
    expect(w.bytes[16]).toBe(1234 & 0xff);
    w.bytes[16] = 1;
    expect(readU64(data.lookupElem(u32b(1)))).toBe(1025);
    expect(() => w.get(64, u32)).toThrow(/^EFAULT: bytes 64..68 are outside the 64-byte window/);
  });

  it('a read-only window refuses writes; freezing waits for writable windows to go', () => {
    const k = booted();
    const data = bpfMapCreate(k, 'ARRAY', 'data', 4, 8, 1, { mapFlags: BPF_F_MMAPABLE });
    const ro = data.mmap();
    expect(() => ro.set(0, u64, 1n)).toThrow(
      /^EACCES: BPF_MAP_TYPE_ARRAY 'data' is mapped read-only/,
    );
    expect(() => ro.bytes).toThrow(/^EACCES/);
    const rw = data.mmap({ write: true });
    expect(() => data.freeze()).toThrow("EBUSY: BPF_MAP_TYPE_ARRAY 'data' is mmap'ed writable");
    rw.munmap();
    expect(() => rw.get(0, u64)).toThrow(/^EFAULT: .* is no longer mapped/);
    data.freeze();
    expect(() => data.mmap({ write: true })).toThrow("EPERM: BPF_MAP_TYPE_ARRAY 'data' is frozen");
    expect(data.mmap().get(0, u64)).toBe(0n);
    ro.munmap();
  });

  it('refuses in bpf_map_mmap order: ENOTSUPP, EPERM, EACCES, EINVAL', () => {
    const k = booted();
    const pcpu = bpfMapCreate(k, 'PERCPU_ARRAY', 'pcpu', 4, 8, 1);
    expect(() => pcpu.mmap()).toThrow(
      /^ENOTSUPP: BPF_MAP_TYPE_PERCPU_ARRAY 'pcpu' cannot be mmap'ed/,
    );
    const hash = bpfMapCreate(k, 'HASH', 'hash', 4, 8, 1);
    expect(() => hash.mmap()).toThrow(/^ENOTSUPP/);
    const locked = bpfMapCreate(k, 'ARRAY', 'locked', 4, 8, 1, {
      mapFlags: BPF_F_MMAPABLE,
      spinLockOff: 0,
    });
    expect(() => locked.mmap()).toThrow(/^ENOTSUPP/);
    const rodata = bpfMapCreate(k, 'ARRAY', 'rodata', 4, 8, 1, {
      mapFlags: BPF_F_MMAPABLE | BPF_F_RDONLY_PROG,
    });
    expect(() => rodata.mmap({ write: true })).toThrow(/^EACCES: .* read-only for programs/);
    expect(rodata.mmap().get(0, u64)).toBe(0n);
    const plain = bpfMapCreate(k, 'ARRAY', 'plain', 4, 8, 1);
    expect(() => plain.mmap()).toThrow(/^EINVAL: .* was not created with BPF_F_MMAPABLE/);
    plain.freeze();
    // A frozen map's writable mapping is refused before the flag is looked at.
    expect(() => plain.mmap({ write: true })).toThrow(/^EPERM/);
  });
});
