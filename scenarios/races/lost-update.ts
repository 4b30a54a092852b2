/**
 * Race 1, the lost update: two tasks on one CPU increment a per-CPU counter
 * with a plain read, add, write. A timer interrupt between the read and the
 * write preempts one task; the other increments; the first writes back a
 * stale value and an increment is lost. DEBUG_PREEMPT also reports the
 * `this_cpu_ptr` made while preemptible.
 *
 * Fixed: preempt_disable()/preempt_enable() around the read-modify-write,
 * so no other task can run between the read and the write.
 *
 * @example
 * runScenario(lostUpdate('racy'), { strategy: 'pct', seed: 1 }).ok; // false
 */

import { defineScenario, perCpuSumEquals, type Scenario, u64 } from 'percpu-emu';

const ITERATIONS = 200;
const TASKS = 2;

export function lostUpdate(variant: 'racy' | 'fixed'): Scenario {
  const fixed = variant === 'fixed';
  return defineScenario({
    name: `lost-update-${variant}`,
    description: fixed
      ? `${TASKS} tasks on CPU 0 increment a per-CPU counter ${ITERATIONS} times each inside preempt_disable()`
      : `${TASKS} tasks on CPU 0 increment a per-CPU counter ${ITERATIONS} times each with a preemptible read-add-write`,
    machine: { cpus: 2, tickInterval: 50 },
    pct: { depth: 2, steps: 6000 },
    define(m) {
      m.definePerCpu('counter', u64, 0n);
    },
    setup(k) {
      const program = k.assemble(`
          r6 = 0
        loop:
          ${fixed ? 'call preempt_disable' : '# preemptible from here...'}
          r1 = counter ll
          r1 = this_cpu_ptr(r1)
          r2 = *(u64 *)(r1 + 0)
          r2 += 1
          *(u64 *)(r1 + 0) = r2
          ${fixed ? 'call preempt_enable' : '# ...to here'}
          r6 += 1
          if r6 < ${ITERATIONS} goto loop
          r0 = 0
          exit
      `);
      for (let t = 0; t < TASKS; t++) k.spawn({ comm: `inc${t}`, cpu: 0, allowed: [0], program });
    },
    invariants: [perCpuSumEquals('counter', BigInt(TASKS * ITERATIONS))],
  });
}
