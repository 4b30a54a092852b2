/**
 * A fast-check model test of HASH and PERCPU_HASH (preallocated and
 * BPF_F_NO_PREALLOC, and HASH with a bpf_spin_lock): random sequences of
 * updates with every flag, deletes, lookups, lookup_and_delete,
 * get_next_key walks and the four batch commands, each checked against a JS
 * Map for its result or errno, and the whole contents compared after every
 * step.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_NO_PREALLOC,
  BPF_NOEXIST,
} from '../../maps/bpf-uapi.ts';
import { type BpfMapHandle, bpfMapCreate } from '../../maps/syscall.ts';
import { Machine } from '../../preempt/machine.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { readU32, u32b } from './map-bytes.ts';

const NR_CPUS = 2;
const MAX = 6;

interface Variant {
  name: string;
  type: 'HASH' | 'PERCPU_HASH';
  mapFlags: number;
  /** Offset of a bpf_spin_lock in a 16-byte value, or undefined for 8-byte values without one. */
  lock?: number;
}

const variants: Variant[] = [
  { name: 'HASH', type: 'HASH', mapFlags: 0 },
  { name: 'HASH BPF_F_NO_PREALLOC', type: 'HASH', mapFlags: BPF_F_NO_PREALLOC },
  { name: 'HASH with a bpf_spin_lock', type: 'HASH', mapFlags: 0, lock: 8 },
  { name: 'PERCPU_HASH', type: 'PERCPU_HASH', mapFlags: 0 },
  { name: 'PERCPU_HASH BPF_F_NO_PREALLOC', type: 'PERCPU_HASH', mapFlags: BPF_F_NO_PREALLOC },
];

type Op =
  | { op: 'update'; key: number; seed: number; flags: number }
  | { op: 'delete'; key: number }
  | { op: 'lookup'; key: number }
  | { op: 'lookupAndDelete'; key: number }
  | { op: 'nextKey'; key: number }
  | { op: 'lookupBatch'; step: number; andDelete: boolean }
  | { op: 'updateBatch'; keys: number[]; seed: number; flags: number }
  | { op: 'deleteBatch'; keys: number[] };

const key = fc.integer({ min: 0, max: 7 });
const updateFlags = fc.constantFrom(
  BPF_ANY,
  BPF_NOEXIST,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_LOCK | BPF_EXIST,
  3,
  8,
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('update' as const),
      key,
      seed: fc.nat(1000),
      flags: updateFlags,
    }),
  },
  fc.record({ op: fc.constant('delete' as const), key }),
  fc.record({ op: fc.constant('lookup' as const), key }),
  fc.record({ op: fc.constant('lookupAndDelete' as const), key }),
  fc.record({ op: fc.constant('nextKey' as const), key }),
  fc.record({
    op: fc.constant('lookupBatch' as const),
    step: fc.integer({ min: 1, max: MAX + 1 }),
    andDelete: fc.boolean(),
  }),
  fc.record({
    op: fc.constant('updateBatch' as const),
    keys: fc.array(key, { maxLength: 4 }),
    seed: fc.nat(1000),
    flags: updateFlags,
  }),
  fc.record({ op: fc.constant('deleteBatch' as const), keys: fc.array(key, { maxLength: 4 }) }),
);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The errno of `f`, or its result. */
function attempt<T>(f: () => T): T | string {
  try {
    return f();
  } catch (e) {
    if (e instanceof ErrnoError) return e.errno;
    throw e;
  }
}

class Model {
  readonly map = new Map<number, string>();

  constructor(
    readonly v: Variant,
    readonly valueSize: number,
  ) {}

  /** The value userspace writes for `seed`: distinct bytes per CPU slice. */
  value(seed: number): Uint8Array {
    const b = new Uint8Array(this.valueSize);
    for (let i = 0; i < b.length; i++) b[i] = (seed * 7 + i * 13 + 1) & 0xff;
    return b;
  }

  /** What a lookup returns for a value written from `bytes`. */
  stored(bytes: Uint8Array): string {
    const b = bytes.slice();
    if (this.v.lock !== undefined) b.fill(0, this.v.lock, this.v.lock + 4);
    return hex(b);
  }

  /** The errno of an update, or null when it succeeds, changing the model. */
  update(k: number, bytes: Uint8Array, flags: number): string | null {
    if (flags & BPF_F_LOCK && this.v.lock === undefined) return 'EINVAL';
    if ((flags & ~BPF_F_LOCK) > BPF_EXIST) return 'EINVAL';
    const has = this.map.has(k);
    const f = flags & ~BPF_F_LOCK;
    if (has && f === BPF_NOEXIST) return 'EEXIST';
    if (!has && f === BPF_EXIST) return 'ENOENT';
    if (!has && this.map.size >= MAX) return 'E2BIG';
    this.map.set(k, this.stored(bytes));
    return null;
  }
}

