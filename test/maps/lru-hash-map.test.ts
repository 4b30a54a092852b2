/**
 * LRU_HASH and LRU_PERCPU_HASH, with and without BPF_F_NO_COMMON_LRU,
 * following test_lru_map.c: sanity0 to sanity8, each run for the map types
 * and flags the selftest runs it for. The selftest pins itself to the first
 * CPU: here syscalls run on CPU 0 and the "lookup with the ref bit" programs
 * are spawned on CPU 0 (sanity5 moves to each CPU in turn, as the selftest
 * forks onto each).
 */

import { describe, expect, it } from 'vitest';
import { LOCAL_FREE_TARGET, PERCPU_FREE_TARGET } from '../../maps/bpf-lru-list.ts';
import { BPF_EXIST, BPF_F_NO_COMMON_LRU, BPF_NOEXIST } from '../../maps/bpf-uapi.ts';
import { type BpfMapHandle, bpfMapCreate } from '../../maps/syscall.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { ofKind, run } from '../preempt/machine-fixtures.ts';
import { readU64, u64b } from './map-bytes.ts';

const NR_CPUS = 4;
const types = ['LRU_HASH', 'LRU_PERCPU_HASH'] as const;
type LruType = (typeof types)[number];

/** __tgt_size and __map_size of the selftest: how bpf_common_lru_populate derives target_free. */
const tgtSize = (mapSize: number) => Math.floor(mapSize / NR_CPUS / 2);
const mapSize = (tgtFree: number) => tgtFree * NR_CPUS * 2;

interface Ctx {
  m: Kernel;
  lru: BpfMapHandle;
  expected: BpfMapHandle;
}

function setup(type: LruType, flags: number, lruSize: number, expectedSize: number): Ctx {
  const m = new Machine({ cpus: NR_CPUS }).boot();
  const lru = bpfMapCreate(m, type, 'lru', 8, 8, lruSize, { mapFlags: flags });
  const expected = bpfMapCreate(m, 'HASH', 'expected', 8, 8, expectedSize);
  return { m, lru, expected };
}

/** A value whose first u64 (CPU 0's for per-CPU maps) is `v`, as the selftest's value[0]. */
function val(h: BpfMapHandle, v: number): Uint8Array {
  const b = new Uint8Array(h.map.valueSizeUser);
  b.set(u64b(v));
  return b;
}

const add = (h: BpfMapHandle, key: number, v = 1234) =>
  h.updateElem(u64b(key), val(h, v), BPF_NOEXIST);

/** bpf_map_lookup_elem from userspace: value[0], or the ErrnoError's errno. */
function lookup(h: BpfMapHandle, key: number): number | string {
  try {
    return readU64(h.lookupElem(u64b(key)));
  } catch (e) {
    return (e as { errno: string }).errno;
  }
}

/**
 * bpf_map_lookup_elem_with_ref_bit for keys [from, to): one program on
 * `cpu` looking each up, as the selftest's test_run program does. Returns
 * how many were found.
 */
function lookupWithRefBit(c: Ctx, from: number, to = from + 1, cpu = 0): number {
  const t = c.m.spawn({
    comm: 'lookup',
    cpu,
    allowed: [cpu],
    program: c.m.assemble(`
      r6 = ${from}
      r7 = 0
    next:
      if r6 >= ${to} goto done
      *(u64 *)(r10 - 8) = r6
      r1 = lru ll
      r2 = r10
      r2 += -8
      call bpf_map_lookup_elem
      r6 += 1
      if r0 == 0 goto next
      r7 += 1
      goto next
    done:
      r0 = r7
      exit`),
  });
  run(c.m);
  expect(ofKind(c.m, 'oops')).toEqual([]);
  return Number(t.exitCode);
}

