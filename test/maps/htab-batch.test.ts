/**
 * The hash maps' batch operations, following map_tests/htab_map_batch_ops.c
 * for HASH and PERCPU_HASH: lookup and lookup_and_delete batches walk whole
 * buckets (ENOSPC when the first bucket does not fit, ENOENT at the end),
 * update and delete batches are the generic key-by-key ones.
 */

import { describe, expect, it } from 'vitest';
import { BPF_F_LOCK, BPF_F_ZERO_SEED } from '../../maps/bpf-uapi.ts';
import type { BatchResult } from '../../maps/generic-batch.ts';
import type { HashMap } from '../../maps/hash-map.ts';
import { htabMapHash } from '../../maps/jhash.ts';
import { type BpfMapHandle, bpfMapCreate } from '../../maps/syscall.ts';
import { Machine } from '../../preempt/machine.ts';
import { readU32, u32b } from './map-bytes.ts';

const NR_CPUS = 4;
const MAX = 10;

/** map_batch_update: keys 1..max, values key + 1 (per CPU: key + 1 + cpu). */
function batchUpdate(h: BpfMapHandle, pcpu: boolean): void {
  const vs = h.map.valueSizeUser;
  const keys = new Uint8Array(4 * MAX);
  const values = new Uint8Array(vs * MAX);
  const view = new DataView(values.buffer);
  for (let i = 0; i < MAX; i++) {
    keys.set(u32b(i + 1), 4 * i);
    if (pcpu) for (let c = 0; c < NR_CPUS; c++) view.setInt32(vs * i + 8 * c, i + 2 + c, true);
    else view.setInt32(vs * i, i + 2, true);
  }
  expect(h.updateBatch({ keys, values, count: MAX })).toEqual({ count: MAX });
}

