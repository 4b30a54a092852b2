import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BpfLru,
  bpfLruListType,
  LOCAL_FREE_TARGET,
  PERCPU_FREE_TARGET,
} from '../../maps/bpf-lru-list.ts';
import {
  BPF_LRU_LIST_T,
  bpfLruNodeType,
  readLruNodeCpu,
  readLruNodeRef,
  readLruNodeType,
} from '../../maps/bpf-lru-node.ts';
import { BPF_ANY, BPF_EXIST, BPF_NOEXIST } from '../../maps/bpf-uapi.ts';
import { ERRNO } from '../../segments/errno.ts';
import {
  ELEM_SIZE,
  expectLruConsistent,
  FakeLruHtab,
  HASH_OFFSET,
  hashOf,
} from './bpf-lru-fixtures.ts';

const { ACTIVE, INACTIVE, FREE, LOCAL_FREE, LOCAL_PENDING } = BPF_LRU_LIST_T;

const common = (cpus: number, nrElems: number) => new FakeLruHtab({ cpus, nrElems, percpu: false });
const perCpu = (cpus: number, nrElems: number) => new FakeLruHtab({ cpus, nrElems, percpu: true });

/** Inserts keys `from..to` on `cpu`, each expected to succeed. */
function insert(h: FakeLruHtab, from: number, to: number, cpu = 0): void {
  for (let k = from; k <= to; k++) expect(h.update(k, cpu)).toBe(0);
}

describe('bpf_lru layout', () => {
  it('keeps the kernel bpf_lru_node: the list link first, then cpu, type and ref in 12 bytes', () => {
    expect(bpfLruNodeType.size).toBe(12);
    expect(bpfLruNodeType.field('list').offset).toBe(0);
    expect(bpfLruNodeType.field('cpu').offset).toBe(8);
    expect(bpfLruNodeType.field('type').offset).toBe(10);
    expect(bpfLruNodeType.field('ref').offset).toBe(11);
  });

  it('puts a bpf_lru_list lock one cache line in, as ____cacheline_aligned_in_smp does', () => {
    expect(bpfLruListType.field('lock').offset).toBe(64);
  });
});

describe('bpf_lru_populate', () => {
  it.each([
    [4, 2, 1],
    [4, 100, 12],
    [4, 2000, LOCAL_FREE_TARGET],
    [1, 3, 1],
    [2, 1088, LOCAL_FREE_TARGET],
  ])(
    'common, %i CPUs, %i elements: all on the global free list, target_free %i',
    (cpus, n, tgt) => {
      const h = common(cpus, n);
      expect(h.lru.targetFree).toBe(tgt);
      expect(h.lru.listNodes(FREE)).toHaveLength(n);
      expect(h.lru.listNodes(FREE)[0]).toBe(h.node(n - 1));
      for (let cpu = 0; cpu < cpus; cpu++) {
        expect(h.lru.listNodes(LOCAL_FREE, cpu)).toEqual([]);
        expect(h.lru.nextSteal(cpu)).toBe(cpu);
      }
      expectLruConsistent(h);
    },
  );

  it('per-CPU: gives each CPU nr_elems / nr_cpus consecutive elements, CPU 0 first', () => {
    const h = perCpu(3, 6);
    expect(h.lru.listNodes(FREE, 0)).toEqual([h.node(1), h.node(0)]);
    expect(h.lru.listNodes(FREE, 1)).toEqual([h.node(3), h.node(2)]);
    expect(h.lru.listNodes(FREE, 2)).toEqual([h.node(5), h.node(4)]);
    expect(readLruNodeCpu(h.m.memory, h.node(3))).toBe(1);
    expectLruConsistent(h);
  });

  it('per-CPU: refuses element counts that do not spread evenly over the CPUs', () => {
    expect(() => perCpu(4, 6)).toThrow(/EINVAL: 6 elements do not spread evenly over 4 CPUs/);
    expect(() => perCpu(4, 0)).toThrow(/EINVAL/);
  });

  it('refuses misaligned nodes, nodes that overflow their element, and memory out of range', () => {
    const h = common(1, 0);
    expect(() => h.lru.populate(h.elems, 2, ELEM_SIZE, 4)).toThrow(/not 4-aligned/);
    expect(() => h.lru.populate(h.elems, 24, ELEM_SIZE, 4)).toThrow(/does not fit/);
    expect(() => h.lru.populate(h.m.memory.size - 64, 0, 32, 4)).toThrow(/EFAULT/);
  });

  it('refuses a hash offset that is not a multiple of 4 and a misaligned struct bpf_lru', () => {
    const h = common(1, 0);
    const addr = h.m.map.reserve('another bpf_lru', BpfLru.size, 64).start;
    const delFromHtab = () => false;
    expect(() => BpfLru.init(h.m, addr, { percpu: false, hashOffset: 6, delFromHtab })).toThrow(
      /EINVAL: hash offset 6/,
    );
    expect(() => BpfLru.init(h.m, addr + 2, { percpu: false, hashOffset: 8, delFromHtab })).toThrow(
      /not 4-aligned/,
    );
  });
});