function contents(h: BpfMapHandle): Map<number, string> {
  const out = new Map<number, string>();
  for (const k of h.keys()) {
    const key = readU32(k);
    expect(out.has(key)).toBe(false);
    out.set(key, hex(h.lookupElem(k)));
  }
  return out;
}

function step(h: BpfMapHandle, model: Model, o: Op): void {
  const vs = model.valueSize;
  switch (o.op) {
    case 'update': {
      const bytes = model.value(o.seed);
      const want = model.update(o.key, bytes, o.flags);
      const got = attempt(() => h.updateElem(u32b(o.key), bytes, o.flags));
      expect(got ?? null).toBe(want);
      return;
    }
    case 'delete': {
      const want = model.map.delete(o.key) ? undefined : 'ENOENT';
      expect(attempt(() => h.deleteElem(u32b(o.key)))).toBe(want);
      return;
    }
    case 'lookup': {
      const got = attempt(() => hex(h.lookupElem(u32b(o.key))));
      expect(got).toBe(model.map.get(o.key) ?? 'ENOENT');
      return;
    }
    case 'lookupAndDelete': {
      const got = attempt(() => hex(h.lookupAndDeleteElem(u32b(o.key))));
      expect(got).toBe(model.map.get(o.key) ?? 'ENOENT');
      model.map.delete(o.key);
      return;
    }
    case 'nextKey': {
      // A missing key restarts the walk; a present one moves on; the walk ends in ENOENT.
      const got = attempt(() => readU32(h.getNextKey(u32b(o.key))));
      if (model.map.size === 0) expect(got).toBe('ENOENT');
      else if (!model.map.has(o.key)) expect(got).toBe(readU32(h.getNextKey(null)));
      else if (got !== 'ENOENT') expect(model.map.has(got as number)).toBe(true);
      return;
    }
    case 'lookupBatch': {
      const seen = new Map<number, string>();
      let batch: Uint8Array | undefined;
      let count = o.step;
      for (let calls = 0; calls < 100; calls++) {
        const keys = new Uint8Array(4 * count);
        const values = new Uint8Array(vs * count);
        const args = { inBatch: batch ?? null, keys, values, count };
        const r = o.andDelete ? h.lookupAndDeleteBatch(args) : h.lookupBatch(args);
        for (let i = 0; i < r.count; i++) {
          seen.set(readU32(keys, 4 * i), hex(values.subarray(vs * i, vs * (i + 1))));
        }
        if (r.error?.errno === 'ENOSPC') {
          expect(r.count).toBe(0);
          count++;
          batch = r.outBatch;
          continue;
        }
        batch = r.outBatch;
        if (r.error !== undefined) {
          expect(r.error.errno).toBe('ENOENT');
          break;
        }
      }
      expect(seen).toEqual(model.map);
      if (o.andDelete) model.map.clear();
      return;
    }
    case 'updateBatch': {
      const n = o.keys.length;
      const keys = new Uint8Array(4 * n);
      const values = new Uint8Array(vs * n);
      o.keys.forEach((k, i) => {
        keys.set(u32b(k), 4 * i);
        values.set(model.value(o.seed + i), vs * i);
      });
      const got = attempt(() => h.updateBatch({ keys, values, count: n, elemFlags: o.flags }));
      if (o.flags & BPF_F_LOCK && model.v.lock === undefined) {
        expect(got).toBe('EINVAL');
        return;
      }
      let done = 0;
      let error: string | undefined;
      for (; done < n; done++) {
        const e = model.update(o.keys[done], model.value(o.seed + done), o.flags);
        if (e !== null) {
          error = e;
          break;
        }
      }
      expect(typeof got === 'string' ? got : { count: got.count, errno: got.error?.errno }).toEqual(
        {
          count: done,
          errno: error,
        },
      );
      return;
    }
    case 'deleteBatch': {
      const n = o.keys.length;
      const keys = new Uint8Array(4 * n);
      o.keys.forEach((k, i) => {
        keys.set(u32b(k), 4 * i);
      });
      const r = h.deleteBatch({ keys, count: n });
      let done = 0;
      while (done < n && model.map.delete(o.keys[done])) done++;
      expect({ count: r.count, errno: r.error?.errno }).toEqual({
        count: done,
        errno: done < n ? 'ENOENT' : undefined,
      });
    }
  }
}

describe('hash maps against a JS Map model', () => {
  for (const v of variants) {
    it(`${v.name}: random updates, deletes, lookups, walks and batches`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 20, maxLength: 60, size: 'max' }), (ops) => {
          const m = new Machine({ cpus: NR_CPUS }).boot();
          const h = bpfMapCreate(m, v.type, 'model', 4, v.lock === undefined ? 8 : 16, MAX, {
            mapFlags: v.mapFlags,
            spinLockOff: v.lock,
          });
          const model = new Model(v, h.map.valueSizeUser);
          for (const o of ops) {
            step(h, model, o);
            expect(contents(h)).toEqual(model.map);
          }
          h.close();
        }),
        { numRuns: 60 },
      );
    });
  }
});