/** map_equal: the same keys, and the same value[0] for each. */
function expectMapEqual(c: Ctx): void {
  const contents = (h: BpfMapHandle) =>
    new Map([...h.keys()].map((k) => [readU64(k), readU64(h.lookupElem(k))]));
  expect(contents(c.lru)).toEqual(contents(c.expected));
}

function sanity0(type: LruType, flags: number): void {
  const c = setup(type, flags, flags ? 2 * NR_CPUS : 2, 2);
  add(c.lru, 1);
  add(c.expected, 1);
  expect(() => add(c.lru, 1)).toThrow(/^EEXIST/);
  expect(() => c.lru.updateElem(u64b(1), val(c.lru, 1234), 4)).toThrow(/^EINVAL/);
  expect(lookup(c.lru, 2)).toBe('ENOENT');
  expect(() => c.lru.updateElem(u64b(2), val(c.lru, 1234), BPF_EXIST)).toThrow(/^ENOENT/);
  add(c.lru, 2);
  expect(lookup(c.lru, 3)).toBe('ENOENT');
  expect(lookupWithRefBit(c, 1)).toBe(1);
  expect(lookup(c.lru, 1)).toBe(1234);
  add(c.lru, 3);
  add(c.expected, 3);
  expect(lookup(c.lru, 2)).toBe('ENOENT'); // removed by the LRU
  expect(readU64(c.lru.lookupAndDeleteElem(u64b(1)))).toBe(1234);
  c.expected.deleteElem(u64b(1));
  expectMapEqual(c);
}

function sanity1(type: LruType, flags: number, tgtFree: number): void {
  const batch = tgtFree / 2;
  const size = mapSize(tgtFree) + batch;
  const c = setup(type, flags, size, size);
  for (let key = 1; key < 1 + mapSize(tgtFree); key++) add(c.lru, key);
  expect(lookupWithRefBit(c, 1, 1 + batch)).toBe(batch);
  for (let key = 1; key < 1 + batch; key++) add(c.expected, key);
  // Another map_size - batch_size keys: the unreferenced older ones go.
  for (let key = 1 + mapSize(tgtFree); key < 1 + 2 * mapSize(tgtFree); key++) {
    add(c.lru, key);
    add(c.expected, key);
  }
  expectMapEqual(c);
}

function sanity2(type: LruType, flags: number, tgtFree: number): void {
  const batch = tgtFree / 2;
  const size = mapSize(tgtFree) + batch;
  const c = setup(type, flags, size, size);
  for (let key = 1; key < 1 + mapSize(tgtFree); key++) add(c.lru, key);
  // Any update pops a node first: the local list is empty, the global
  // one shrinks its inactive list, and the oldest key (1) goes.
  if (type === 'LRU_PERCPU_HASH') {
    add(c.lru, 1);
    c.lru.deleteElem(u64b(1));
  } else {
    expect(() => c.lru.updateElem(u64b(1), val(c.lru, 1234), BPF_EXIST)).toThrow(/^ENOENT/);
  }
  for (let key = 1; key < 1 + batch; key++) {
    expect(lookup(c.lru, key)).toBe('ENOENT');
    add(c.lru, key, 4321);
    expect(lookupWithRefBit(c, key)).toBe(1);
    expect(lookup(c.lru, key)).toBe(4321);
    add(c.expected, key, 4321);
  }
  let key = 1 + mapSize(tgtFree);
  for (const end = key + batch; key < end; key++) add(c.lru, key); // gone at the next shrink
  for (const end = key + mapSize(tgtFree); key < end; key++) {
    add(c.lru, key);
    add(c.expected, key);
  }
  expectMapEqual(c);
}

function sanity3(type: LruType, flags: number, tgtFree: number): void {
  const batch = tgtSize(tgtFree);
  const size = tgtFree * 2;
  const c = setup(type, flags, size, size);
  for (let key = 1; key < 1 + size; key++) add(c.lru, key);
  expect(lookupWithRefBit(c, 1, 1 + size - batch)).toBe(size - batch);
  for (let key = 1; key < 1 + size - batch; key++) add(c.expected, key);
  for (let key = 2 * tgtFree + 1; key < 2 * tgtFree + 1 + batch; key++) {
    add(c.lru, key);
    add(c.expected, key);
  }
  expectMapEqual(c);
}