/** map_batch_verify: every key 1..max once, each with its value. */
function batchVerify(h: BpfMapHandle, keys: Uint8Array, values: Uint8Array, pcpu: boolean): void {
  const vs = h.map.valueSizeUser;
  const visited = new Set<number>();
  for (let i = 0; i < MAX; i++) {
    const key = readU32(keys, 4 * i);
    if (pcpu) {
      for (let c = 0; c < NR_CPUS; c++) expect(readU32(values, vs * i + 8 * c)).toBe(key + 1 + c);
    } else {
      expect(readU32(values, vs * i)).toBe(key + 1);
    }
    visited.add(key);
  }
  expect([...visited].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
}

const expectEmpty = (h: BpfMapHandle) => expect(() => h.getNextKey(null)).toThrow(/^ENOENT/);

/** Lookup (or lookup_and_delete) batches of `step` until ENOENT; null on ENOSPC. */
function walk(h: BpfMapHandle, step: number, andDelete: boolean) {
  // Room for a last call of `step` after all MAX were returned.
  const keys = new Uint8Array(4 * (MAX + step));
  const values = new Uint8Array(h.map.valueSizeUser * (MAX + step));
  let total = 0;
  let batch: Uint8Array | undefined;
  for (;;) {
    const args = {
      inBatch: total ? batch : null,
      keys: keys.subarray(4 * total),
      values: values.subarray(h.map.valueSizeUser * total),
      count: step,
    };
    const r: BatchResult = andDelete ? h.lookupAndDeleteBatch(args) : h.lookupBatch(args);
    if (r.error?.errno === 'ENOSPC') return null;
    if (r.error !== undefined) expect(r.error.errno).toBe('ENOENT');
    total += r.count;
    batch = r.outBatch;
    if (r.error !== undefined) break;
  }
  expect(total).toBe(MAX);
  return { keys, values };
}

for (const pcpu of [false, true]) {
  const type = pcpu ? 'PERCPU_HASH' : 'HASH';
  describe(`${type} batch ops (${pcpu ? 'htab_percpu_map_batch_ops' : 'htab_map_batch_ops'})`, () => {
    it('__test_map_lookup_and_delete_batch', () => {
      const m = new Machine({ cpus: NR_CPUS }).boot();
      const h = bpfMapCreate(m, type, 'hash_map', 4, 4, MAX);
      const vs = h.map.valueSizeUser;
      expect(vs).toBe(pcpu ? 8 * NR_CPUS : 4);
      const keys = new Uint8Array(4 * MAX);
      const values = new Uint8Array(vs * MAX);

      // test 1: an empty map: ENOENT
      const empty = h.lookupAndDeleteBatch({ inBatch: null, keys, values, count: MAX });
      expect(empty.count).toBe(0);
      expect(empty.error?.errno).toBe('ENOENT');

      batchUpdate(h, pcpu);
      // test 2: count 0 succeeds and does nothing
      expect(h.lookupAndDeleteBatch({ inBatch: null, keys, values, count: 0 })).toEqual({
        count: 0,
      });
      // test 3: count = max_entries takes all
      const all = h.lookupAndDeleteBatch({ inBatch: null, keys, values, count: MAX });
      expect(all.count).toBe(MAX);
      expect(all.error?.errno ?? 'ENOENT').toBe('ENOENT');
      batchVerify(h, keys, values, pcpu);
      expectEmpty(h);

      // test 4: lookup, delete and lookup_and_delete in steps
      let successes = 0;
      for (let step = 1; step < MAX; step++) {
        batchUpdate(h, pcpu);
        const looked = walk(h, step, false);
        if (looked === null) continue;
        batchVerify(h, looked.keys, looked.values, pcpu);
        let total = 0;
        while (total < MAX) {
          const count = Math.min(step, MAX - total);
          const r = h.deleteBatch({ keys: looked.keys.subarray(4 * total), count });
          expect(r.error).toBeUndefined();
          total += r.count;
        }
        expect(total).toBe(MAX);
        expectEmpty(h);
        batchUpdate(h, pcpu);
        const taken = walk(h, step, true);
        if (taken === null) continue;
        batchVerify(h, taken.keys, taken.values, pcpu);
        expectEmpty(h);
        successes++;
      }
      expect(successes).toBeGreaterThan(0);
    });
  });
}

describe('hash batch details', () => {
  /** Two keys that land in the same bucket of a zero-seed map with `nBuckets`. */
  function collidingKeys(nBuckets: number): [number, number] {
    const seen = new Map<number, number>();
    for (let k = 1; ; k++) {
      const b = htabMapHash(u32b(k), 0, 4, 0) & (nBuckets - 1);
      const other = seen.get(b);
      if (other !== undefined) return [other, k];
      seen.set(b, k);
    }
  }

  it('ENOSPC when the first bucket alone does not fit in count; ENOENT at and past the end', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const h = bpfMapCreate(m, 'HASH', 'c', 4, 4, 16, { mapFlags: BPF_F_ZERO_SEED });
    const [a, b] = collidingKeys((h.map as HashMap).nBuckets);
    h.updateElem(u32b(a), u32b(1));
    h.updateElem(u32b(b), u32b(2));
    const keys = new Uint8Array(64);
    const values = new Uint8Array(64);
    const r = h.lookupBatch({ inBatch: null, keys, values, count: 1 });
    expect(r.count).toBe(0);
    expect(r.error?.errno).toBe('ENOSPC');
    expect(r.error?.message).toMatch(/holds 2 elements, more than count 1/);
    const bucket = htabMapHash(u32b(a), 0, 4, 0) & 15;
    expect(readU32(r.outBatch!)).toBe(bucket);
    const whole = h.lookupBatch({ inBatch: null, keys, values, count: 2 });
    expect(whole.count).toBe(2);
    expect(whole.error?.errno).toBe('ENOENT');
    expect(readU32(whole.outBatch!)).toBe(16);
    const past = h.lookupBatch({ inBatch: u32b(16), keys, values, count: 2 });
    expect(past.count).toBe(0);
    expect(past.outBatch).toBeUndefined();
    expect(past.error?.errno).toBe('ENOENT');
  });

  it('refuses unknown elem_flags and batch flags', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const h = bpfMapCreate(m, 'HASH', 'f', 4, 8, 4);
    const args = { keys: new Uint8Array(16), values: new Uint8Array(32), count: 2 };
    expect(() => h.lookupBatch({ ...args, elemFlags: 2 })).toThrow(/^EINVAL: batch elem_flags 0x2/);
    expect(() => h.lookupBatch({ ...args, elemFlags: BPF_F_LOCK })).toThrow(/^EINVAL: BPF_F_LOCK/);
    expect(() => h.lookupAndDeleteBatch({ ...args, flags: 1 })).toThrow(/^EINVAL: batch flags/);
  });

  it('BPF_F_LOCK batches copy values under their spin lock and zero it in the copy', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const h = bpfMapCreate(m, 'HASH', 'l', 4, 8, 4, { spinLockOff: 0 });
    h.updateElem(u32b(1), new Uint8Array([9, 9, 9, 9, 7, 7, 7, 7]));
    const keys = new Uint8Array(16);
    const values = new Uint8Array(32);
    const r = h.lookupAndDeleteBatch({ keys, values, count: 4, elemFlags: BPF_F_LOCK });
    expect(r.count).toBe(1);
    expect([...values.subarray(0, 8)]).toEqual([0, 0, 0, 0, 7, 7, 7, 7]);
  });

  it('lookup_and_delete_batch on an LRU map gives the elements back to the LRU', () => {
    const m = new Machine({ cpus: 2 }).boot();
    for (const type of ['LRU_HASH', 'LRU_PERCPU_HASH'] as const) {
      const h = bpfMapCreate(m, type, 'lru', 4, 8, 8);
      const vs = h.map.valueSizeUser;
      for (let round = 0; round < 3; round++) {
        for (let k = 0; k < 8; k++) h.updateElem(u32b(k), new Uint8Array(vs).fill(k));
        const keys = new Uint8Array(32);
        const values = new Uint8Array(vs * 8);
        let total = 0;
        let batch: Uint8Array | undefined;
        for (;;) {
          const r = h.lookupAndDeleteBatch({
            inBatch: batch ?? null,
            keys: keys.subarray(4 * total),
            values: values.subarray(vs * total),
            count: 8 - total,
          });
          total += r.count;
          batch = r.outBatch;
          if (r.error) break;
        }
        expect(total).toBe(8);
        expectEmpty(h);
      }
    }
  });
});
