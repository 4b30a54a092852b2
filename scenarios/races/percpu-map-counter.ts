/**
 * Race 4, the per-CPU map counter: tasks on every CPU, free to migrate,
 * count into key 0 of a BPF_MAP_TYPE_PERCPU_ARRAY with
 * `bpf_map_lookup_elem` and a plain read, add, write of the value it
 * returns. The lookup returns `this_cpu_ptr` of the value, the copy of the
 * CPU the task is on at that call. If the task is preempted and migrated
 * before its write, it writes into the copy of the CPU it left, where that
 * CPU's tasks are counting too, and increments are lost (as they are when a
 * task on the same CPU runs between the read and the write).
 *
 * Fixed: preempt_disable() around lookup and increment. The task stays on
 * its CPU and nothing else there runs in between, so every CPU's copy is
 * written by one CPU at a time and the sum is exact without atomics, which
 * is how kernel BPF programs (run with migration and, in softirq, preemption
 * disabled) use per-CPU maps.
 *
 * @example
 * runScenario(percpuMapCounter('racy'), { strategy: 'pct', seed: 1 }).ok; // false
 */

import {
  bpfMapByName,
  bpfMapCreate,
  defineScenario,
  type Invariant,
  type Kernel,
  type Scenario,
  typedPercpuMap,
  u32,
  u64,
} from 'percpu-emu';

const ITERATIONS = 100;
const TASKS_PER_CPU = 2;

const tasksOf = (k: Kernel) => TASKS_PER_CPU * k.nrCpus;

const sumIsExact: Invariant = {
  name: 'the PERCPU_ARRAY counter summed over CPUs is exact',
  variables: ['counter'],
  check(k) {
    const map = typedPercpuMap<number, bigint>(bpfMapByName(k, 'counter'), u32, u64);
    const perCpu = map.get(0)!;
    const sum = map.sum(0);
    const want = BigInt(tasksOf(k) * ITERATIONS);
    return {
      ok: sum === want,
      detail: `sum = ${sum} (per CPU: ${perCpu.join(', ')}), expected ${want}`,
    };
  },
};

export function percpuMapCounter(variant: 'racy' | 'fixed'): Scenario {
  const fixed = variant === 'fixed';
  return defineScenario({
    name: `percpu-map-counter-${variant}`,
    description: `${TASKS_PER_CPU} tasks per CPU, free to migrate, count ${ITERATIONS} times each into a PERCPU_ARRAY value with a plain read-add-write${
      fixed ? ' inside preempt_disable()' : ', preemptible between the lookup and the write'
    }`,
    machine: { cpus: 2, tickInterval: 40 },
    pct: { depth: 3, steps: 8000 },
    setup(k) {
      bpfMapCreate(k, 'PERCPU_ARRAY', 'counter', 4, 8, 1);
      const program = k.assemble(`
          r6 = 0
          *(u32 *)(r10 - 4) = 0
        loop:
          ${fixed ? 'call preempt_disable' : '# preemptible from here...'}
          r1 = counter ll
          r2 = r10
          r2 += -4
          call bpf_map_lookup_elem
          if r0 == 0 goto fail
          r1 = *(u64 *)(r0 + 0)
          r1 += 1
          *(u64 *)(r0 + 0) = r1
          ${fixed ? 'call preempt_enable' : '# ...to here'}
          r6 += 1
          if r6 < ${ITERATIONS} goto loop
          r0 = 0
          exit
        fail:
          r0 = 1
          exit
      `);
      for (let t = 0; t < tasksOf(k); t++) {
        k.spawn({ comm: `count${t}`, cpu: t % k.nrCpus, program });
      }
    },
    invariants: [sumIsExact],
  });
}