describe('common LRU pop_free', () => {
  it('pops the first node of this CPU local free list without touching the global lists', () => {
    const h = common(2, 8); // target_free 2
    insert(h, 1, 1);
    expect(h.lru.listNodes(LOCAL_FREE, 0)).toHaveLength(1);
    const global = h.lru.listNodes(FREE);
    const next = h.lru.listNodes(LOCAL_FREE, 0)[0];
    insert(h, 2, 2);
    expect(h.byKey.get(2)).toBe(next);
    expect(h.lru.listNodes(FREE)).toEqual(global);
    expect(h.lru.listNodes(LOCAL_FREE, 0)).toEqual([]);
  });

  it('refills an empty local free list with target_free nodes from the head of the global free list', () => {
    const h = common(2, 8);
    insert(h, 1, 1);
    // node(7) and node(6) moved, each to the front of the local list; node(6) popped.
    expect(h.byKey.get(1)).toBe(h.node(6));
    expect(h.lru.listNodes(LOCAL_FREE, 0)).toEqual([h.node(7)]);
    expect(h.lru.listNodes(FREE)).toHaveLength(6);
    expect(h.lru.listNodes(FREE)[0]).toBe(h.node(5));
    expectLruConsistent(h);
  });

  it('leaves the node pending on this CPU with its hash written and its ref bit clear', () => {
    const h = common(2, 8);
    insert(h, 1, 1, 1);
    const node = h.byKey.get(1)!;
    expect(h.lru.listNodes(LOCAL_PENDING, 1)).toEqual([node]);
    expect(readLruNodeType(h.m.memory, node)).toBe(LOCAL_PENDING);
    expect(readLruNodeCpu(h.m.memory, node)).toBe(1);
    expect(readLruNodeRef(h.m.memory, node)).toBe(0);
    expect(h.m.memory.read32(node + HASH_OFFSET)).toBe(hashOf(1));
  });

  it('flushes this CPU pending nodes on refill, oldest first: referenced to active, the others to inactive', () => {
    const h = common(1, 8); // target_free 4
    insert(h, 1, 4);
    expect(h.keys(LOCAL_PENDING)).toEqual([4, 3, 2, 1]);
    h.lookup(2, true);
    insert(h, 5, 5);
    expect(h.keys(ACTIVE)).toEqual([2]);
    expect(h.keys(INACTIVE)).toEqual([4, 3, 1]);
    expect(readLruNodeRef(h.m.memory, h.byKey.get(2)!)).toBe(0);
    expect(h.keys(LOCAL_PENDING)).toEqual([5]);
    expect([h.lru.count(ACTIVE), h.lru.count(INACTIVE)]).toEqual([1, 3]);
    expectLruConsistent(h);
  });

  it('rotates referenced inactive nodes to active, then shrinks the oldest unreferenced ones through del_from_htab (cf. sanity1)', () => {
    const h = common(1, 8);
    insert(h, 1, 5);
    for (const k of [1, 2, 3]) h.lookup(k, true);
    insert(h, 6, 8);
    insert(h, 9, 9); // refill: flush 5..8, rotate 1..3 to active, shrink 4 oldest unreferenced
    expect(h.keys(ACTIVE)).toEqual([3, 2, 1]);
    expect(h.lru.listNodes(ACTIVE).map((n) => readLruNodeRef(h.m.memory, n))).toEqual([0, 0, 0]);
    expect(h.evicted).toEqual([4, 5, 6, 7]);
    expect(h.keys(INACTIVE)).toEqual([8]);
    expect(h.keys(LOCAL_PENDING)).toEqual([9]);
    expect(h.lru.listNodes(LOCAL_FREE, 0)).toHaveLength(3);
    expectLruConsistent(h);
  });

  it('rotates the active list when inactive is the smaller: referenced nodes stay active, others go inactive (cf. sanity3)', () => {
    const h = common(1, 8);
    insert(h, 1, 5);
    for (const k of [1, 2, 3]) h.lookup(k, true);
    insert(h, 6, 9); // as above: active [3, 2, 1], inactive [8]
    h.lookup(3, true);
    insert(h, 10, 12);
    for (const k of [9, 10, 11, 12]) h.lookup(k, true);
    // Refill: the referenced pending 9..12 flush to active (ref cleared), so
    // active (7) outnumbers inactive (1) and the active list rotates from its
    // tail: 1 and 2 demoted, 3 (referenced) back to the head, 9..12 demoted.
    insert(h, 13, 13);
    expect(h.keys(ACTIVE)).toEqual([3]);
    expect(h.evicted.slice(4)).toEqual([8, 1, 2, 9]);
    expect(h.keys(INACTIVE)).toEqual([12, 11, 10]);
    expect(h.keys(LOCAL_PENDING)).toEqual([13]);
    expectLruConsistent(h);
  });

  it('force-shrinks one node from the active tail when the inactive list is left empty', () => {
    const h = common(1, 4); // target_free 2
    insert(h, 1, 4); // inactive [2, 1], pending [4, 3]
    for (let k = 1; k <= 4; k++) h.lookup(k, true);
    // Refill: 3 and 4 flush to active, the inactive rotation moves 1 and 2 to
    // active too, so the shrink finds no inactive node and takes the active tail.
    insert(h, 5, 5);
    expect(h.evicted).toEqual([3]);
    expect(h.keys(ACTIVE)).toEqual([2, 1, 4]);
    expect(h.liveKeys()).toEqual([1, 2, 4, 5]);
    expectLruConsistent(h);
  });

  it('force-shrinks one referenced inactive node when a shrink pass met only referenced ones', () => {
    const h = perCpu(1, 12); // nr_scans 4
    insert(h, 1, 12);
    for (let k = 1; k <= 12; k++) h.lookup(k, true);
    // Rotation moves 4 referenced nodes to active, the shrink pass 4 more,
    // and the forced eviction takes the (still referenced) inactive tail.
    const tail = h.keys(INACTIVE);
    insert(h, 13, 13);
    expect(h.evicted).toHaveLength(1);
    expect(tail).toContain(h.evicted[0]);
    expect(h.lru.count(ACTIVE)).toBe(8);
    expect(h.keys(INACTIVE)[0]).toBe(13);
    expectLruConsistent(h);
  });

  it('steals from another CPU local free list when the global list has nothing to give (next_steal starts at this CPU)', () => {
    const h = common(3, 3); // target_free 1
    insert(h, 1, 2, 1); // 1 flushed to the global inactive list, 2 pending on CPU 1
    insert(h, 3, 3, 0); // the global free list is now empty
    expect(h.delete(2, 1)).toBe(0); // back to CPU 1's local free list
    const spare = h.lru.listNodes(LOCAL_FREE, 1);
    expect(spare).toHaveLength(1);
    h.refuse.add(1).add(3);
    expect(h.update(4, 0)).toBe(0);
    expect(h.byKey.get(4)).toBe(spare[0]);
    expect(readLruNodeCpu(h.m.memory, spare[0])).toBe(0);
    expect(h.lru.listNodes(LOCAL_FREE, 1)).toEqual([]);
    expect(h.lru.nextSteal(0)).toBe(2); // the CPU after the one stolen from
    expectLruConsistent(h);
  });

  it('steals the oldest unreferenced pending node of another CPU, and a referenced one only when all are (cf. sanity5)', () => {
    const h = common(2, 8); // target_free 2
    insert(h, 1, 2, 1);
    h.lookup(1, true);
    insert(h, 3, 8, 0);
    for (let k = 3; k <= 9; k++) h.refuse.add(k);
    expect(h.update(9, 0)).toBe(0);
    expect(h.evicted).toEqual([2]);
    expect(h.keys(LOCAL_PENDING, 1)).toEqual([1]);
    h.refuse.add(9).add(10);
    expect(h.update(10, 0)).toBe(0);
    expect(h.evicted).toEqual([2, 1]);
    expect(h.keys(LOCAL_PENDING, 1)).toEqual([]);
    expectLruConsistent(h);
  });

  it('returns 0 when no list anywhere can give a node', () => {
    const h = common(2, 4);
    insert(h, 1, 4);
    for (let k = 1; k <= 4; k++) h.refuse.add(k);
    expect(h.lru.popFree(1, 5)).toBe(0);
    expect(h.update(5, 1)).toBe(-ERRNO.ENOMEM);
    expect(h.liveKeys()).toEqual([1, 2, 3, 4]);
    expectLruConsistent(h);
  });

  it('refuses a CPU that does not exist', () => {
    const h = common(2, 4);
    expect(() => h.lru.popFree(2, 0)).toThrow(/EINVAL: CPU 2/);
    expect(() => h.lru.popFree(-1, 0)).toThrow(/EINVAL: CPU -1/);
  });
});

