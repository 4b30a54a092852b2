/**
 * A small LRU_HASH stand-in over BpfLru for the LRU list tests: preallocated
 * elements in emulated memory, a JS Map for the buckets, and the update,
 * lookup and delete paths of htab_lru_map_* as far as the LRU sees them
 * (pop a node before looking at the key; give back the new node on error or
 * the old one on replace; a program lookup sets the ref bit, a syscall one
 * does not). Plus a checker of every LRU list invariant.
 */

import { expect } from 'vitest';
import { BpfLru } from '../../maps/bpf-lru-list.ts';
import {
  BPF_LRU_LIST_T,
  type BpfLruListType,
  lruListTypeName,
  readLruNodeCpu,
  readLruNodeType,
} from '../../maps/bpf-lru-node.ts';
import { BPF_EXIST, BPF_NOEXIST } from '../../maps/bpf-uapi.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { ERRNO } from '../../segments/errno.ts';

/** Element layout: 8 bytes of hash-node link, the LRU node, the u32 hash, the u32 key. */
export const ELEM_SIZE = 32;
export const NODE_OFFSET = 8;
export const HASH_OFFSET = 12;
const KEY_OFFSET = 24;

/** The hash the stand-in gives a key. */
export const hashOf = (key: number): number => Math.imul(key, 0x9e3779b1) >>> 0;

export interface LruSetup {
  cpus: number;
  nrElems: number;
  percpu: boolean;
}

export class FakeLruHtab {
  readonly m: Kernel;
  readonly lru: BpfLru;
  readonly elems: number;
  readonly nrElems: number;
  readonly byKey = new Map<number, number>();
  readonly keyOfNode = new Map<number, number>();
  /** Keys whose elements del_from_htab refuses to give up (as if not found in their bucket). */
  readonly refuse = new Set<number>();
  /** Keys evicted by del_from_htab, in order. */
  readonly evicted: number[] = [];
  /** Called inside del_from_htab with the node and the popping CPU, before deciding. */
  onDel: ((node: number, cpu: number) => void) | null = null;

  constructor({ cpus, nrElems, percpu }: LruSetup) {
    this.m = new Machine({ cpus, trace: false }).boot();
    this.nrElems = nrElems;
    this.elems = this.m.map.reserve('lru test elements', Math.max(nrElems, 1) * ELEM_SIZE, 8).start;
    const lruAddr = this.m.map.reserve('bpf_lru', BpfLru.size, 64).start;
    this.lru = BpfLru.init(this.m, lruAddr, {
      percpu,
      hashOffset: HASH_OFFSET,
      delFromHtab: (node, cpu) => this.delFromHtab(node, cpu),
    });
    this.lru.populate(this.elems, NODE_OFFSET, ELEM_SIZE, nrElems);
  }

  /** The LRU node of element `i`. */
  node(i: number): number {
    return this.elems + i * ELEM_SIZE + NODE_OFFSET;
  }

  /** The key last stored in the element holding `node` (it stays after eviction). */
  label(node: number): number {
    return this.m.memory.read32(node - NODE_OFFSET + KEY_OFFSET);
  }

  /** The keys of a list's nodes, head (newest) to tail. */
  keys(type: BpfLruListType, cpu = 0): number[] {
    return this.lru.listNodes(type, cpu).map((n) => this.label(n));
  }

  /** htab_lru_map_delete_node. */
  private delFromHtab(node: number, cpu: number): boolean {
    this.onDel?.(node, cpu);
    const key = this.keyOfNode.get(node);
    if (key === undefined || this.refuse.has(key)) return false;
    this.byKey.delete(key);
    this.keyOfNode.delete(node);
    this.evicted.push(key);
    return true;
  }

  /** htab_lru_map_update_elem's LRU side: 0 or a negative errno. */
  update(key: number, cpu = 0, flags = BPF_NOEXIST): number {
    const node = this.lru.popFree(cpu, hashOf(key));
    if (node === 0) return -ERRNO.ENOMEM;
    const old = this.byKey.get(key);
    if (
      (old !== undefined && flags === BPF_NOEXIST) ||
      (old === undefined && flags === BPF_EXIST)
    ) {
      this.lru.pushFree(node, cpu);
      return old === undefined ? -ERRNO.ENOENT : -ERRNO.EEXIST;
    }
    this.m.memory.write32(node - NODE_OFFSET + KEY_OFFSET, key);
    this.byKey.set(key, node);
    this.keyOfNode.set(node, key);
    if (old !== undefined) {
      this.keyOfNode.delete(old);
      this.lru.pushFree(old, cpu);
    }
    return 0;
  }

  /** A lookup: a program's (`ref`, bpf_lru_node_set_ref) or a syscall's. */
  lookup(key: number, ref: boolean): boolean {
    const node = this.byKey.get(key);
    if (node === undefined) return false;
    if (ref) this.lru.setRef(node);
    return true;
  }

