/**
 * percpu kptr objects, after the kernel selftest
 * tools/testing/selftests/bpf/progs/percpu_alloc_array.c (test_array_map_1
 * to _4) and its runner prog_tests/percpu_alloc.c: one writer task makes a
 * `struct val_t { long b, c, d; }` with bpf_percpu_obj_new, xchgs it into
 * the kptr slot of a global `elem`, sets CPU 0's c = 1 and d = 2 through
 * bpf_per_cpu_ptr, sums c over every CPU and reads CPU 0's d into globals,
 * then xchgs the object out and drops it. The selftest expects d == 2 and
 * a sum of 1; we also expect no leak and no sanitizer report.
 *
 * Meanwhile one reader per other CPU waits for the object to appear, then
 * keeps loading the slot and reading every CPU's copy of c until the slot
 * is empty again (or a bounded number of passes: PCT runs only its
 * highest-priority CPU, so an unbounded wait on another CPU never ends). In the `rcu` variant it does so inside
 * bpf_rcu_read_lock(), so the drop's RCU grace period keeps the object
 * alive until the reader is done. In `racy-no-rcu` it takes no lock: a
 * reader that loaded the pointer just before the writer xchgd it out can
 * still be reading when the grace period ends and the object is freed, and
 * the sanitizer reports a use-after-free.
 *
 * Longs are 64-bit here (the selftest's `int` globals are u64 too). Waits
 * sleep (msleep) rather than spin, so that a high-priority waiter under PCT
 * cannot starve the task it waits for. A last native task waits for the
 * others, then for every RCU callback (rcu_barrier), so that the drop has
 * really freed the object when the invariants are judged.
 *
 * @example
 * runScenario(percpuAlloc('rcu'), { strategy: 'pct', seed: 1 }).ok; // true
 */

import {
  defineScenario,
  type Invariant,
  type Kernel,
  type Scenario,
  s64,
  struct,
  type Task,
  u64,
} from 'percpu-emu';

export type PercpuAllocVariant = 'rcu' | 'racy-no-rcu';

/** struct val_t { long b, c, d; } */
const valT = struct('val_t', [
  ['b', s64],
  ['c', s64],
  ['d', s64],
]);
const VAL_T_OFF = valT.off;
/** struct elem { long sum; struct val_t __percpu_kptr *pc; } */
const elemT = struct('elem', [
  ['sum', s64],
  ['pc', u64],
]);
const ELEM_OFF = elemT.off;

/** Times a reader finds the slot empty (and sleeps 1 ms) before it gives up waiting for the object. */
const READER_WAIT = 20;
/** Passes a reader makes over the object at most (each a read section); it stops when the slot empties. */
const READER_PASSES = 30;
/** Loop iterations a reader spends between loading the pointer and reading through it. */
const READER_DELAY = 30;
/** How long the writer sleeps with the object published, before summing and dropping it. */
const PUBLISHED_MS = 2;

const readGlobal = (k: Kernel, name: string) => k.memory.read64(k.symbol(name));

function equals(name: string, what: string, want: bigint): Invariant {
  return {
    name: `${what} == ${want}`,
    check(k) {
      const got = BigInt.asIntN(64, readGlobal(k, name));
      return { ok: got === want, detail: `${name} = ${got}, expected ${want}` };
    },
  };
}

const readersSawOneObject: Invariant = {
  name: 'readers only ever summed c to 0 or 1',
  check(k) {
    const bad = readGlobal(k, 'reader_bad');
    return { ok: bad === 0n, detail: `${bad} reader passes saw another sum` };
  },
};

const noLeak: Invariant = {
  name: 'no percpu object leaked',
  check(k) {
    const san = k.sanitizer;
    if (san === null) return { ok: false, detail: 'the machine runs without the sanitizer' };
    const leaks = san.leaks().length;
    return { ok: leaks === 0, detail: `${leaks} live allocations at the end` };
  },
};

const noSanitizerReport: Invariant = {
  name: 'no sanitizer report',
  check(k) {
    const found = k.reports.filter((r) => r.kind === 'kasan' || r.kind === 'leak');
    return {
      ok: found.length === 0,
      detail: found.length === 0 ? 'none' : `${found.length}, the first: ${found[0].lines[0]}`,
    };
  },
};

