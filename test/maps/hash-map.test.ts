/**
 * HASH and PERCPU_HASH from userspace and from programs, following what the
 * kernel's selftests check (test_maps.c test_hashmap, test_hashmap_sizes,
 * test_hashmap_percpu, test_hashmap_walk, test_hashmap_zero_seed, each also
 * with BPF_F_NO_PREALLOC as test_maps runs them), plus htab_map_alloc_check's
 * errnos, BPF_F_LOCK, the free list and spare elements, jhash, and programs
 * on two CPUs.
 */

import { describe, expect, it } from 'vitest';
import { BPF_LRU_LIST_T, readLruNodeRef } from '../../maps/bpf-lru-node.ts';
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_NO_COMMON_LRU,
  BPF_F_NO_PREALLOC,
  BPF_F_NUMA_NODE,
  BPF_F_ZERO_SEED,
  BPF_NOEXIST,
} from '../../maps/bpf-uapi.ts';
import type { HashMap } from '../../maps/hash-map.ts';
import { bpfHtabType, bucketType, htabElemSize, htabElemType } from '../../maps/htab-elem.ts';
import { htabMapHash, jhash, jhash2 } from '../../maps/jhash.ts';
import type { LruHashMap } from '../../maps/lru-hash-map.ts';
import { type BpfMapHandle, bpfMapCreate } from '../../maps/syscall.ts';
import { percpuStats } from '../../percpu/percpu-stats.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { RawSpinlock } from '../../segments/raw-spinlock.ts';
import { ofKind, run } from '../preempt/machine-fixtures.ts';
import { perCpuU64s, percpuU64, readU64, u32b, u64b } from './map-bytes.ts';

const HTAB_ELEM_OFF = htabElemType.off;

const BPF_HTAB_OFF = bpfHtabType.off;

const BUCKET_OFF = bucketType.off;

const booted = (cpus = 4) => new Machine({ cpus }).boot();
const hashOf = (h: BpfMapHandle) => h.map as HashMap;

const keysOf = (h: BpfMapHandle) => [...h.keys()].map((k) => readU64(k));