describe('common LRU push_free', () => {
  it('gives a pending node back to its owner CPU local free list, even from another CPU (cf. sanity4)', () => {
    const h = common(2, 8);
    insert(h, 1, 1, 1);
    const node = h.byKey.get(1)!;
    h.lookup(1, true);
    expect(h.delete(1, 0)).toBe(0);
    expect(h.lru.listNodes(LOCAL_FREE, 1)[0]).toBe(node);
    expect(readLruNodeType(h.m.memory, node)).toBe(LOCAL_FREE);
    expect(readLruNodeRef(h.m.memory, node)).toBe(0);
    insert(h, 2, 2, 1);
    expect(h.byKey.get(2)).toBe(node);
    expectLruConsistent(h);
  });

  it('moves a node on the global active or inactive list to the global free list', () => {
    const h = common(1, 8);
    insert(h, 1, 5);
    expect(h.keys(INACTIVE)).toEqual([4, 3, 2, 1]);
    const node = h.byKey.get(2)!;
    expect(h.delete(2)).toBe(0);
    expect(h.lru.listNodes(FREE)[0]).toBe(node);
    expect(h.lru.count(INACTIVE)).toBe(3);
    expectLruConsistent(h);
  });

  it('refuses to free a node that is already free (the kernel WARN_ON_ONCE)', () => {
    const h = common(1, 8);
    insert(h, 1, 1);
    expect(() => h.lru.pushFree(h.lru.listNodes(FREE)[0], 0)).toThrow(
      /EINVAL: bpf_lru_push_free of node 0x[0-9a-f]+, which is on BPF_LRU_LIST_T_FREE/,
    );
    expect(() => h.lru.pushFree(h.lru.listNodes(LOCAL_FREE, 0)[0], 0)).toThrow(
      /BPF_LRU_LOCAL_LIST_T_FREE/,
    );
  });
});

