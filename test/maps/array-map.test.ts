/**
 * ARRAY and PERCPU_ARRAY from userspace, following what the kernel's
 * selftests check: test_maps.c test_arraymap, test_arraymap_percpu,
 * test_arraymap_percpu_many_keys, and map_tests/array_map_batch_ops.c.
 */

import { describe, expect, it } from 'vitest';
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_RDONLY,
  BPF_F_WRONLY,
  BPF_NOEXIST,
} from '../../maps/bpf-uapi.ts';
import { bpfMapByFd, bpfMapCreate } from '../../maps/index.ts';
import { percpuStats } from '../../percpu/percpu-stats.ts';
import { Machine } from '../../preempt/machine.ts';
import { perCpuU64s, percpuU64, readU32, readU64, u32b, u64b } from './map-bytes.ts';

const booted = (cpus = 4) => new Machine({ cpus }).boot();

describe('ARRAY (test_arraymap)', () => {
  it('updates, refuses NOEXIST, finds zeroed entries, bounds keys and walks them', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'ARRAY', 'arr', 4, 8, 2);
    h.updateElem(u32b(1), u64b(1234), BPF_ANY);
    expect(() => h.updateElem(u32b(1), u64b(0), BPF_NOEXIST)).toThrow(/^EEXIST/);
    expect(readU64(h.lookupElem(u32b(1)))).toBe(1234);
    expect(readU64(h.lookupElem(u32b(0)))).toBe(0);
    expect(() => h.updateElem(u32b(2), u64b(1), BPF_ANY)).toThrow(
      /^E2BIG: index 2 >= max_entries 2/,
    );
    expect(() => h.lookupElem(u32b(3))).toThrow(/^ENOENT/);
    expect(readU32(h.getNextKey(null))).toBe(0);
    expect(readU32(h.getNextKey(u32b(0)))).toBe(1);
    expect(() => h.getNextKey(u32b(1))).toThrow(/^ENOENT/);
    expect(readU32(h.getNextKey(u32b(7)))).toBe(0);
    expect(() => h.deleteElem(u32b(0))).toThrow(/^EINVAL/);
    expect([...h.keys()].map((k) => readU32(k))).toEqual([0, 1]);
  });

  it('takes BPF_EXIST (every index exists) and refuses unknown flags', () => {
    const h = bpfMapCreate(booted(), 'ARRAY', 'arr', 4, 8, 2);
    h.updateElem(u32b(0), u64b(5), BPF_EXIST);
    expect(readU64(h.lookupElem(u32b(0)))).toBe(5);
    expect(() => h.updateElem(u32b(0), u64b(5), 8)).toThrow(/^EINVAL/);
    expect(() => h.lookupElem(u32b(0), 2)).toThrow(/^EINVAL: lookup flags 0x2/);
  });

  it('BPF_F_LOCK needs a bpf_spin_lock in the value, and copies around it', () => {
    const m = booted();
    const plain = bpfMapCreate(m, 'ARRAY', 'plain', 4, 8, 1);
    expect(() => plain.updateElem(u32b(0), u64b(1), BPF_F_LOCK)).toThrow(/^EINVAL: BPF_F_LOCK/);
    const locked = bpfMapCreate(m, 'ARRAY', 'locked', 4, 16, 1, { spinLockOff: 0 });
    const v = new Uint8Array(16).fill(0xaa);
    locked.updateElem(u32b(0), v, BPF_F_LOCK);
    const got = locked.lookupElem(u32b(0), BPF_F_LOCK);
    expect([...got.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    expect([...got.subarray(4)]).toEqual(new Array(12).fill(0xaa));
  });

  it('checks its attributes at creation', () => {
    const m = booted();
    expect(() => bpfMapCreate(m, 'ARRAY', 'a', 8, 8, 2)).toThrow(/^EINVAL: key_size 8/);
    expect(() => bpfMapCreate(m, 'ARRAY', 'a', 4, 0, 2)).toThrow(/^EINVAL: value_size is 0/);
    expect(() => bpfMapCreate(m, 'ARRAY', 'a', 4, 8, 0)).toThrow(/^EINVAL: max_entries is 0/);
    expect(() => bpfMapCreate(m, 'ARRAY', 'a', 4, 8, 2, { mapFlags: 1 })).toThrow(
      /^EINVAL: map_flags/,
    );
    expect(() => bpfMapCreate(m, 'PERCPU_ARRAY', 'a', 4, 32 * 1024 + 1, 2)).toThrow(/^E2BIG/);
    expect(() => bpfMapCreate(m, 'PERCPU_ARRAY', 'a', 4, 8, 2, { spinLockOff: 0 })).toThrow(
      /^EOPNOTSUPP/,
    );
    expect(() => bpfMapCreate(m, 'ARRAY', 'a', 4, 8, 2, { spinLockOff: 6 })).toThrow(
      /^EINVAL: bpf_spin_lock offset 6/,
    );
    expect(() => bpfMapCreate(m, 'ARRAY', 'a-b', 4, 8, 2)).toThrow(/^EINVAL: map name 'a-b'/);
    expect(() => bpfMapCreate(m, 'ARRAY', 'a'.repeat(16), 4, 8, 2)).toThrow(/^EINVAL: map name/);
    expect(() =>
      bpfMapCreate(m, 'ARRAY', 'a', 4, 8, 2, { mapFlags: BPF_F_RDONLY | BPF_F_WRONLY }),
    ).toThrow(/^EINVAL: map_flags 0x18 are read-only and write-only/);
    expect(() => bpfMapCreate(m, 99 as never, 'a', 4, 8, 2)).toThrow(/^EINVAL: map type 99/);
    expect(() => bpfMapCreate(m, 'ARRAY', 'huge', 4, 1 << 20, 1 << 12)).toThrow(/^ENOMEM/);
  });

  it('keeps userspace out as its flags and BPF_MAP_FREEZE say', () => {
    const m = booted();
    const ro = bpfMapCreate(m, 'ARRAY', 'ro', 4, 8, 1, { mapFlags: BPF_F_RDONLY });
    expect(() => ro.updateElem(u32b(0), u64b(1))).toThrow(/^EPERM: .* read-only/);
    expect(() => ro.freeze()).toThrow(/^EPERM/);
    const wo = bpfMapCreate(m, 'ARRAY', 'wo', 4, 8, 1, { mapFlags: BPF_F_WRONLY });
    expect(() => wo.lookupElem(u32b(0))).toThrow(/^EPERM: .* write-only/);
    const f = bpfMapCreate(m, 'ARRAY', 'f', 4, 8, 1);
    f.updateElem(u32b(0), u64b(7));
    f.freeze();
    expect(() => f.freeze()).toThrow(/^EBUSY/);
    expect(() => f.updateElem(u32b(0), u64b(1))).toThrow(/^EPERM: .* frozen/);
    expect(readU64(f.lookupElem(u32b(0)))).toBe(7);
  });

  it('refuses short buffers and closed fds with a clear error', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'ARRAY', 'a', 4, 8, 2);
    h.updateElem(u32b(1), u64b(9));
    expect(readU64(bpfMapByFd(m, h.fd).lookupElem(u32b(1)))).toBe(9);
    expect(() => bpfMapByFd(m, 99)).toThrow(/^EBADF: fd 99 is not a map/);
    expect(() => h.lookupElem(new Uint8Array(2))).toThrow(/^EINVAL: key of 2 bytes/);
    expect(() => h.updateElem(u32b(0), new Uint8Array(4))).toThrow(/^EINVAL: value of 4 bytes/);
    h.close();
    expect(() => h.lookupElem(u32b(0))).toThrow(/^EBADF: fd 3 is not a map/);
  });
});

