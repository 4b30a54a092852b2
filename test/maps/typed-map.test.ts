/** Typed views of maps: C values in and out, per-CPU values per CPU, sums. */

import { describe, expect, it } from 'vitest';
import { BPF_NOEXIST } from '../../maps/bpf-uapi.ts';
import { bpfMapCreate } from '../../maps/syscall.ts';
import { typedMap, typedPercpuMap } from '../../maps/typed-map.ts';
import { Machine } from '../../preempt/machine.ts';
import { decodeValue, encodeValue, s16, struct, u32, u64 } from '../../segments/ctype.ts';

const booted = (cpus = 3) => new Machine({ cpus }).boot();

describe('typed maps', () => {
  it('reads and writes C values; a missing element is undefined', () => {
    const m = booted();
    const pair = struct('pair', [
      ['count', u64],
      ['delta', s16],
    ]);
    const t = typedMap<number, { count: bigint; delta: number }>(
      bpfMapCreate(m, 'ARRAY', 'pairs', 4, pair.size, 2),
      u32,
      pair,
    );
    t.set(1, { count: 9n, delta: -3 });
    expect(t.get(1)).toEqual({ count: 9n, delta: -3 });
    expect(t.get(0)).toEqual({ count: 0n, delta: 0 });
    expect(t.get(5)).toBeUndefined();
    expect([...t.keys()]).toEqual([0, 1]);
    expect(() => t.set(0, { count: 1n, delta: 0 }, BPF_NOEXIST)).toThrow(/^EEXIST/);
    expect(() => t.delete(0)).toThrow(/^EINVAL/);
  });

  it('per-CPU values: one per CPU, or one for all, and their sum', () => {
    const m = booted(3);
    const t = typedPercpuMap<number, bigint>(
      bpfMapCreate(m, 'PERCPU_ARRAY', 'pc', 4, 8, 1),
      u32,
      u64,
    );
    t.set(0, [1n, 2n, 3n]);
    expect(t.get(0)).toEqual([1n, 2n, 3n]);
    expect(t.sum(0)).toBe(6n);
    t.set(0, 5n);
    expect(t.sum(0)).toBe(15n);
    expect(() => t.set(0, [1n])).toThrow(/^EINVAL: 1 values for 3 possible CPUs/);
  });

  it('refuses a type of the wrong size or kind of map', () => {
    const m = booted();
    const h = bpfMapCreate(m, 'ARRAY', 'a', 4, 8, 1);
    expect(() => typedMap(h, u64, u64)).toThrow(/^EINVAL: key type u64 is 8 bytes, key_size is 4/);
    expect(() => typedPercpuMap(h, u32, u64)).toThrow(/is not per-CPU/);
  });

  it('decodeValue inverts encodeValue', () => {
    const t = struct('s', [
      ['a', u32],
      ['b', s16],
      ['c', u64],
    ]);
    const v = { a: 7, b: -2, c: 1n << 40n };
    expect(decodeValue(t, encodeValue(t, v))).toEqual(v);
  });
});