for (const [variant, mapFlags] of [
  ['preallocated', 0],
  ['BPF_F_NO_PREALLOC', BPF_F_NO_PREALLOC],
] as const) {
  describe(`HASH, ${variant}`, () => {
    it('test_hashmap: flags, lookup_and_delete, full map, walk, deletes', () => {
      const m = booted();
      const h = bpfMapCreate(m, 'HASH', 'h', 8, 8, 2, { mapFlags });
      h.updateElem(u64b(1), u64b(1234), BPF_ANY);
      expect(() => h.updateElem(u64b(1), u64b(0), BPF_NOEXIST)).toThrow(
        /^EEXIST: key 0100000000000000 is in BPF_MAP_TYPE_HASH 'h'/,
      );
      expect(() => h.updateElem(u64b(1), u64b(0), -1)).toThrow(/^EINVAL/);
      expect(() => hashOf(h).sysUpdate(u64b(1), u64b(0), 8)).toThrow(/^EINVAL: update flags 0x8/);
      expect(readU64(h.lookupElem(u64b(1)))).toBe(1234);
      h.updateElem(u64b(2), u64b(1234), BPF_ANY);
      expect(readU64(h.lookupAndDeleteElem(u64b(2)))).toBe(1234);
      expect(() => h.lookupElem(u64b(2))).toThrow(/^ENOENT: key 0200000000000000 is not in/);
      expect(() => h.lookupAndDeleteElem(u64b(2))).toThrow(/^ENOENT/);
      expect(() => h.lookupAndDeleteElem(null)).toThrow(/^EINVAL: .* needs a key/);
      expect(() => h.updateElem(u64b(2), u64b(1234), BPF_EXIST)).toThrow(/^ENOENT: .*BPF_EXIST/);
      h.updateElem(u64b(2), u64b(1234), BPF_NOEXIST);
      expect(() => h.updateElem(u64b(0), u64b(1234), BPF_NOEXIST)).toThrow(
        /^E2BIG: BPF_MAP_TYPE_HASH 'h' is full: max_entries 2/,
      );
      h.updateElem(u64b(1), u64b(1234), BPF_EXIST);
      h.updateElem(u64b(2), u64b(1234), BPF_ANY);
      expect(() => h.updateElem(u64b(3), u64b(1234), BPF_NOEXIST)).toThrow(/^E2BIG/);
      expect(() => h.deleteElem(u64b(0))).toThrow(/^ENOENT/);
      const first = readU64(h.getNextKey(null));
      expect([1, 2]).toContain(first);
      expect(readU64(h.getNextKey(u64b(0)))).toBe(first); // a missing key restarts
      const second = readU64(h.getNextKey(u64b(first)));
      expect(second).toBe(3 - first);
      expect(() => h.getNextKey(u64b(second))).toThrow(/^ENOENT: no key follows/);
      h.deleteElem(u64b(1));
      h.deleteElem(u64b(2));
      expect(() => h.deleteElem(u64b(2))).toThrow(/^ENOENT/);
      expect(() => h.getNextKey(null)).toThrow(/^ENOENT/);
      expect(() => h.getNextKey(u64b(0))).toThrow(/^ENOENT/);
    });

    it('test_hashmap_percpu: every CPU written from userspace, read back, walked, deleted', () => {
      const m = booted(4);
      const h = bpfMapCreate(m, 'PERCPU_HASH', 'p', 8, 8, 2, { mapFlags });
      const value = percpuU64(4, (cpu) => cpu + 100);
      h.updateElem(u64b(1), value, BPF_ANY);
      expect(perCpuU64s(h.lookupAndDeleteElem(u64b(1)), 4)).toEqual([100, 101, 102, 103]);
      h.updateElem(u64b(1), value, BPF_NOEXIST);
      expect(() => h.updateElem(u64b(1), value, BPF_NOEXIST)).toThrow(/^EEXIST/);
      expect(() => h.updateElem(u64b(1), value, -1)).toThrow(/^EINVAL/);
      expect(() => hashOf(h).sysUpdate(u64b(1), value, BPF_F_LOCK)).toThrow(/^EINVAL/);
      expect(perCpuU64s(h.lookupElem(u64b(1)), 4)).toEqual([100, 101, 102, 103]);
      expect(() => h.lookupElem(u64b(2))).toThrow(/^ENOENT/);
      expect(() => h.updateElem(u64b(2), value, BPF_EXIST)).toThrow(/^ENOENT/);
      h.updateElem(u64b(2), value, BPF_NOEXIST);
      expect(() => h.updateElem(u64b(0), value, BPF_NOEXIST)).toThrow(/^E2BIG/);
      expect(() => h.deleteElem(u64b(0))).toThrow(/^ENOENT/);
      expect(keysOf(h).sort()).toEqual([1, 2]);
      for (const k of h.keys()) {
        expect(perCpuU64s(h.lookupElem(k), 4)).toEqual([100, 101, 102, 103]);
      }
      h.updateElem(u64b(1), value, BPF_EXIST);
      h.deleteElem(u64b(1));
      h.deleteElem(u64b(2));
      expect(() => h.deleteElem(u64b(2))).toThrow(/^ENOENT/);
      expect(() => h.getNextKey(null)).toThrow(/^ENOENT/);
    });

    it('test_hashmap_walk: 10000 keys walked, updated during a walk, walked again', () => {
      const m = booted(4);
      const max = 10000;
      const h = bpfMapCreate(m, 'HASH', 'walk', 8, 24, max, { mapFlags });
      const value = (v0: number) => {
        const b = new Uint8Array(24);
        b.set(u64b(v0));
        return b;
      };
      for (let i = 0; i < max; i++) h.updateElem(u64b(i), value(i), BPF_NOEXIST);
      let n = 0;
      for (const k of h.keys()) {
        h.lookupElem(k);
        n++;
      }
      expect(n).toBe(max);
      let key = h.getNextKey(null);
      let valid = true;
      for (n = 0; valid; n++) {
        let next: Uint8Array | null = null;
        try {
          next = h.getNextKey(key);
        } catch {
          valid = false;
        }
        const v = h.lookupElem(key);
        h.updateElem(key, value(readU64(v) + 1), BPF_EXIST);
        if (next !== null) key = next;
      }
      expect(n).toBe(max);
      n = 0;
      for (const k of h.keys()) {
        expect(readU64(h.lookupElem(k)) - 1).toBe(readU64(k));
        n++;
      }
      expect(n).toBe(max);
    });

    it('test_hashmap_zero_seed: two zero-seed maps walk in the same order', () => {
      const m = booted();
      const fill = () => {
        const h = bpfMapCreate(m, 'HASH', 'z', 8, 24, 3, { mapFlags: mapFlags | BPF_F_ZERO_SEED });
        for (let i = 0; i < 3; i++) h.updateElem(u64b(i), new Uint8Array(24), BPF_NOEXIST);
        return h;
      };
      const first = fill();
      const second = fill();
      expect(hashOf(first).hashrnd).toBe(0);
      expect(keysOf(first)).toEqual(keysOf(second));
      expect(keysOf(first)).toHaveLength(3);
    });
  });
}