export function percpuAlloc(variant: PercpuAllocVariant): Scenario {
  const rcu = variant === 'rcu';
  const [lock, unlock] = rcu ? ['call bpf_rcu_read_lock', 'call bpf_rcu_read_unlock'] : ['', ''];
  return defineScenario({
    name: `percpu-alloc-${variant}`,
    description: `a writer makes a percpu kptr object, sets CPU 0's c and d, sums c and drops it, while readers on the other CPUs read it ${rcu ? 'inside bpf_rcu_read_lock()' : 'with no RCU read lock'}`,
    // The invariants need the sanitizer, whatever the machine's default.
    machine: { cpus: 3, tickInterval: 60, sanitizer: true },
    pct: { depth: 3, steps: 6000 },
    define(m) {
      m.defineData('elem', elemT);
      m.defineData('cpu0_field_d', u64, 0n);
      m.defineData('sum_field_c', u64, 0n);
      m.defineData('reader_bad', u64, 0n);
    },
    setup(k) {
      const writer = k.assemble(`
          # test_array_map_1: a new object into the slot; drop whatever was there
          r1 = ${valT.size}
          r2 = 0
          call bpf_percpu_obj_new_impl
          if r0 == 0 goto fail
          r1 = elem ll
          r1 += ${ELEM_OFF.pc}
          r2 = r0
          call bpf_kptr_xchg
          if r0 == 0 goto set
          r1 = r0
          r2 = 0
          call bpf_percpu_obj_drop_impl
        set:
          # test_array_map_2: CPU 0's c = 1, d = 2
          call bpf_rcu_read_lock
          r1 = elem ll
          r6 = *(u64 *)(r1 + ${ELEM_OFF.pc})
          if r6 == 0 goto set_done
          r1 = r6
          r2 = 0
          call bpf_per_cpu_ptr
          if r0 == 0 goto set_done
          r1 = 1
          *(u64 *)(r0 + ${VAL_T_OFF.c}) = r1
          r1 = 2
          *(u64 *)(r0 + ${VAL_T_OFF.d}) = r1
        set_done:
          call bpf_rcu_read_unlock
          r1 = ${PUBLISHED_MS}
          call msleep
          # test_array_map_3: sum c over all CPUs, CPU 0's d
          call bpf_rcu_read_lock
          r1 = elem ll
          r6 = *(u64 *)(r1 + ${ELEM_OFF.pc})
          if r6 == 0 goto sum_done
          r7 = 0
          r8 = 0
        sum:
          r1 = r6
          r2 = r7
          call bpf_per_cpu_ptr
          if r0 == 0 goto sum_next
          if r7 != 0 goto sum_c
          r1 = *(u64 *)(r0 + ${VAL_T_OFF.d})
          r2 = cpu0_field_d ll
          *(u64 *)(r2 + 0) = r1
        sum_c:
          r1 = *(u64 *)(r0 + ${VAL_T_OFF.c})
          r8 += r1
        sum_next:
          r7 += 1
          if r7 < ${k.nrCpus} goto sum
          r1 = sum_field_c ll
          *(u64 *)(r1 + 0) = r8
        sum_done:
          call bpf_rcu_read_unlock
          # test_array_map_4: out of the slot, dropped
          r1 = elem ll
          r1 += ${ELEM_OFF.pc}
          r2 = 0
          call bpf_kptr_xchg
          if r0 == 0 goto out
          r1 = r0
          r2 = 0
          call bpf_percpu_obj_drop_impl
        out:
          r0 = 0
          exit
        fail:
          r0 = 1
          exit
      `);
      const reader = k.assemble(`
          r9 = 0
        wait:
          r1 = elem ll
          r1 = *(u64 *)(r1 + ${ELEM_OFF.pc})
          if r1 != 0 goto pass
          r1 = 1
          call msleep
          r9 += 1
          if r9 < ${READER_WAIT} goto wait
          goto done
        pass:
          r9 += 1
          ${lock}
          r1 = elem ll
          r6 = *(u64 *)(r1 + ${ELEM_OFF.pc})
          if r6 == 0 goto last
          r0 = 0
        delay:
          r0 += 1
          if r0 < ${READER_DELAY} goto delay
          r7 = 0
          r8 = 0
        read:
          r1 = r6
          r2 = r7
          call bpf_per_cpu_ptr
          r1 = *(u64 *)(r0 + ${VAL_T_OFF.c})
          r8 += r1
          r7 += 1
          if r7 < ${k.nrCpus} goto read
          if r8 <= 1 goto pass_done
          r1 = reader_bad ll
          r2 = 1
          lock *(u64 *)(r1 + 0) += r2
        pass_done:
          ${unlock}
          if r9 < ${READER_WAIT + READER_PASSES} goto pass
          goto done
        last:
          ${unlock}
        done:
          r0 = 0
          exit
      `);
      const tasks: Task[] = [k.spawn({ comm: 'percpu_alloc', cpu: 0, program: writer })];
      for (let cpu = 1; cpu < k.nrCpus; cpu++) {
        tasks.push(k.spawn({ comm: `reader${cpu}`, cpu, program: reader }));
      }
      k.spawn({
        comm: 'rcu_barrier',
        cpu: 0,
        *body() {
          while (tasks.some((t) => !t.exited)) {
            yield* k.sleepTicks(1);
          }
          yield* k.rcuBarrier();
          return 0;
        },
      });
    },
    invariants: [
      equals('cpu0_field_d', "CPU 0's d", 2n),
      equals('sum_field_c', 'the sum of c over CPUs', 1n),
      readersSawOneObject,
      noLeak,
      noSanitizerReport,
    ],
  });
}