describe('PERCPU_ARRAY (test_arraymap_percpu)', () => {
  it('writes every CPU from userspace and reads every CPU back', () => {
    const m = booted(4);
    const h = bpfMapCreate(m, 'PERCPU_ARRAY', 'pcpu', 4, 8, 2);
    expect(h.map.valueSizeUser).toBe(32);
    h.updateElem(
      u32b(1),
      percpuU64(4, (cpu) => cpu + 100),
      BPF_ANY,
    );
    expect(() =>
      h.updateElem(
        u32b(1),
        percpuU64(4, () => 0),
        BPF_NOEXIST,
      ),
    ).toThrow(/^EEXIST/);
    expect(perCpuU64s(h.lookupElem(u32b(1)), 4)).toEqual([100, 101, 102, 103]);
    expect(perCpuU64s(h.lookupElem(u32b(0)), 4)).toEqual([0, 0, 0, 0]);
    expect(() =>
      h.updateElem(
        u32b(2),
        percpuU64(4, () => 1),
      ),
    ).toThrow(/^E2BIG/);
    expect(() => h.lookupElem(u32b(3))).toThrow(/^ENOENT/);
    expect(readU32(h.getNextKey(null))).toBe(0);
    expect(readU32(h.getNextKey(u32b(0)))).toBe(1);
    expect(() => h.getNextKey(u32b(1))).toThrow(/^ENOENT/);
    expect(() => h.deleteElem(u32b(0))).toThrow(/^EINVAL/);
    expect(() =>
      h.updateElem(
        u32b(0),
        percpuU64(4, () => 1),
        BPF_F_LOCK,
      ),
    ).toThrow(/^EINVAL/);
  });

  it('pads each CPU value to 8 bytes (value_size 4)', () => {
    const m = booted(3);
    const h = bpfMapCreate(m, 'PERCPU_ARRAY', 'small', 4, 4, 1);
    const v = new Uint8Array(24);
    for (let cpu = 0; cpu < 3; cpu++) v.set([cpu + 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], 8 * cpu);
    h.updateElem(u32b(0), v);
    expect([...h.lookupElem(u32b(0))]).toEqual([
      1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
    ]);
  });

  it('holds 2000 keys of per-CPU values (test_arraymap_percpu_many_keys)', () => {
    const m = booted(4);
    const h = bpfMapCreate(m, 'PERCPU_ARRAY', 'many', 4, 8, 2000);
    for (let k = 0; k < 2000; k++)
      h.updateElem(
        u32b(k),
        percpuU64(4, (cpu) => cpu + 10),
      );
    for (let k = 0; k < 2000; k++) {
      expect(perCpuU64s(h.lookupElem(u32b(k)), 4)).toEqual([10, 11, 12, 13]);
    }
  });

  it('frees its per-CPU values when closed', () => {
    const m = booted(2);
    const before = percpuStats(m.percpu).global.nrCurAlloc;
    const h = bpfMapCreate(m, 'PERCPU_ARRAY', 'tmp', 4, 8, 100);
    expect(percpuStats(m.percpu).global.nrCurAlloc).toBe(before + 101);
    h.close();
    expect(percpuStats(m.percpu).global.nrCurAlloc).toBe(before);
  });
});

