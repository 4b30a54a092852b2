/**
 * `npm run bench -- maps`: map operations per second, guest side and
 * userspace side, at 1k and 100k entries, beside a plain JS `Map` measured
 * in the same run.
 *
 * Guest side (`<type>_<size>`): one task on CPU 0 of a booted 2-CPU machine
 * runs a program that, per operation, looks up a key with
 * bpf_map_lookup_elem and writes it back with bpf_map_update_elem (BPF_ANY),
 * walking the keys in a scattered order (key += 7919 mod size) over a map
 * filled beforehand; u32 keys, u64 values. Each operation is the pair of
 * helper calls and about ten instructions around them, so the figure is
 * what a program sees, interpreter included.
 *
 * Userspace side (`user_<type>_<size>`): the same pairs through the
 * syscall-side handle (updateElem + lookupElem with byte buffers).
 *
 * Baseline (`js_map_<size>`): a `Map<number, bigint>` of the same size,
 * `get` then `set` per operation, keys in the same order. Ratios are
 * against it. Each figure is the median of three rounds after a warm-up.
 *
 * Types the build does not have yet are left out of the table.
 *
 * @example
 * // npm run bench -- maps --json
 */

import { BPF_MAP_TYPE, type BpfMapTypeName } from '../maps/bpf-uapi.ts';
import { MAP_TYPES } from '../maps/map-types.ts';
import { type BpfMapHandle, bpfMapCreate } from '../maps/syscall.ts';
import { runDeterministic } from '../preempt/engine.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { Machine } from '../preempt/machine.ts';
import { roundRobin } from '../preempt/strategies/round-robin.ts';
import { type BenchReport, type BenchResult, median } from './report.ts';

const TYPES: BpfMapTypeName[] = ['ARRAY', 'PERCPU_ARRAY', 'HASH', 'PERCPU_HASH', 'LRU_HASH'];
const SIZES: [string, number][] = [
  ['1k', 1_000],
  ['100k', 100_000],
];
const GUEST_OPS = 300_000;
const USER_OPS = 200_000;
const ROUNDS = 3;
const STRIDE = 7919;

function machine(): Kernel {
  return new Machine({
    cpus: 2,
    memorySize: 512 << 20,
    vmallocSize: 256 << 20,
    percpuChunkRegion: 64 << 20,
    kmallocHeap: 16 << 20,
    trace: false,
  }).boot();
}

/** A filled map of `size` u32 -> u64 entries. */
function filled(m: Kernel, type: BpfMapTypeName, size: number): BpfMapHandle {
  const h = bpfMapCreate(m, type, 'bench', 4, 8, size);
  const key = new Uint8Array(4);
  const value = new Uint8Array(h.map.valueSizeUser);
  const kv = new DataView(key.buffer);
  for (let k = 0; k < size; k++) {
    kv.setUint32(0, k, true);
    h.updateElem(key, value);
  }
  return h;
}

/** Guest lookup+update pairs per second. */
function guest(type: BpfMapTypeName, size: number): number {
  const m = machine();
  filled(m, type, size);
  const program = m.assemble(`
      r6 = 0
      r7 = 0
      *(u64 *)(r10 - 16) = 1
    loop:
      *(u32 *)(r10 - 4) = w7
      r1 = bench ll
      r2 = r10
      r2 += -4
      call bpf_map_lookup_elem
      r1 = bench ll
      r2 = r10
      r2 += -4
      r3 = r10
      r3 += -16
      r4 = 0
      call bpf_map_update_elem
      r7 += ${STRIDE}
      r7 %= ${size}
      r6 += 1
      if r6 < ${GUEST_OPS} goto loop
      r0 = 0
      exit
  `);
  const task = m.spawn({ comm: 'bench', cpu: 0, allowed: [0], program });
  const t0 = performance.now();
  runDeterministic(m, roundRobin({ quantum: 100_000 }));
  const s = (performance.now() - t0) / 1000;
  if (task.exitCode !== 0n || m.reports.some((r) => r.kind === 'oops')) {
    throw new Error(`${type} guest loop failed: ${m.reports.map((r) => r.lines[0]).join('; ')}`);
  }
  return GUEST_OPS / s;
}

/** Userspace lookup+update pairs per second. */
function user(type: BpfMapTypeName, size: number): number {
  const m = machine();
  const h = filled(m, type, size);
  const key = new Uint8Array(4);
  const kv = new DataView(key.buffer);
  const value = new Uint8Array(h.map.valueSizeUser);
  let k = 0;
  const t0 = performance.now();
  for (let i = 0; i < USER_OPS; i++) {
    kv.setUint32(0, k, true);
    // Update first: an LRU map may have evicted the key (its common LRU
    // hands out target_free elements at a time, so it evicts before it is full).
    h.updateElem(key, value);
    h.lookupElem(key);
    k = (k + STRIDE) % size;
  }
  return USER_OPS / ((performance.now() - t0) / 1000);
}

/** The baseline: Map get+set pairs per second. */
function jsMap(size: number): number {
  const map = new Map<number, bigint>();
  for (let k = 0; k < size; k++) map.set(k, 0n);
  let k = 0;
  let sink = 0n;
  const t0 = performance.now();
  for (let i = 0; i < GUEST_OPS; i++) {
    sink += map.get(k) ?? 0n;
    map.set(k, 1n);
    k = (k + STRIDE) % size;
  }
  const s = (performance.now() - t0) / 1000;
  if (sink < 0n) throw new Error('unreachable');
  return GUEST_OPS / s;
}

const medianOf = (f: () => number) => {
  f();
  return median(Array.from({ length: ROUNDS }, f));
};

export async function run(): Promise<BenchReport> {
  const results: BenchResult[] = [];
  const available = TYPES.filter((t) => MAP_TYPES.has(BPF_MAP_TYPE[t]));
  for (const [label, size] of SIZES) {
    const base = medianOf(() => jsMap(size));
    const baseline = `js Map get+set, ${label}`;
    results.push({ name: `js_map_${label}`, value: base, unit: 'ops/s' });
    for (const type of available) {
      const g = medianOf(() => guest(type, size));
      results.push({
        name: `${type.toLowerCase()}_${label}`,
        value: g,
        unit: 'ops/s',
        ratio: g / base,
        baseline,
        note: 'guest lookup+update',
      });
    }
    for (const type of available) {
      const u = medianOf(() => user(type, size));
      results.push({
        name: `user_${type.toLowerCase()}_${label}`,
        value: u,
        unit: 'ops/s',
        ratio: u / base,
        baseline,
        note: 'userspace lookup+update',
      });
    }
  }
  return { suite: 'maps', results };
}