function sanity4(type: LruType, flags: number, tgtFree: number): void {
  const size = flags ? 3 * tgtFree * NR_CPUS : 3 * mapSize(tgtFree);
  const c = setup(type, flags, size, 3 * tgtFree);
  for (let key = 1; key <= 2 * tgtFree; key++) add(c.lru, key);
  expect(() => add(c.lru, 1)).toThrow(/^EEXIST/);
  expect(lookupWithRefBit(c, 1, tgtFree + 1)).toBe(tgtFree);
  for (let key = 1; key <= tgtFree; key++) add(c.expected, key);
  let key = tgtFree + 1;
  for (; key <= 2 * tgtFree; key++) {
    c.lru.deleteElem(u64b(key));
    expect(() => c.lru.deleteElem(u64b(key))).toThrow(/^ENOENT/);
  }
  for (const end = key + 2 * tgtFree; key < end; key++) {
    add(c.lru, key);
    add(c.expected, key);
  }
  expectMapEqual(c);
}

function sanity5(type: LruType, flags: number): void {
  const m = new Machine({ cpus: NR_CPUS }).boot();
  const lru = bpfMapCreate(m, type, 'lru', 8, 8, 1, { mapFlags: flags });
  add(lru, 0);
  // do_test_lru_sanity5 on each CPU in turn: the last key is there, a new
  // key can be added, and the last key is gone (one element only).
  for (let cpu = 0; cpu < NR_CPUS; cpu++) {
    const last = cpu;
    const t = m.spawn({
      comm: `cpu${cpu}`,
      cpu,
      allowed: [cpu],
      program: m.assemble(`
        *(u64 *)(r10 - 8) = ${last}
        r1 = lru ll
        r2 = r10
        r2 += -8
        call bpf_map_lookup_elem
        if r0 == 0 goto fail
        *(u64 *)(r10 - 8) = ${last + 1}
        *(u64 *)(r10 - 16) = 1234
        r1 = lru ll
        r2 = r10
        r2 += -8
        r3 = r10
        r3 += -16
        r4 = ${BPF_NOEXIST}
        call bpf_map_update_elem
        if r0 != 0 goto fail
        r1 = lru ll
        r2 = r10
        r2 += -8
        call bpf_map_lookup_elem
        if r0 == 0 goto fail
        r0 = 0
        exit
      fail:
        r0 = 1
        exit`),
    });
    run(m);
    expect(t.exitCode).toBe(0n);
    expect(lookup(lru, last)).toBe('ENOENT');
  }
  expect([...lru.keys()].map((k) => readU64(k))).toEqual([NR_CPUS]);
}

function sanity6(type: LruType, flags: number, tgtFree: number): void {
  const size = tgtFree * 2;
  const c = setup(type, flags, size * NR_CPUS, size);
  let key = 1;
  for (; key <= tgtFree; key++) {
    add(c.lru, key);
    add(c.expected, key);
  }
  for (; key <= tgtFree * 2; key++) {
    // Make the ref bit sticky for keys [1, tgt_free].
    expect(lookupWithRefBit(c, 1, tgtFree + 1)).toBe(tgtFree);
    add(c.lru, key);
  }
  for (; key <= tgtFree * 3; key++) {
    add(c.lru, key);
    add(c.expected, key);
  }
  expectMapEqual(c);
}

