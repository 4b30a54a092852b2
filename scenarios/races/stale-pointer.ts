/**
 * Race 2, the stale per-CPU pointer: a task computes `this_cpu_ptr`, is
 * preempted and migrated, and then writes through the pointer it computed
 * before, into the unit of the CPU it left, where that CPU's tasks are
 * working. Each task counts into its own slot of a per-CPU array (so only
 * misplaced writes can break the books), and records every increment a
 * second time with the one-instruction `this_cpu_add`, which always lands
 * on the CPU the task is on at that instruction. The invariant: in every
 * CPU's unit, each slot of `hits` equals the same slot of `done`.
 *
 * Fixed with a CpuGuard (preempt_disable: no preemption, so no migration,
 * inside the block) or with migrate_disable (the task may be preempted but
 * stays on its CPU, so the pointer stays its own; DEBUG_PREEMPT accepts it).
 *
 * @example
 * runScenario(stalePointer('racy'), { strategy: 'pct', seed: 2 }).ok; // false
 */

import {
  array,
  defineScenario,
  type Invariant,
  type Kernel,
  perCpuValues,
  type Scenario,
  u64,
} from 'percpu-emu';

const ITERATIONS = 100;
const SLOTS = 32;

export type StalePointerVariant = 'racy' | 'fixed-guard' | 'fixed-migrate-disable';

const tasksFor = (k: Kernel) => Math.min(SLOTS, 2 * k.nrCpus);

const everyIncrementLandsHome: Invariant = {
  name: 'every increment landed in the unit of the CPU that made it',
  variables: ['hits', 'done'],
  check(k) {
    const bad: string[] = [];
    let total = 0n;
    for (let t = 0; t < tasksFor(k); t++) {
      const hits = perCpuValues(k, 'hits', t);
      const done = perCpuValues(k, 'done', t);
      hits.forEach((h, cpu) => {
        total += h;
        if (h !== done[cpu]) bad.push(`task ${t} on CPU ${cpu}: hits ${h}, done ${done[cpu]}`);
      });
    }
    const expected = BigInt(tasksFor(k) * ITERATIONS);
    return {
      ok: bad.length === 0 && total === expected,
      detail:
        bad.length === 0
          ? `all slots agree, ${total} increments of ${expected}`
          : bad.slice(0, 3).join('; '),
    };
  },
};

export function stalePointer(variant: StalePointerVariant): Scenario {
  const guard = variant === 'fixed-guard';
  const pin = variant === 'fixed-migrate-disable';
  const [enter, leave] = guard
    ? ['call preempt_disable', 'call preempt_enable']
    : pin
      ? ['call migrate_disable', 'call migrate_enable']
      : ['', ''];
  return defineScenario({
    name: `stale-pointer-${variant}`,
    description: `2 tasks per CPU, free to migrate, count into their own per-CPU slots through this_cpu_ptr${
      guard
        ? ' inside a CpuGuard (preempt_disable)'
        : pin
          ? ' inside migrate_disable()'
          : ' with nothing held'
    }`,
    machine: { cpus: 2, tickInterval: 40 },
    pct: { depth: 3, steps: 8000 },
    define(m) {
      m.definePerCpu('hits', array(u64, SLOTS), undefined);
      m.definePerCpu('done', array(u64, SLOTS), undefined);
    },
    setup(k) {
      const program = k.assemble(`
          r9 = r1                 # this task's slot
          r9 <<= 3
          r6 = 0
        loop:
          ${enter}
          r7 = hits ll
          r7 += r9
          r7 = this_cpu_ptr(r7)   # this CPU's slot...
          r2 = *(u64 *)(r7 + 0)
          r2 += 1
          *(u64 *)(r7 + 0) = r2   # ...or the one of the CPU we were on
          r1 = done ll
          r1 += r9
          r2 = 1
          call this_cpu_add       # the books: one instruction, on the CPU we are on
          ${leave}
          r6 += 1
          if r6 < ${ITERATIONS} goto loop
          r0 = 0
          exit
      `);
      for (let t = 0; t < tasksFor(k); t++) {
        k.spawn({ comm: `counter${t}`, cpu: t % k.nrCpus, program, args: [t] });
      }
    },
    invariants: [everyIncrementLandsHome],
  });
}