describe('per-CPU LRU (BPF_F_NO_COMMON_LRU)', () => {
  it('pops from this CPU free list only, onto its inactive list, hash written', () => {
    const h = perCpu(2, 8);
    insert(h, 1, 1, 1);
    const node = h.byKey.get(1)!;
    expect(h.lru.listNodes(INACTIVE, 1)).toEqual([node]);
    expect(readLruNodeCpu(h.m.memory, node)).toBe(1);
    expect(h.m.memory.read32(node + HASH_OFFSET)).toBe(hashOf(1));
    expect(h.lru.listNodes(FREE, 0)).toHaveLength(4);
    expect(h.lru.listNodes(FREE, 1)).toHaveLength(3);
    expectLruConsistent(h);
  });

  it('evicts from this CPU own list when it is full, never taking another CPU free nodes', () => {
    const h = perCpu(2, 4);
    insert(h, 1, 2, 0);
    const cpu1Free = h.lru.listNodes(FREE, 1);
    insert(h, 3, 4, 0); // the shrink for 3 frees both unreferenced nodes, 1 and 2
    expect(h.evicted).toEqual([1, 2]);
    h.refuse.add(3).add(4);
    expect(h.update(5, 0)).toBe(-ERRNO.ENOMEM);
    expect(h.lru.listNodes(FREE, 1)).toEqual(cpu1Free);
    expectLruConsistent(h);
  });

  it('shrinks PERCPU_FREE_TARGET nodes at once when the free list is empty', () => {
    const h = perCpu(1, 8);
    insert(h, 1, 8);
    insert(h, 9, 9);
    expect(h.evicted).toEqual([1, 2, 3, 4]);
    expect(h.lru.listNodes(FREE)).toHaveLength(PERCPU_FREE_TARGET - 1);
    expectLruConsistent(h);
  });

  it('rotates at most PERCPU_NR_SCANS inactive nodes and resumes where it stopped (cf. sanity6)', () => {
    const h = perCpu(1, 8);
    insert(h, 1, 6); // the pop of 6 rotated 1..4 and stopped before 5
    expect(h.label(h.lru.nextInactiveRotation())).toBe(5);
    h.lookup(1, true);
    h.lookup(3, true);
    insert(h, 7, 7); // rotation visits 5, 6, then wraps to 1, 2: 1 goes active, 3 is not reached
    expect(h.keys(ACTIVE)).toEqual([1]);
    expect(h.keys(INACTIVE)).toEqual([7, 6, 5, 4, 3, 2]);
    expect(h.label(h.lru.nextInactiveRotation())).toBe(3);
    expect(readLruNodeRef(h.m.memory, h.byKey.get(3)!)).toBe(1);
    expectLruConsistent(h);
  });

  it('moves the next inactive rotation one nearer the head when its node is freed', () => {
    const h = perCpu(1, 8);
    insert(h, 1, 6);
    expect(h.delete(5)).toBe(0);
    expect(h.label(h.lru.nextInactiveRotation())).toBe(6);
    expectLruConsistent(h);
  });

  it('gives a node back to its owner CPU free list, even from another CPU', () => {
    const h = perCpu(2, 4);
    insert(h, 1, 1, 1);
    const node = h.byKey.get(1)!;
    expect(h.delete(1, 0)).toBe(0);
    expect(h.lru.listNodes(FREE, 1)[0]).toBe(node);
    expect(h.lru.listNodes(FREE, 0)).toHaveLength(2);
    expectLruConsistent(h);
  });

  it('has no local lists', () => {
    const h = perCpu(2, 4);
    expect(() => h.lru.listNodes(LOCAL_FREE, 0)).toThrow(/EINVAL: a BPF_F_NO_COMMON_LRU LRU/);
  });
});