describe('HASH attributes (test_hashmap_sizes, htab_map_alloc_check)', () => {
  it('test_hashmap_sizes: key sizes 1..512 and value sizes 1..2^18 (every third power)', () => {
    const m = booted(2);
    for (let k = 1; k <= 512; k <<= 1) {
      for (let v = 1; v <= 1 << 18; v <<= 3) bpfMapCreate(m, 'HASH', 's', k, v, 2).close();
    }
    const before = m.kheap.stats().objects;
    bpfMapCreate(m, 'HASH', 's', 512, 1 << 18, 2).close();
    expect(m.kheap.stats().objects).toBe(before);
  });

  it('refuses what htab_map_alloc_check refuses, with the kernel’s errno', () => {
    const m = booted(4);
    const mk = (type: Parameters<typeof bpfMapCreate>[1], k: number, v: number, n: number, f = 0) =>
      bpfMapCreate(m, type, 'x', k, v, n, { mapFlags: f });
    expect(() => mk('HASH', 8, 8, 2, 1 << 5)).toThrow(/^EINVAL: map_flags 0x20 not allowed/);
    expect(() => mk('HASH', 8, 8, 2, BPF_F_NO_COMMON_LRU)).toThrow(
      /^EINVAL: BPF_F_NO_COMMON_LRU is only for LRU maps/,
    );
    expect(() => mk('LRU_HASH', 8, 8, 2, BPF_F_NO_PREALLOC)).toThrow(
      /^ENOTSUPP: LRU maps are always preallocated/,
    );
    expect(() => mk('LRU_PERCPU_HASH', 8, 8, 2, BPF_F_NO_PREALLOC)).toThrow(/^ENOTSUPP/);
    expect(() => mk('PERCPU_HASH', 8, 8, 2, BPF_F_NUMA_NODE)).toThrow(/^EINVAL: BPF_F_NUMA_NODE/);
    expect(() => mk('LRU_HASH', 8, 8, 8, BPF_F_NUMA_NODE | BPF_F_NO_COMMON_LRU)).toThrow(
      /^EINVAL: BPF_F_NUMA_NODE/,
    );
    expect(() => mk('HASH', 8, 8, 2, BPF_F_NUMA_NODE)).not.toThrow();
    expect(() => mk('HASH', 8, 8, 0)).toThrow(/^EINVAL: max_entries is 0/);
    expect(() => mk('HASH', 0, 8, 2)).toThrow(/^EINVAL: key_size is 0/);
    expect(() => mk('PERCPU_HASH', 8, 0, 2)).toThrow(/^EINVAL: value_size is 0/);
    // KMALLOC_MAX_SIZE - sizeof(struct htab_elem) (48) is the kernel's bound.
    expect(() => mk('HASH', 8, 4 * 1024 * 1024 - 48 - 8, 1)).toThrow(
      /^E2BIG: key_size 8 \+ value_size 4194248 make an element beyond KMALLOC_MAX_SIZE/,
    );
    expect(() => mk('HASH', 8, 4 * 1024 * 1024 - 48 - 9, 1, BPF_F_NO_PREALLOC)).not.toThrow(
      /E2BIG/,
    );
    expect(() => mk('PERCPU_HASH', 8, 32 * 1024 + 1, 1)).toThrow(
      /^E2BIG: value_size 32769 rounds up beyond the per-CPU unit size 32768/,
    );
    expect(() => mk('HASH', 8, 8, 2 ** 31 + 1, BPF_F_NO_PREALLOC)).toThrow(
      /^E2BIG: max_entries 2147483649 is above 2\^31/,
    );
    expect(() => mk('HASH', 8, 8, 2 ** 28, BPF_F_NO_PREALLOC)).toThrow(
      /^E2BIG: 268435456 buckets of 16 bytes overflow a u32/,
    );
    expect(() => mk('HASH', 8, 8, 2 ** 20)).toThrow(/^ENOMEM/);
    expect(() => mk('HASH', 8, 1 << 21, 8)).toThrow(/^ENOMEM: no memory for 12 preallocated/);
    expect(() => mk('PERCPU_HASH', 8, 8, 2, 0)).not.toThrow();
  });

  it('frees everything when closed, and when creation fails half way', () => {
    const m = booted(2);
    const heap = () => m.kheap.stats().objects;
    const pcpu = () => percpuStats(m.percpu).global.nrCurAlloc;
    const [h0, p0] = [heap(), pcpu()];
    for (const mapFlags of [0, BPF_F_NO_PREALLOC]) {
      for (const type of ['HASH', 'PERCPU_HASH', 'LRU_HASH', 'LRU_PERCPU_HASH'] as const) {
        if (type.startsWith('LRU') && mapFlags) continue;
        const h = bpfMapCreate(m, type, 't', 4, 8, 64, { mapFlags });
        for (let i = 0; i < 40; i++) h.updateElem(u32b(i), new Uint8Array(h.map.valueSizeUser));
        h.close();
        expect([heap(), pcpu()]).toEqual([h0, p0]);
      }
    }
    expect(() => bpfMapCreate(m, 'PERCPU_HASH', 'big', 4, 32 * 1024, 200)).toThrow(/^ENOMEM/);
    expect([heap(), pcpu()]).toEqual([h0, p0]);
  });

  it('rounds n_buckets up to a power of two and lays out elements as htab_elem', () => {
    const m = booted(2);
    const h = hashOf(bpfMapCreate(m, 'HASH', 'lay', 5, 3, 100));
    expect(h.nBuckets).toBe(128);
    expect(h.elemSize).toBe(htabElemSize(5, 3, false));
    expect(h.elemSize).toBe(24 + 8 + 8);
    expect(m.memory.read32(h.addr + BPF_HTAB_OFF.n_buckets)).toBe(128);
    expect(m.memory.read32(h.addr + BPF_HTAB_OFF.hashrnd)).toBe(h.hashrnd);
    expect(h.hashrnd).not.toBe(0);
    const other = hashOf(bpfMapCreate(m, 'HASH', 'lay', 5, 3, 100));
    expect(other.hashrnd).not.toBe(h.hashrnd);
    const again = booted(2);
    expect(hashOf(bpfMapCreate(again, 'HASH', 'lay', 5, 3, 100)).hashrnd).toBe(h.hashrnd);
  });
});

