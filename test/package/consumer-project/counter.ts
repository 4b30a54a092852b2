// A scenario written in a user's project: two tasks count into a per-CPU
// counter on CPU 0, racy unless FIXED is set.
import { defineScenario, perCpuSumEquals, type Scenario, u64 } from 'percpu-emu';

export function counter(fixed: boolean): Scenario {
  return defineScenario({
    name: fixed ? 'my-counter-fixed' : 'my-counter-racy',
    description: 'two tasks on CPU 0 bump a per-CPU counter',
    machine: { cpus: 2, tickInterval: 50 },
    define(m) {
      m.definePerCpu('counter', u64, 0n);
    },
    setup(k) {
      const program = k.assemble(`
          r6 = 0
        loop:
          ${fixed ? 'call preempt_disable' : ''}
          r1 = counter ll
          r1 = this_cpu_ptr(r1)
          r2 = *(u64 *)(r1 + 0)
          r2 += 1
          *(u64 *)(r1 + 0) = r2
          ${fixed ? 'call preempt_enable' : ''}
          r6 += 1
          if r6 < 100 goto loop
          r0 = 0
          exit
      `);
      for (const n of [0, 1]) k.spawn({ comm: `inc${n}`, cpu: 0, allowed: [0], program });
    },
    invariants: [perCpuSumEquals('counter', 200n)],
  });
}

export default counter(process.env.COUNTER_RACY === undefined);
