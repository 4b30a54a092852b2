/**
 * Race 5, counters in a shared BPF_MAP_TYPE_HASH: a task on every CPU
 * counts events per flow into the same HASH (key: flow id, value: a u64
 * counter), each increment inside preempt_disable(). A HASH value is one
 * copy shared by all CPUs, so disabling preemption protects nothing here:
 * two CPUs can read the same counter, both add one, and both write, and an
 * increment is lost. What the per-CPU maps avoid by giving every CPU its own
 * copy, a shared map needs an atomic for: `lock *(u64 *)(r0 + 0) += r1`
 * (BPF_ATOMIC BPF_ADD, the kernel's `__sync_fetch_and_add`).
 *
 * @example
 * runScenario(hashCounter('racy'), { strategy: 'pct', seed: 1 }).ok; // false
 */

import {
  bpfMapByName,
  bpfMapCreate,
  defineScenario,
  type Invariant,
  type Scenario,
  typedMap,
  u32,
  u64,
} from 'percpu-emu';

const ITERATIONS = 100;
const FLOWS = 4;

const everyFlowExact: Invariant = {
  name: 'every flow counter in the HASH is exact',
  check(k) {
    const map = typedMap<number, bigint>(bpfMapByName(k, 'flows'), u32, u64);
    const want = BigInt((k.nrCpus * ITERATIONS) / FLOWS);
    const got = Array.from({ length: FLOWS }, (_, flow) => map.get(flow) ?? 0n);
    return {
      ok: got.every((v) => v === want),
      detail: `per flow: ${got.join(', ')}, expected ${want} each`,
    };
  },
};

export function hashCounter(variant: 'racy' | 'fixed'): Scenario {
  const fixed = variant === 'fixed';
  return defineScenario({
    name: `hash-counter-${variant}`,
    description: `a task per CPU counts ${ITERATIONS} events over ${FLOWS} flows into one shared HASH inside preempt_disable(), ${
      fixed ? 'with an atomic add' : 'with a plain read-add-write'
    }`,
    machine: { cpus: 2, tickInterval: 40 },
    pct: { depth: 3, steps: 3000 },
    setup(k) {
      const h = bpfMapCreate(k, 'HASH', 'flows', 4, 8, 64);
      const map = typedMap<number, bigint>(h, u32, u64);
      for (let flow = 0; flow < FLOWS; flow++) map.set(flow, 0n);
      const increment = fixed
        ? `r1 = 1
          lock *(u64 *)(r0 + 0) += r1`
        : `r1 = *(u64 *)(r0 + 0)
          r1 += 1
          *(u64 *)(r0 + 0) = r1`;
      const program = k.assemble(`
          r6 = 0
        loop:
          r1 = r6
          r1 %= ${FLOWS}
          *(u32 *)(r10 - 4) = w1
          call preempt_disable
          r1 = flows ll
          r2 = r10
          r2 += -4
          call bpf_map_lookup_elem
          if r0 == 0 goto fail
          ${increment}
          call preempt_enable
          r6 += 1
          if r6 < ${ITERATIONS} goto loop
          r0 = 0
          exit
        fail:
          call preempt_enable
          r0 = 1
          exit
      `);
      for (let cpu = 0; cpu < k.nrCpus; cpu++) {
        k.spawn({ comm: `count${cpu}`, cpu, allowed: [cpu], program });
      }
    },
    invariants: [everyFlowExact],
  });
}