describe('jhash', () => {
  it('matches lookup3’s test vectors, and jhash2 is jhash over whole words', () => {
    const four = new TextEncoder().encode('Four score and seven years ago');
    expect(jhash(four, 0, four.length, 0)).toBe(0x17770551);
    expect(jhash(four, 0, four.length, 1)).toBe(0xcd628161);
    expect(jhash(new Uint8Array(0), 0, 0, 0)).toBe(0xdeadbeef);
    const bytes = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
    for (let words = 0; words <= 15; words++) {
      expect(jhash2(bytes, 3, words, 0x1234)).toBe(jhash(bytes, 3, 4 * words, 0x1234));
    }
    expect(htabMapHash(bytes, 0, 8, 5)).toBe(jhash2(bytes, 0, 2, 5));
    expect(htabMapHash(bytes, 0, 7, 5)).toBe(jhash(bytes, 0, 7, 5));
  });
});

describe('HASH elements', () => {
  it('struct htab_elem has the kernel layout with 32-bit pointers: next, pprev, lru_node, hash, key', () => {
    expect(HTAB_ELEM_OFF).toEqual({ next: 0, pprev: 4, lru_node: 8, hash: 20, key: 24 });
    expect(htabElemType.size).toBe(24);
    expect(htabElemSize(4, 8, false)).toBe(24 + 8 + 8);
  });

  it('a full preallocated map takes free elements from every CPU’s list', () => {
    const m = booted(4);
    const h = bpfMapCreate(m, 'HASH', 'fl', 4, 8, 10);
    const map = hashOf(h);
    const fl = map.freeList!;
    // 14 elements in runs of 14/4 + 1 = 4: CPU 0 to 2 get 4, CPU 3 gets 2;
    // then the four spares were popped by CPU 0.
    expect([0, 1, 2, 3].map((c) => fl.nodes(c).length)).toEqual([0, 4, 4, 2]);
    for (let i = 0; i < 10; i++) h.updateElem(u32b(i), u64b(i));
    expect([0, 1, 2, 3].map((c) => fl.nodes(c).length)).toEqual([0, 0, 0, 0]);
    expect(() => h.updateElem(u32b(10), u64b(0))).toThrow(/^E2BIG/);
    for (let i = 0; i < 3; i++) h.deleteElem(u32b(i));
    expect(fl.nodes(0)).toHaveLength(3);
    for (const node of fl.nodes(0)) {
      expect(node - HTAB_ELEM_OFF.pprev /* fnode */ >= map.elems).toBe(true);
    }
  });

  it('replacing a value swaps in this CPU’s spare: the old element keeps its value', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'HASH', 'sp', 4, 8, 4);
    const map = hashOf(h);
    h.updateElem(u32b(7), u64b(1));
    let old = 0;
    map.forEachElem(0, (key) => {
      old = key - HTAB_ELEM_OFF.key;
      return true;
    });
    h.updateElem(u32b(7), u64b(2));
    let now = 0;
    map.forEachElem(0, (key) => {
      now = key - HTAB_ELEM_OFF.key;
      return true;
    });
    expect(now).not.toBe(old);
    expect(m.memory.read64(old + map.valueOff)).toBe(1n);
    expect(readU64(h.lookupElem(u32b(7)))).toBe(2);
  });

  it('BPF_F_NO_PREALLOC keeps a count in memory and kfrees deleted elements', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'PERCPU_HASH', 'np', 4, 8, 3, { mapFlags: BPF_F_NO_PREALLOC });
    const map = hashOf(h);
    const count = () => m.memory.read32(map.addr + BPF_HTAB_OFF.count);
    const objects = m.kheap.stats().objects;
    for (let i = 0; i < 3; i++)
      h.updateElem(
        u32b(i),
        percpuU64(2, () => i),
      );
    expect(count()).toBe(3);
    expect(m.kheap.stats().objects).toBe(objects + 3);
    expect(() =>
      h.updateElem(
        u32b(9),
        percpuU64(2, () => 0),
      ),
    ).toThrow(/^E2BIG/);
    h.updateElem(
      u32b(1),
      percpuU64(2, () => 5),
    ); // replacing is fine when full
    h.deleteElem(u32b(0));
    expect(count()).toBe(2);
    expect(m.kheap.stats().objects).toBe(objects + 2);
  });

  it('BPF_F_LOCK copies values with the bpf_spin_lock taken and the lock word left alone', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'HASH', 'lk', 4, 16, 4, { spinLockOff: 8 });
    const v = new Uint8Array(16).fill(0x5a);
    h.updateElem(u32b(1), v, BPF_F_LOCK); // a new key: the bucket-locked path
    h.updateElem(u32b(1), new Uint8Array(16).fill(0x66), BPF_F_LOCK | BPF_EXIST); // in place
    const got = h.lookupElem(u32b(1), BPF_F_LOCK);
    expect([...got.subarray(8, 12)]).toEqual([0, 0, 0, 0]);
    expect([...got.subarray(0, 8), ...got.subarray(12)]).toEqual(new Array(12).fill(0x66));
    expect(() => h.updateElem(u32b(1), v, BPF_F_LOCK | BPF_NOEXIST)).toThrow(/^EEXIST/);
    expect(() => h.updateElem(u32b(2), v, BPF_F_LOCK | BPF_EXIST)).toThrow(/^ENOENT/);
    const del = h.lookupAndDeleteElem(u32b(1), BPF_F_LOCK);
    expect(del[0]).toBe(0x66);
    expect(() => bpfMapCreate(m, 'LRU_HASH', 'l', 4, 16, 4, { spinLockOff: 0 })).toThrow(
      /^EOPNOTSUPP/,
    );
    expect(() => bpfMapCreate(m, 'PERCPU_HASH', 'l', 4, 16, 4, { spinLockOff: 0 })).toThrow(
      /^EOPNOTSUPP/,
    );
  });

  it('bucket locks are free between operations', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'HASH', 'bl', 4, 8, 4);
    for (let i = 0; i < 4; i++) h.updateElem(u32b(i), u64b(i));
    h.deleteElem(u32b(2));
    const map = hashOf(h);
    for (let i = 0; i < map.nBuckets; i++) {
      expect(new RawSpinlock(m.memory, map.buckets + 16 * i + BUCKET_OFF.raw_lock).locked).toBe(
        false,
      );
    }
  });
});