describe('array batch ops (map_tests/array_map_batch_ops.c)', () => {
  for (const type of ['ARRAY', 'PERCPU_ARRAY'] as const) {
    it(`${type}: update_batch then lookup_batch in every step size`, () => {
      const m = booted(2);
      const max = 10;
      const h = bpfMapCreate(m, type, 'batch', 4, 8, max);
      const vsz = h.map.valueSizeUser;
      const keys = new Uint8Array(4 * max);
      const values = new Uint8Array(vsz * max);
      for (let i = 0; i < max; i++) {
        keys.set(u32b(i), 4 * i);
        for (let c = 0; c < vsz / 8; c++) values.set(u64b(i * 10 + c), vsz * i + 8 * c);
      }
      expect(h.updateBatch({ keys, values, count: max })).toEqual({ count: max });
      for (let step = 1; step <= max; step++) {
        const gotKeys = new Uint8Array(4 * max);
        const gotValues = new Uint8Array(vsz * max);
        let total = 0;
        let batch: Uint8Array | undefined;
        for (;;) {
          const count = Math.min(step, max - total);
          const r = h.lookupBatch({
            inBatch: batch ?? null,
            keys: gotKeys.subarray(4 * total),
            values: gotValues.subarray(vsz * total),
            count,
          });
          total += r.count;
          batch = r.outBatch;
          if (r.error !== undefined) {
            expect(r.error.errno).toBe('ENOENT');
            break;
          }
          if (total === max) {
            expect(
              h.lookupBatch({ inBatch: batch, keys, values: gotValues.slice(), count: 1 }).error
                ?.errno,
            ).toBe('ENOENT');
            break;
          }
        }
        expect(total).toBe(max);
        expect(gotKeys).toEqual(keys);
        expect(gotValues).toEqual(values);
      }
      expect(() => h.deleteBatch({ keys, count: 1 })).toThrow(/^ENOTSUPP: delete_batch/);
      expect(() => h.lookupAndDeleteBatch({ keys, values, count: 1 })).toThrow(/^ENOTSUPP/);
    });
  }

  it('stops an update batch at the first bad key and says how far it got', () => {
    const h = bpfMapCreate(booted(), 'ARRAY', 'b', 4, 8, 2);
    const keys = new Uint8Array([0, 0, 0, 0, 5, 0, 0, 0]);
    const r = h.updateBatch({ keys, values: new Uint8Array(16), count: 2 });
    expect(r.count).toBe(1);
    expect(r.error?.errno).toBe('E2BIG');
    expect(() => h.updateBatch({ keys, values: new Uint8Array(16), count: 2, flags: 1 })).toThrow(
      /^EINVAL: batch flags/,
    );
  });
});