/** sanity7 (datapath lookup of 1, syscall lookup of 2) and sanity8 (the other way round). */
function sanity78(type: LruType, flags: number, refKey: 1 | 2): void {
  const c = setup(type, flags, flags ? 2 * NR_CPUS : 2, 2);
  const sysKey = 3 - refKey;
  add(c.lru, 1);
  expect(() => add(c.lru, 1)).toThrow(/^EEXIST/);
  expect(lookup(c.lru, 2)).toBe('ENOENT');
  expect(() => c.lru.updateElem(u64b(2), val(c.lru, 1234), BPF_EXIST)).toThrow(/^ENOENT/);
  add(c.lru, 2);
  expect(lookup(c.lru, 3)).toBe('ENOENT');
  if (refKey === 1) {
    expect(lookupWithRefBit(c, 1)).toBe(1);
    expect(lookup(c.lru, 2)).toBe(1234);
  } else {
    expect(lookup(c.lru, 1)).toBe(1234);
    expect(lookupWithRefBit(c, 2)).toBe(1);
  }
  add(c.expected, refKey);
  add(c.lru, 3);
  add(c.expected, 3);
  expect(lookup(c.lru, sysKey)).toBe('ENOENT'); // the syscall lookup did not keep it
  expectMapEqual(c);
}

for (const flags of [0, BPF_F_NO_COMMON_LRU]) {
  const tgtFree = flags ? PERCPU_FREE_TARGET : LOCAL_FREE_TARGET;
  for (const type of types) {
    describe(`${type}${flags ? ' BPF_F_NO_COMMON_LRU' : ''} (test_lru_map.c)`, () => {
      it('test_lru_sanity0: a referenced key survives, the other is evicted', () => {
        sanity0(type, flags);
      });
      if (!flags) {
        it('test_lru_sanity1: unreferenced elements are recycled before referenced ones', () => {
          sanity1(type, flags, tgtFree);
        });
        it('test_lru_sanity2: inserting beyond the size recycles the oldest', () => {
          sanity2(type, flags, tgtFree);
        });
        it('test_lru_sanity3: active/inactive rotation keeps the referenced', () => {
          sanity3(type, flags, tgtFree);
        });
      }
      it('test_lru_sanity4: deleted elements are reused', () => {
        sanity4(type, flags, tgtFree);
      });
      if (!flags) {
        it('test_lru_sanity5: a one-element map, updated from every CPU in turn', () => {
          sanity5(type, flags);
        });
      }
      if (flags) {
        it('test_lru_sanity6: rotation of a per-CPU LRU list', () => {
          sanity6(type, flags, tgtFree);
        });
      }
      it('test_lru_sanity7: a syscall lookup does not set the ref bit (datapath 1, syscall 2)', () => {
        sanity78(type, flags, 1);
      });
      it('test_lru_sanity8: a syscall lookup does not set the ref bit (syscall 1, datapath 2)', () => {
        sanity78(type, flags, 2);
      });
    });
  }
}

describe('LRU hash details', () => {
  it('rounds max_entries up to a multiple of the CPUs with BPF_F_NO_COMMON_LRU', () => {
    const m = new Machine({ cpus: 3 }).boot();
    expect(
      bpfMapCreate(m, 'LRU_HASH', 'a', 8, 8, 7, { mapFlags: BPF_F_NO_COMMON_LRU }).map.maxEntries,
    ).toBe(9);
    expect(bpfMapCreate(m, 'LRU_HASH', 'b', 8, 8, 7).map.maxEntries).toBe(7);
  });

  it('a BPF_F_NO_COMMON_LRU map evicts from the updating CPU’s own list only', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const h = bpfMapCreate(m, 'LRU_HASH', 'own', 8, 8, 4, { mapFlags: BPF_F_NO_COMMON_LRU });
    // CPU 0 owns 2 of the 4 elements: the third key shrinks CPU 0's list by
    // up to PERCPU_FREE_TARGET unreferenced elements, while CPU 1's stay free.
    add(h, 1);
    add(h, 2);
    add(h, 3);
    expect([...h.keys()].map((k) => readU64(k))).toEqual([3]);
  });
});
