/**
 * Lab kalloc's machine: a pool of pages, the allocator's data (a global
 * `struct kmem` and a per-CPU one), and worker tasks that allocate a few
 * pages, write their tag into each, and free them again, round after round;
 * then one task drains the allocator. The student's kalloc.s is linked after
 * the workers' code, which calls `kalloc` and `kfree` by label.
 *
 * The books, kept by the harness with atomics: `page_owner[i]` is the tag of
 * the task holding page i, claimed with cmpxchg, so a page handed out twice
 * is caught the moment the second holder gets it (`double_alloc`); a pointer
 * that is not a page of the pool counts in `bad_page`; after every worker
 * has freed its pages, task 0 allocates until kalloc returns 0 and must get
 * every page of the pool (`drained`): none lost, and stealing works.
 *
 * @example
 * runScenario(kallocScenario(dir, { cpus: 2 }), { strategy: 'pct', seed: 1 }).ok;
 */

import {
  array,
  defineScenario,
  type Invariant,
  type Kernel,
  type Scenario,
  spinlockStats,
  spinlockType,
  struct,
  u8,
  u64,
} from 'percpu-emu';
import { assembleWithHarness } from '../grader/source.ts';

export const NPAGES = 32;
export const PAGE = 4096;
/** Pages a worker holds at once. */
const HOLD = 3;

/** struct kmem { struct spinlock lock; u64 freelist; } */
export const kmemType = struct('kmem', [
  ['lock', spinlockType],
  ['freelist', u64],
]);

export interface KallocOptions {
  readonly cpus: number;
  /** Alloc/free rounds per worker. */
  readonly rounds: number;
  /** Worker tasks per CPU. */
  readonly workersPerCpu: number;
}

const harness = (workers: number, rounds: number) => `
  r9 = r1
  r9 += 1                       # this worker's tag, never 0
  if r9 != 1 goto wait_ready
  r6 = 0                        # kinit: every page to kfree, on this CPU
freerange:
  r1 = pages ll
  r2 = r6
  r2 <<= 12
  r1 += r2
  call kfree
  r6 += 1
  if r6 < ${NPAGES} goto freerange
  r1 = ready ll
  r2 = 1
  lock *(u64 *)(r1 + 0) += r2
  goto work
wait_ready:
  r1 = ready ll
  r2 = *(u64 *)(r1 + 0)
  if r2 != 0 goto work
  r1 = 1
  call msleep                   # sleep, not spin: the other tasks get the CPUs
  goto wait_ready
work:
  r8 = 0
round:
  r7 = 0
alloc_more:
  call kalloc
  if r0 == 0 goto free_held
  r6 = r0
  r1 = r6
  r2 = r9
  call claim
  r2 = r7
  r2 <<= 3
  r3 = r10
  r3 -= r2
  *(u64 *)(r3 - 8) = r6         # held[r7] = page
  r7 += 1
  if r7 < ${HOLD} goto alloc_more
free_held:
  if r7 == 0 goto next_round
  r7 -= 1
  r2 = r7
  r2 <<= 3
  r3 = r10
  r3 -= r2
  r6 = *(u64 *)(r3 - 8)
  r1 = r6
  r2 = r9
  call unclaim
  r1 = r6
  call kfree
  goto free_held
next_round:
  r8 += 1
  if r8 < ${rounds} goto round
  if r9 == 1 goto drain
  r1 = finished ll
  r2 = 1
  lock *(u64 *)(r1 + 0) += r2
  r0 = 0
  exit
drain:
  r1 = finished ll
  r2 = *(u64 *)(r1 + 0)
  if r2 >= ${workers - 1} goto drain_all
  r1 = 1
  call msleep
  goto drain
drain_all:
  r6 = 0
drain_more:
  call kalloc
  if r0 == 0 goto drained
  r1 = r0
  r2 = r9
  call claim
  r6 += 1
  if r6 <= ${NPAGES} goto drain_more
drained:
  r1 = drained ll
  *(u64 *)(r1 + 0) = r6
  r0 = 0
  exit

# claim: r1 = what kalloc returned, r2 = tag. A page of the pool, held by nobody.
claim:
  r3 = pages ll
  r4 = r1
  r4 -= r3
  r5 = r4
  r5 &= ${PAGE - 1}
  if r5 != 0 goto claim_bad
  r4 >>= 12
  if r4 >= ${NPAGES} goto claim_bad
  r4 <<= 3
  r3 = page_owner ll
  r3 += r4
  r0 = 0
  r0 = cmpxchg_64(r3 + 0, r0, r2)
  if r0 != 0 goto claim_twice
  *(u64 *)(r1 + 8) = r2         # the holder's tag in its page
  r0 = 0
  exit
claim_bad:
  r1 = bad_page ll
  r2 = 1
  lock *(u64 *)(r1 + 0) += r2
  r0 = 1
  exit
claim_twice:
  r1 = double_alloc ll
  r2 = 1
  lock *(u64 *)(r1 + 0) += r2
  r0 = 1
  exit

# unclaim: r1 = a page this worker holds, r2 = tag. Still ours, untouched by others?
unclaim:
  r3 = pages ll
  r4 = r1
  r4 -= r3
  r4 >>= 12
  r4 <<= 3
  r3 = page_owner ll
  r3 += r4
  r5 = *(u64 *)(r1 + 8)
  if r5 != r2 goto unclaim_twice
  r0 = r2
  r4 = 0
  r0 = cmpxchg_64(r3 + 0, r0, r4)
  if r0 != r2 goto unclaim_twice
  r0 = 0
  exit
unclaim_twice:
  r1 = double_alloc ll
  r2 = 1
  lock *(u64 *)(r1 + 0) += r2
  r0 = 1
  exit
`;

