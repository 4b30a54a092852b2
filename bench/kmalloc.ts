/**
 * `npm run bench -- kmalloc`: the kernel heap (segments/kmalloc.ts), in
 * kmalloc+kfree pairs per second, beside JS allocating ArrayBuffers of the
 * same sizes in the same run (the garbage collector playing kfree).
 *
 * - `pair_64`: kmalloc(64) then kfree of it, over and over (one slab,
 *   hot freelist); baseline `new ArrayBuffer(64)`.
 * - `live_10k_small`: 10k live objects of 8 to 512 bytes; each pair frees a
 *   random one and allocates a new one of a random size in its place;
 *   baseline the same sequence replacing ArrayBuffers in an array.
 * - `live_256_large`: the same with 256 live kzalloc'ed objects of 12 to
 *   64 KiB (the page allocator; zeroed, as an ArrayBuffer is).
 *
 * The heap is 32 MiB on a bare PhysicalMemory. Each figure is the median of
 * three timed rounds.
 *
 * @example
 * // npm run bench -- kmalloc --json
 */

import { AddressMap } from '../segments/address-map.ts';
import { KernelHeap } from '../segments/kmalloc.ts';
import { PhysicalMemory } from '../segments/memory.ts';
import { prng } from './prng.ts';
import { type BenchReport, type BenchResult, median } from './report.ts';

const ROUNDS = 3;
const HEAP = 32 << 20;

function newHeap(): KernelHeap {
  const memory = new PhysicalMemory(HEAP + (1 << 20));
  return KernelHeap.create(memory, new AddressMap(memory.size), HEAP);
}

const rate = (pairs: number, t0: bigint) => pairs / (Number(process.hrtime.bigint() - t0) / 1e9);

function pair64Heap(): number {
  const heap = newHeap();
  const pairs = 2_000_000;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < pairs; k++) heap.kfree(heap.kmalloc(64));
  return rate(pairs, t0);
}

function pair64Js(): number {
  const pairs = 2_000_000;
  const keep: ArrayBuffer[] = [new ArrayBuffer(0)];
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < pairs; k++) keep[0] = new ArrayBuffer(64);
  return rate(pairs, t0);
}

interface Mix {
  live: number;
  pairs: number;
  minSize: number;
  maxSize: number;
}

const sizeOf = (rand: () => number, m: Mix) =>
  m.minSize + Math.floor(rand() * (m.maxSize - m.minSize + 1));

function liveHeap(m: Mix, zero: boolean): number {
  const heap = newHeap();
  const rand = prng(m.live);
  const ptrs = new Array<number>(m.live);
  for (let k = 0; k < m.live; k++) ptrs[k] = heap.kmalloc(sizeOf(rand, m), { zero });
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < m.pairs; k++) {
    const victim = Math.floor(rand() * m.live);
    heap.kfree(ptrs[victim]);
    const size = sizeOf(rand, m);
    const p = zero ? heap.kzalloc(size) : heap.kmalloc(size);
    if (p === 0) throw new Error(`kmalloc(${size}) failed`);
    ptrs[victim] = p;
  }
  return rate(m.pairs, t0);
}

function liveJs(m: Mix): number {
  const rand = prng(m.live);
  const bufs = new Array<ArrayBuffer>(m.live);
  for (let k = 0; k < m.live; k++) bufs[k] = new ArrayBuffer(sizeOf(rand, m));
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < m.pairs; k++) {
    const victim = Math.floor(rand() * m.live);
    bufs[victim] = new ArrayBuffer(sizeOf(rand, m));
  }
  return rate(m.pairs, t0);
}

const rounds = (fn: () => number) => median(Array.from({ length: ROUNDS }, fn));

export async function run(): Promise<BenchReport> {
  const results: BenchResult[] = [];
  const push = (name: string, value: number, base: number) =>
    results.push({
      name,
      value,
      unit: 'pairs/s',
      ratio: value / base,
      baseline: 'JS ArrayBuffer',
      note: `baseline ${Math.round(base)} pairs/s`,
    });
  push('pair_64', rounds(pair64Heap), rounds(pair64Js));
  const small: Mix = { live: 10_000, pairs: 1_000_000, minSize: 8, maxSize: 512 };
  push(
    'live_10k_small',
    rounds(() => liveHeap(small, false)),
    rounds(() => liveJs(small)),
  );
  const large: Mix = { live: 256, pairs: 50_000, minSize: 12 << 10, maxSize: 64 << 10 };
  push(
    'live_256_large',
    rounds(() => liveHeap(large, true)),
    rounds(() => liveJs(large)),
  );
  return { suite: 'kmalloc', results };
}