  /** htab_lru_map_delete_elem: 0 or -ENOENT. */
  delete(key: number, cpu = 0): number {
    const node = this.byKey.get(key);
    if (node === undefined) return -ERRNO.ENOENT;
    this.byKey.delete(key);
    this.keyOfNode.delete(node);
    this.lru.pushFree(node, cpu);
    return 0;
  }

  liveKeys(): number[] {
    return [...this.byKey.keys()].sort((a, b) => a - b);
  }
}

const GLOBAL_TYPES = [BPF_LRU_LIST_T.ACTIVE, BPF_LRU_LIST_T.INACTIVE, BPF_LRU_LIST_T.FREE] as const;
const LOCAL_TYPES = [BPF_LRU_LIST_T.LOCAL_FREE, BPF_LRU_LIST_T.LOCAL_PENDING] as const;

/**
 * Every node on exactly one list, of its type, with consistent links;
 * counts right; next_inactive_rotation on the INACTIVE list; pending and
 * per-CPU nodes marked with their CPU; the table's elements exactly the
 * nodes that are not free; every lock free. Plain checks rather than one
 * expect per node, so the property test stays quick.
 */
export function expectLruConsistent(h: FakeLruHtab): void {
  const { lru, m } = h;
  const mem = m.memory;
  const where = new Map<number, number>();
  const inUse: number[] = [];
  const hex = (a: number) => `0x${a.toString(16)}`;
  const check = (ok: boolean, what: () => string) => {
    if (!ok) expect.fail(what());
  };
  const walk = (type: BpfLruListType, cpu: number, head: number) => {
    const nodes = lru.listNodes(type, cpu);
    const name = `${lruListTypeName(type)} of CPU ${cpu}`;
    let prev = head;
    for (const node of nodes) {
      check(!where.has(node), () => `node ${hex(node)} on ${name} and on type ${where.get(node)}`);
      where.set(node, type);
      check(
        readLruNodeType(mem, node) === type,
        () => `node ${hex(node)} on ${name} has type ${readLruNodeType(mem, node)}`,
      );
      check(mem.read32(node + 4) === prev, () => `node ${hex(node)} on ${name}: prev link broken`);
      prev = node;
      if (lru.percpu || type === BPF_LRU_LIST_T.LOCAL_PENDING) {
        check(
          readLruNodeCpu(mem, node) === cpu,
          () => `node ${hex(node)} on ${name} has cpu ${readLruNodeCpu(mem, node)}`,
        );
      }
      if (type !== BPF_LRU_LIST_T.FREE && type !== BPF_LRU_LIST_T.LOCAL_FREE) inUse.push(node);
    }
    check(mem.read32(head + 4) === prev, () => `${name}: the head's prev is not the tail`);
    return nodes;
  };
  const listCpus = lru.percpu ? [...Array(lru.nrCpus).keys()] : [0];
  for (const cpu of listCpus) {
    const l = lru.lruListAddr(cpu);
    const byType = GLOBAL_TYPES.map((t) => walk(t, cpu, l + 8 * t));
    check(
      lru.count(BPF_LRU_LIST_T.ACTIVE, cpu) === byType[0].length,
      () =>
        `CPU ${cpu}: active count ${lru.count(BPF_LRU_LIST_T.ACTIVE, cpu)} for ${byType[0].length} nodes`,
    );
    check(
      lru.count(BPF_LRU_LIST_T.INACTIVE, cpu) === byType[1].length,
      () =>
        `CPU ${cpu}: inactive count ${lru.count(BPF_LRU_LIST_T.INACTIVE, cpu)} for ${byType[1].length} nodes`,
    );
    const nir = lru.nextInactiveRotation(cpu);
    check(
      nir === 0 || byType[1].includes(nir),
      () => `CPU ${cpu}: next_inactive_rotation ${hex(nir)} is not on the inactive list`,
    );
    check(!lru.lock(cpu).locked, () => `CPU ${cpu}: LRU list lock left held`);
  }
  if (!lru.percpu) {
    for (let cpu = 0; cpu < lru.nrCpus; cpu++) {
      const loc = lru.localListAddr(cpu);
      for (const t of LOCAL_TYPES) walk(t, cpu, loc + 8 * (t - BPF_LRU_LIST_T.LOCAL_FREE));
      check(!lru.lock(cpu, true).locked, () => `CPU ${cpu}: local list lock left held`);
    }
  }
  check(where.size === h.nrElems, () => `${where.size} nodes on the lists, ${h.nrElems} elements`);
  for (let i = 0; i < h.nrElems; i++)
    check(where.has(h.node(i)), () => `element ${i} is on no list`);
  const inTable = [...h.byKey.values()].sort((a, b) => a - b);
  inUse.sort((a, b) => a - b);
  check(
    inUse.length === inTable.length && inUse.every((n, i) => n === inTable[i]),
    () => `nodes in use ${inUse.map(hex)} but elements in the table ${inTable.map(hex)}`,
  );
}