const counter = (k: Kernel, name: string) => k.memory.read64(k.symbol(name));

const noPageTwice: Invariant = {
  name: 'no page handed out twice',
  check(k) {
    const n = counter(k, 'double_alloc');
    return { ok: n === 0n, detail: `${n} pages were held by two tasks at once` };
  },
};

const onlyPoolPages: Invariant = {
  name: 'kalloc returns only pages of the pool',
  check(k) {
    const n = counter(k, 'bad_page');
    return { ok: n === 0n, detail: `${n} pointers kalloc returned are not pages of the pool` };
  },
};

const noPageLost: Invariant = {
  name: 'no page lost: one CPU can allocate every page at the end',
  check(k) {
    const n = counter(k, 'drained');
    return {
      ok: n === BigInt(NPAGES),
      detail: `task 0 on CPU ${k.tasks.get(1)?.cpu ?? '?'} allocated ${n} of ${NPAGES} pages before kalloc returned 0`,
    };
  },
};

/** The spinlocks of the allocator: the global one, then each CPU's. */
export function allocatorLocks(k: Kernel): { name: string; addr: number }[] {
  const percpu = k.symbol('kmem_cpu');
  return [
    { name: 'kmem', addr: k.symbol('kmem') },
    ...k.cpus.map((c) => ({ name: `kmem_cpu[${c.id}]`, addr: k.areas.perCpuPtr(percpu, c.id) })),
  ];
}

/** Spins and acquisitions over all the allocator's locks, and the lines of a lock-stat table. */
export function lockStat(k: Kernel): { spins: number; acquisitions: number; table: string } {
  let spins = 0;
  let acquisitions = 0;
  const rows = allocatorLocks(k).map(({ name, addr }) => {
    const s = spinlockStats(k.memory, addr);
    spins += s.spins;
    acquisitions += s.acquisitions;
    return `lock: ${name}: #test-and-set ${s.spins} #acquire() ${s.acquisitions}`;
  });
  return { spins, acquisitions, table: rows.join('\n') };
}

export function kallocScenario(dir: string, o: KallocOptions): Scenario {
  const workers = o.cpus * o.workersPerCpu;
  return defineScenario({
    name: 'kalloc-stress',
    description: `${workers} tasks on ${o.cpus} CPUs allocate ${HOLD} pages at a time from a pool of ${NPAGES} and free them, ${o.rounds} rounds each; then one task allocates every page`,
    machine: { cpus: o.cpus, tickInterval: 40 },
    pct: { depth: 3, steps: 20_000 },
    define(m) {
      m.defineData('kmem', kmemType, undefined);
      m.definePerCpu('kmem_cpu', kmemType, undefined);
      m.defineData('nr_cpus', u64, 0n);
      m.defineData('pages', array(u8, NPAGES * PAGE), undefined);
      m.defineData('page_owner', array(u64, NPAGES), undefined);
      for (const name of ['ready', 'finished', 'drained', 'double_alloc', 'bad_page']) {
        m.defineData(name, u64, 0n);
      }
    },
    setup(k) {
      k.memory.write64(k.symbol('nr_cpus'), BigInt(k.nrCpus));
      const program = assembleWithHarness(k, harness(workers, o.rounds), dir, 'kalloc.s', 'kalloc');
      for (let w = 0; w < workers; w++) {
        k.spawn({ comm: `kalloc${w}`, cpu: w % k.nrCpus, program, args: [w] });
      }
    },
    invariants: [noPageTwice, onlyPoolPages, noPageLost],
  });
}
