/**
 * Race 3, task against interrupt on one CPU: a task with preemption
 * disabled but interrupts enabled does `__this_cpu_read`, add,
 * `__this_cpu_write` on a per-CPU counter, while the timer interrupt
 * handler on the same CPU adds to the same counter. A tick between the read
 * and the write loses the handler's increment. Preemption being off does
 * not help: an interrupt is not a preemption.
 *
 * The books: the task counts its increments in `task_count` and the handler
 * in `irq_count` (both with this_cpu_add); per CPU, `events` must equal
 * their sum.
 *
 * Fixed with the one-instruction `this_cpu_add` (nothing can land inside
 * one instruction) or with local_irq_save()/local_irq_restore() around the
 * read-modify-write (the tick waits until interrupts are back on).
 *
 * @example
 * runScenario(irqRmw('racy'), { strategy: 'rr' }).ok; // false
 */

import {
  defineScenario,
  type Invariant,
  type Kernel,
  perCpuValues,
  type Scenario,
  u64,
} from 'percpu-emu';

const ITERATIONS = 300;

export type IrqRmwVariant = 'racy' | 'fixed-this-cpu-add' | 'fixed-irq-save';

const eventsAddUp: Invariant = {
  name: 'per CPU, events = task increments + interrupt increments',
  variables: ['events', 'task_count', 'irq_count'],
  check(k: Kernel) {
    const events = perCpuValues(k, 'events');
    const task = perCpuValues(k, 'task_count');
    const irq = perCpuValues(k, 'irq_count');
    const rows = events.map((e, cpu) => `CPU ${cpu}: ${e} vs ${task[cpu]} + ${irq[cpu]}`);
    return { ok: events.every((e, cpu) => e === task[cpu] + irq[cpu]), detail: rows.join('; ') };
  },
};

export function irqRmw(variant: IrqRmwVariant): Scenario {
  const rmw =
    variant === 'fixed-this-cpu-add'
      ? `r1 = events ll
          r2 = 1
          call this_cpu_add        # one instruction: no interrupt can land inside`
      : `${variant === 'fixed-irq-save' ? 'call local_irq_save\n          r8 = r0' : ''}
          r1 = events ll
          call __this_cpu_read
          r7 = r0
          r7 += 1                  # a tick here loses the handler's increment
          r1 = events ll
          r2 = r7
          call __this_cpu_write
          ${variant === 'fixed-irq-save' ? 'r1 = r8\n          call local_irq_restore' : ''}`;
  return defineScenario({
    name: `irq-rmw-${variant}`,
    description: `one task per CPU updates a per-CPU counter with preemption off (${
      variant === 'racy'
        ? '__this_cpu read, add, write'
        : variant === 'fixed-irq-save'
          ? 'inside local_irq_save'
          : 'this_cpu_add'
    }) while the timer handler adds to it`,
    machine: { cpus: 2, tickInterval: 37 },
    pct: { depth: 2, steps: 10000 },
    define(m) {
      m.definePerCpu('events', u64, 0n);
      m.definePerCpu('task_count', u64, 0n);
      m.definePerCpu('irq_count', u64, 0n);
    },
    setup(k) {
      const handler = k.assemble(`
          r1 = events ll
          r2 = 1
          call __this_cpu_add      # hardirq context: not preemptible, no report
          r1 = irq_count ll
          r2 = 1
          call this_cpu_add
          r0 = 0
          exit
      `);
      k.onTimer('all', handler);
      const program = k.assemble(`
          r6 = 0
        loop:
          call preempt_disable
          ${rmw}
          r1 = task_count ll
          r2 = 1
          call this_cpu_add
          call preempt_enable
          r6 += 1
          if r6 < ${ITERATIONS} goto loop
          r0 = 0
          exit
      `);
      for (const c of k.cpus)
        k.spawn({ comm: `updater${c.id}`, cpu: c.id, allowed: [c.id], program });
    },
    invariants: [eventsAddUp],
  });
}