describe('hash maps from programs on two CPUs', () => {
  /** Runs `source` on `cpu` and returns its exit code. */
  function exitOf(m: Kernel, source: string, cpu: number): bigint {
    const t = m.spawn({ comm: 'prog', cpu, allowed: [cpu], program: m.assemble(source) });
    run(m);
    return t.exitCode;
  }
  /** key in r2 (at r10-8), value in r3 (at r10-16) */
  const args = (key: number, value: number) => `
    *(u64 *)(r10 - 8) = ${key}
    *(u64 *)(r10 - 16) = ${value}
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16`;

  it('HASH: update, lookup that writes in place, delete, errnos in r0', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'HASH', 'hh', 8, 8, 2);
    const update = (cpu: number, key: number, value: number, flags: number) =>
      exitOf(
        m,
        `r1 = hh ll\n${args(key, value)}\nr4 = ${flags}\ncall bpf_map_update_elem\nexit`,
        cpu,
      );
    expect(update(0, 1, 10, BPF_NOEXIST)).toBe(0n);
    expect(update(1, 1, 11, BPF_NOEXIST)).toBe(-17n);
    expect(update(1, 2, 20, BPF_ANY)).toBe(0n);
    expect(update(0, 3, 30, BPF_ANY)).toBe(-7n);
    expect(update(1, 3, 30, BPF_EXIST)).toBe(-2n);
    expect(update(1, 3, 30, 9)).toBe(-22n);
    expect(update(0, 1, 12, BPF_EXIST)).toBe(0n);
    const add = `r1 = hh ll\n${args(2, 0)}\ncall bpf_map_lookup_elem\nif r0 == 0 goto miss
      r1 = 5
      lock *(u64 *)(r0 + 0) += r1
      r0 = *(u64 *)(r0 + 0)
      exit
    miss:
      r0 = -1
      exit`;
    expect(exitOf(m, add, 0)).toBe(25n);
    expect(exitOf(m, add, 1)).toBe(30n);
    expect(readU64(h.lookupElem(u64b(1)))).toBe(12);
    const del = (cpu: number, key: number) =>
      exitOf(m, `r1 = hh ll\n${args(key, 0)}\ncall bpf_map_delete_elem\nexit`, cpu);
    expect(del(1, 2)).toBe(0n);
    expect(del(0, 2)).toBe(-2n);
    expect(exitOf(m, add, 0)).toBe(-1n);
    expect(keysOf(h)).toEqual([1]);
    expect(ofKind(m, 'oops')).toEqual([]);
  });

  for (const [variant, mapFlags] of [
    ['preallocated', 0],
    ['BPF_F_NO_PREALLOC', BPF_F_NO_PREALLOC],
  ] as const)
    it(`PERCPU_HASH, ${variant}: a program writes this CPU’s copy; a new element zeroes the others`, () => {
      const m = booted(2);
      const h = bpfMapCreate(m, 'PERCPU_HASH', 'ph', 8, 8, 4, { mapFlags });
      h.updateElem(
        u64b(1),
        percpuU64(2, (c) => 100 + c),
      );
      const update = (cpu: number, key: number, value: number) =>
        exitOf(m, `r1 = ph ll\n${args(key, value)}\nr4 = 0\ncall bpf_map_update_elem\nexit`, cpu);
      expect(update(1, 1, 7)).toBe(0n);
      expect(perCpuU64s(h.lookupElem(u64b(1)), 2)).toEqual([100, 7]);
      h.deleteElem(u64b(1));
      expect(update(0, 1, 9)).toBe(0n); // a new element: CPU 1's copy zeroed
      expect(perCpuU64s(h.lookupElem(u64b(1)), 2)).toEqual([9, 0]);
      const incr = `r1 = ph ll\n${args(1, 0)}\ncall bpf_map_lookup_elem
      r1 = *(u64 *)(r0 + 0)
      r1 += 1
      *(u64 *)(r0 + 0) = r1
      r1 = ph ll
      r2 = r10
      r2 += -8
      r3 = 0
      call bpf_map_lookup_percpu_elem
      r6 = *(u64 *)(r0 + 0)
      r1 = ph ll
      r2 = r10
      r2 += -8
      r3 = 2
      call bpf_map_lookup_percpu_elem
      if r0 != 0 goto bad
      r0 = r6
      exit
    bad:
      r0 = -1
      exit`;
      expect(exitOf(m, incr, 1)).toBe(9n);
      expect(exitOf(m, incr, 0)).toBe(10n);
      expect(perCpuU64s(h.lookupElem(u64b(1)), 2)).toEqual([10, 1]);
    });

  it('bpf_for_each_map_elem visits every element with this CPU’s value; the callback may delete', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'PERCPU_HASH', 'fe', 8, 8, 8);
    for (let k = 1; k <= 5; k++)
      h.updateElem(
        u64b(k),
        percpuU64(2, (c) => k * 10 + c),
      );
    const code = exitOf(
      m,
      `*(u64 *)(r10 - 8) = 0
      r1 = fe ll
      r2 = func(cb) ll
      r3 = r10
      r3 += -8
      r4 = 0
      call bpf_for_each_map_elem
      r6 = *(u64 *)(r10 - 8)
      r6 <<= 8
      r0 |= r6
      exit
    cb:
      r6 = r2
      r7 = *(u64 *)(r3 + 0)
      r8 = *(u64 *)(r4 + 0)
      r8 += r7
      *(u64 *)(r4 + 0) = r8
      r2 = r6
      call bpf_map_delete_elem
      r0 = 0
      exit`,
      1,
    );
    // 5 visited, sum of CPU 1's copies 11+21+31+41+51 = 155; all deleted.
    expect(code).toBe((155n << 8n) | 5n);
    expect(keysOf(h)).toEqual([]);
  });

  it('a HASH of counters shared by two CPUs loses plain increments; lock += keeps them all', () => {
    const counter = (add: string) => `
        r6 = 0
      loop:
        *(u32 *)(r10 - 4) = 1
        r1 = cnt ll
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem
        if r0 == 0 goto out
        ${add}
        r6 += 1
        if r6 < 200 goto loop
      out:
        r0 = 0
        exit`;
    const total = (add: string) => {
      const m = booted(2);
      const h = bpfMapCreate(m, 'HASH', 'cnt', 4, 8, 4);
      h.updateElem(u32b(1), u64b(0));
      const program = m.assemble(counter(add));
      for (const cpu of [0, 1]) m.spawn({ comm: `c${cpu}`, cpu, allowed: [cpu], program });
      run(m, 1); // the CPUs take turns one instruction at a time
      expect(ofKind(m, 'oops')).toEqual([]);
      return readU64(h.lookupElem(u32b(1)));
    };
    expect(total('r1 = *(u64 *)(r0 + 0)\n r1 += 1\n *(u64 *)(r0 + 0) = r1')).toBeLessThan(400);
    expect(total('r1 = 1\n lock *(u64 *)(r0 + 0) += r1')).toBe(400);
  });

  it('program lookups on an LRU map set the ref bit; syscall lookups do not', () => {
    const m = booted(2);
    const h = bpfMapCreate(m, 'LRU_HASH', 'lr', 8, 8, 8);
    h.updateElem(u64b(1), u64b(1));
    h.updateElem(u64b(2), u64b(2));
    const lru = (h.map as LruHashMap).lru!;
    const pending = () => lru.listNodes(BPF_LRU_LIST_T.LOCAL_PENDING, 0);
    const refs = () => pending().map((n) => readLruNodeRef(m.memory, n));
    expect(refs()).toEqual([0, 0]);
    h.lookupElem(u64b(1));
    expect(refs()).toEqual([0, 0]);
    exitOf(m, `r1 = lr ll\n${args(1, 0)}\ncall bpf_map_lookup_elem\nexit`, 1);
    expect(refs()).toEqual([0, 1]); // key 1 is the older node, at the tail
  });
});