describe('bpf_lru_node_set_ref', () => {
  it('sets the ref bit, which the next move between lists clears (cf. sanity0, sanity7, sanity8)', () => {
    const h = common(1, 8);
    insert(h, 1, 1);
    const node = h.byKey.get(1)!;
    h.lru.setRef(node);
    h.lru.setRef(node);
    expect(readLruNodeRef(h.m.memory, node)).toBe(1);
    insert(h, 2, 5); // the refill flushes 1 to active, clearing the bit
    expect(h.keys(ACTIVE)).toEqual([1]);
    expect(readLruNodeRef(h.m.memory, node)).toBe(0);
  });
});

describe('locking', () => {
  it('calls del_from_htab with the global lock and this CPU local lock held during a refill', () => {
    const h = common(2, 4);
    insert(h, 1, 2, 1);
    const held: [number, number, boolean][] = [];
    h.onDel = () =>
      held.push([h.lru.lock().holder, h.lru.lock(1, true).holder, h.lru.lock(0, true).locked]);
    insert(h, 3, 5, 1); // the refill for 5 finds no free node and shrinks
    expect(held.length).toBeGreaterThan(0);
    for (const entry of held) expect(entry).toEqual([1, 1, false]);
  });

  it('holds only the victim local lock while stealing', () => {
    const h = common(2, 2); // target_free 1
    insert(h, 1, 1, 1);
    insert(h, 2, 2, 0);
    h.refuse.add(2);
    const held: boolean[][] = [];
    h.onDel = (node, cpu) => {
      if (h.keyOfNode.get(node) === 1) {
        expect(cpu).toBe(0);
        held.push([h.lru.lock().locked, h.lru.lock(0, true).locked, h.lru.lock(1, true).locked]);
      }
    };
    h.refuse.add(1);
    expect(h.update(3, 0)).toBe(-ERRNO.ENOMEM);
    expect(held.at(-1)).toEqual([false, false, true]);
  });

  it('per-CPU LRU: holds this CPU list lock only', () => {
    const h = perCpu(2, 4);
    insert(h, 1, 2, 1);
    const held: [number, boolean][] = [];
    h.onDel = () => held.push([h.lru.lock(1).holder, h.lru.lock(0).locked]);
    insert(h, 3, 3, 1);
    expect(held).toEqual([
      [1, false],
      [1, false],
    ]);
  });

  it('reports a lock already held as a deadlock (EBUSY), and releases its locks when del_from_htab throws', () => {
    const h = common(1, 2);
    insert(h, 1, 2);
    const lock = h.lru.lock(0, true);
    lock.lock(0);
    expect(() => h.lru.popFree(0, 3)).toThrow(/EBUSY: spinlock recursion on CPU#0/);
    lock.unlock(0);
    h.onDel = () => {
      throw new Error('bucket lock trouble');
    };
    expect(() => h.update(3)).toThrow(/bucket lock trouble/);
    h.onDel = null;
    expectLruConsistent(h);
    expect(h.update(3)).toBe(0);
  });
});

describe('handles', () => {
  it('gives a second handle (a worker view) the same LRU in memory', () => {
    const h = common(2, 8);
    insert(h, 1, 3, 1);
    const other = BpfLru.attach(h.m, h.lru.addr, () => false);
    expect(other.percpu).toBe(false);
    expect(other.targetFree).toBe(2);
    expect(other.hashOffset).toBe(HASH_OFFSET);
    expect(other.listNodes(LOCAL_PENDING, 1)).toEqual(h.lru.listNodes(LOCAL_PENDING, 1));
    const node = other.popFree(1, 77);
    expect(h.lru.listNodes(LOCAL_PENDING, 1)[0]).toBe(node);
  });

  it('bpf_lru_destroy frees the per-CPU lists', () => {
    const h = perCpu(2, 4);
    expect(h.m.percpu.sizeOf(h.lru.pcpuPtr)).toBeGreaterThan(0);
    h.lru.destroy();
    expect(h.m.percpu.sizeOf(h.lru.pcpuPtr)).toBeUndefined();
  });
});

/**
 * test_lru_map.c's sanity tests, played against the LRU lists through the
 * LRU_HASH stand-in (test/maps/bpf-lru-fixtures.ts) on CPU 0, as the
 * selftest pins itself to the first CPU. LRU_PERCPU_HASH differs only in
 * its update path (no pop for BPF_EXIST, in-place updates), which belongs to
 * the hash table.
 */
describe.each([2, 4])('test_lru_map.c sanity tests, %i CPUs', (nrCpus) => {
  const tgtSize = (mapSize: number) => Math.floor(mapSize / nrCpus / 2);
  const mapSize = (tgtFree: number) => tgtFree * nrCpus * 2;
  const expectKeys = (h: FakeLruHtab, keys: number[]) =>
    expect(h.liveKeys()).toEqual([...keys].sort((a, b) => a - b));
  const range = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => from + i);

  /** sanity0, and sanity7 where a syscall lookup of 2 leaves it unreferenced. */
  it.each([
    ['sanity0', false, [1, 3]],
    ['sanity7', true, [1, 3]],
  ] as const)(
    '%s: of two keys the referenced one survives a third insert',
    (_, sysLookup2, left) => {
      for (const percpu of [false, true]) {
        const h = new FakeLruHtab({ cpus: nrCpus, nrElems: percpu ? 2 * nrCpus : 2, percpu });
        expect(h.update(1)).toBe(0);
        expect(h.update(1, 0, BPF_NOEXIST)).toBe(-ERRNO.EEXIST);
        expect(h.lookup(2, false)).toBe(false);
        expect(h.update(2, 0, BPF_EXIST)).toBe(-ERRNO.ENOENT);
        expect(h.update(2)).toBe(0);
        expect(h.lookup(1, true)).toBe(true);
        if (sysLookup2) expect(h.lookup(2, false)).toBe(true);
        expect(h.update(3)).toBe(0);
        expect(h.lookup(2, false)).toBe(false);
        expectKeys(h, [...left]);
        expectLruConsistent(h);
      }
    },
  );

  it('sanity8: a syscall lookup does not save a key, a program lookup does', () => {
    for (const percpu of [false, true]) {
      const h = new FakeLruHtab({ cpus: nrCpus, nrElems: percpu ? 2 * nrCpus : 2, percpu });
      insert(h, 1, 2);
      expect(h.lookup(1, false)).toBe(true);
      expect(h.lookup(2, true)).toBe(true);
      expect(h.update(3)).toBe(0);
      expectKeys(h, [2, 3]);
    }
  });

  it('sanity1: unreferenced elements are recycled before referenced ones (common LRU)', () => {
    const tgtFree = LOCAL_FREE_TARGET;
    const batch = tgtFree / 2;
    const h = common(nrCpus, mapSize(tgtFree) + batch);
    insert(h, 1, mapSize(tgtFree));
    for (let k = 1; k <= batch; k++) expect(h.lookup(k, true)).toBe(true);
    const from = 1 + mapSize(tgtFree);
    insert(h, from, from + mapSize(tgtFree) - 1);
    expectKeys(h, [...range(1, batch), ...range(from, from + mapSize(tgtFree) - 1)]);
    expectLruConsistent(h);
  });

  it('sanity2: inserting past the size recycles the oldest, unreferenced before referenced (common LRU)', () => {
    const tgtFree = LOCAL_FREE_TARGET;
    const batch = tgtFree / 2;
    const h = common(nrCpus, mapSize(tgtFree) + batch);
    insert(h, 1, mapSize(tgtFree));
    // The pop comes first and evicts the oldest key, 1, so BPF_EXIST on it fails.
    expect(h.update(1, 0, BPF_EXIST)).toBe(-ERRNO.ENOENT);
    for (let k = 1; k <= batch; k++) {
      expect(h.lookup(k, false)).toBe(false);
      expect(h.update(k)).toBe(0);
      expect(h.lookup(k, true)).toBe(true);
    }
    let key = 1 + mapSize(tgtFree);
    insert(h, key, key + batch - 1);
    key += batch;
    insert(h, key, key + mapSize(tgtFree) - 1);
    expectKeys(h, [...range(1, batch), ...range(key, key + mapSize(tgtFree) - 1)]);
    expectLruConsistent(h);
  });

  it('sanity3: one shrink replaces the non-referenced elements (active/inactive rotation, common LRU)', () => {
    const tgtFree = LOCAL_FREE_TARGET;
    const size = tgtFree * 2;
    const batch = tgtSize(tgtFree); // the selftest's __tgt_size(tgt_free)
    const h = common(nrCpus, size);
    insert(h, 1, size);
    for (let k = 1; k <= size - batch; k++) expect(h.lookup(k, true)).toBe(true);
    insert(h, 2 * tgtFree + 1, 2 * tgtFree + batch);
    expectKeys(h, [...range(1, size - batch), ...range(2 * tgtFree + 1, 2 * tgtFree + batch)]);
    expectLruConsistent(h);
  });

  it.each([false, true])('sanity4: deleted elements are reused (per-CPU LRU: %s)', (percpu) => {
    const tgtFree = percpu ? PERCPU_FREE_TARGET : LOCAL_FREE_TARGET;
    const size = percpu ? 3 * tgtFree * nrCpus : 3 * mapSize(tgtFree);
    const h = new FakeLruHtab({ cpus: nrCpus, nrElems: size, percpu });
    insert(h, 1, 2 * tgtFree);
    expect(h.update(1, 0, BPF_NOEXIST)).toBe(-ERRNO.EEXIST);
    for (let k = 1; k <= tgtFree; k++) expect(h.lookup(k, true)).toBe(true);
    for (let k = tgtFree + 1; k <= 2 * tgtFree; k++) {
      expect(h.delete(k)).toBe(0);
      expect(h.delete(k)).toBe(-ERRNO.ENOENT);
    }
    insert(h, 2 * tgtFree + 1, 4 * tgtFree);
    expectKeys(h, [...range(1, tgtFree), ...range(2 * tgtFree + 1, 4 * tgtFree)]);
    expectLruConsistent(h);
  });

  it('sanity5: a one-element map hands its element from CPU to CPU (stealing, common LRU)', () => {
    const h = common(nrCpus, 1);
    expect(h.update(0)).toBe(0);
    for (let cpu = 0; cpu < nrCpus; cpu++) {
      expect(h.lookup(cpu, true)).toBe(true);
      expect(h.update(cpu + 1, cpu)).toBe(0);
      expect(h.lookup(cpu + 1, true)).toBe(true);
      expect(h.lookup(cpu, false)).toBe(false);
      expectLruConsistent(h);
    }
  });

  it('sanity6: sticky ref bits keep keys through rotation (per-CPU LRU)', () => {
    const tgtFree = PERCPU_FREE_TARGET;
    const size = tgtFree * 2;
    const h = perCpu(nrCpus, size * nrCpus);
    insert(h, 1, tgtFree);
    for (let key = tgtFree + 1; key <= 2 * tgtFree; key++) {
      for (let s = 1; s <= tgtFree; s++) expect(h.lookup(s, true)).toBe(true);
      expect(h.update(key)).toBe(0);
    }
    insert(h, 2 * tgtFree + 1, 3 * tgtFree);
    expectKeys(h, [...range(1, tgtFree), ...range(2 * tgtFree + 1, 3 * tgtFree)]);
    expectLruConsistent(h);
  });
});

