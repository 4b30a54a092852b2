/**
 * `npm run bench -- percpu`: the per-CPU allocator under load.
 *
 * For 1k, 10k and 100k live allocations: keep that many live, then time
 * alloc+free pairs that free a random live allocation and allocate a new
 * one in its place. Sizes are drawn from common per-CPU object sizes
 * between 8 and 512 bytes (mean about 147 B), alignment 8, sleepable, on a
 * booted 2-CPU machine of 128 MiB with a 64 MiB chunk region. Each figure
 * is the median of three timed rounds; the baseline, measured in the same
 * run on the same operation sequence, is a plain JS allocator (per-size
 * free lists and a Map of live sizes) that zeroes the same bytes in every
 * unit of a Uint8Array.
 *
 * Also reported: the growth of the cost per pair from 1k to 100k live
 * (target <= 3x), and the allocator's metadata bytes in emulated memory
 * (state, slot heads, chunk headers, bitmaps and block metadata) per live
 * allocation at 100k live.
 *
 * @example
 * // npm run bench -- percpu --json
 */

import { PercpuAllocator } from '../percpu/allocator.ts';
import { Machine } from '../preempt/machine.ts';
import { prng } from './prng.ts';
import { type BenchReport, type BenchResult, median } from './report.ts';

const SIZES = [8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];
const MEAN_SIZE = SIZES.reduce((a, b) => a + b, 0) / SIZES.length;
const ALIGN = 8;
const CPUS = 2;
const PAIRS = 100_000;
const ROUNDS = 3;

interface Heap {
  alloc(size: number): number;
  free(ptr: number): void;
}

/** The baseline: exact-size free lists, a bump pointer, a Map of live sizes, zeroing every unit. */
class FreeListHeap implements Heap {
  private readonly lists = new Map<number, number[]>();
  private readonly live = new Map<number, number>();
  private next = 0;
  private readonly bytes: Uint8Array;

  constructor(
    private readonly unitSize: number,
    private readonly units: number,
  ) {
    this.bytes = new Uint8Array(unitSize * units);
  }

  alloc(size: number): number {
    let ptr = this.lists.get(size)?.pop();
    if (ptr === undefined) {
      ptr = this.next;
      this.next += size;
      if (this.next > this.unitSize) throw new Error('baseline heap exhausted');
    }
    this.live.set(ptr, size);
    for (let u = 0; u < this.units; u++) {
      const at = u * this.unitSize + ptr;
      this.bytes.fill(0, at, at + size);
    }
    return ptr;
  }

  free(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new Error(`baseline: free of ${ptr}`);
    this.live.delete(ptr);
    let list = this.lists.get(size);
    if (list === undefined) {
      list = [];
      this.lists.set(size, list);
    }
    list.push(ptr);
  }
}

/** Fills `live` allocations, then returns a function timing `PAIRS` replacements (pairs/s). */
function workload(heap: Heap, live: number, seed: number): () => number {
  const rand = prng(seed);
  const size = () => SIZES[Math.floor(rand() * SIZES.length)];
  const ptrs = new Array<number>(live);
  for (let k = 0; k < live; k++) ptrs[k] = heap.alloc(size());
  return () => {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < PAIRS; k++) {
      const victim = Math.floor(rand() * live);
      heap.free(ptrs[victim]);
      ptrs[victim] = heap.alloc(size());
    }
    return PAIRS / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
}

function percpuHeap(): { heap: Heap; pcpu: PercpuAllocator } {
  const m = new Machine({ cpus: CPUS, memorySize: 128 << 20, trace: false }).boot();
  const pcpu = new PercpuAllocator({
    memory: m.memory,
    map: m.map,
    areas: m.areas,
    chunkRegionSize: 64 << 20,
  });
  const heap: Heap = {
    alloc(size) {
      const p = pcpu.alloc(size, ALIGN);
      if (p === null) throw new Error(`percpu: allocation of ${size} failed`);
      return p;
    },
    free: (ptr) => pcpu.free(ptr),
  };
  return { heap, pcpu };
}

const rounds = (fn: () => number) => median(Array.from({ length: ROUNDS }, fn));

export async function run(): Promise<BenchReport> {
  const results: BenchResult[] = [];
  const rates = new Map<number, number>();
  let metadataPerAlloc = 0;
  for (const [name, live] of [
    ['live_1k', 1_000],
    ['live_10k', 10_000],
    ['live_100k', 100_000],
  ] as const) {
    const { heap, pcpu } = percpuHeap();
    const rate = rounds(workload(heap, live, live));
    const base = rounds(workload(new FreeListHeap(64 << 20, CPUS), live, live));
    rates.set(live, rate);
    if (live === 100_000) metadataPerAlloc = pcpu.metadataBytes() / live;
    results.push({
      name,
      value: rate,
      unit: 'pairs/s',
      ratio: rate / base,
      baseline: 'JS free-list allocator',
      note: `baseline ${Math.round(base)} pairs/s`,
    });
  }
  const growth = rates.get(1_000)! / rates.get(100_000)!;
  results.push({
    name: 'cost_growth_100k_vs_1k',
    value: growth,
    unit: 'x',
    note: 'cost per pair at 100k live / at 1k live; target <= 3',
  });
  results.push({
    name: 'metadata_bytes_per_alloc',
    value: metadataPerAlloc,
    unit: 'B',
    ratio: metadataPerAlloc / MEAN_SIZE,
    baseline: 'mean allocation size',
    note: `at 100k live, mean size ${MEAN_SIZE.toFixed(1)} B`,
  });
  return { suite: 'percpu', results };
}