describe('property', () => {
  const cpu = fc.nat(3);
  const pick = fc.nat();
  const op = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('insert' as const),
        cpu,
        flags: fc.constantFrom(BPF_ANY, BPF_NOEXIST),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('replace' as const), cpu, pick }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), cpu, pick }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('ref' as const), pick }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('refuse' as const), pick }) },
  );

  it('never loses or duplicates a node, whatever ops run on whichever CPUs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 12 }),
        fc.boolean(),
        fc.array(op, { minLength: 20, maxLength: 120 }),
        (cpus, perCpuElems, percpu, ops) => {
          const nrElems = percpu ? perCpuElems * cpus : perCpuElems * 2;
          const h = new FakeLruHtab({ cpus, nrElems, percpu });
          let nextKey = 1;
          const live = () => h.liveKeys();
          for (const o of ops) {
            const keys = live();
            const picked =
              keys.length === 0 || o.kind === 'insert' ? -1 : keys[o.pick % keys.length];
            switch (o.kind) {
              case 'insert':
                h.update(nextKey++, o.cpu % cpus, o.flags);
                break;
              case 'replace':
                if (picked >= 0) h.update(picked, o.cpu % cpus, BPF_EXIST);
                break;
              case 'delete':
                if (picked >= 0) expect(h.delete(picked, o.cpu % cpus)).toBe(0);
                break;
              case 'ref':
                if (picked >= 0) h.lookup(picked, true);
                break;
              case 'refuse':
                if (picked >= 0 && !h.refuse.delete(picked)) h.refuse.add(picked);
                break;
            }
            expectLruConsistent(h);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
