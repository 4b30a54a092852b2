/**
 * The percpu kptr race in C (scenarios/c/percpu_kptr.bpf.c, our version of
 * the kernel selftest percpu_alloc_array.c): once test_array_map_1
 * has published a first object, a writer replaces the object in an ARRAY
 * value 64 times (bpf_percpu_obj_new, kptr_xchg,
 * bpf_percpu_obj_drop) while readers on CPUs 1 and 2 load the pointer and
 * read CPU 0's copy, with no bpf_rcu_read_lock. A reader preempted between
 * the load and the read lets the grace period end; the drop frees the
 * object and the read is a use after free, which the per-CPU sanitizer
 * reports (KASAN).
 *
 * The random strategy catches it on every seed in 1..20 (measured, pinned
 * by test/scenarios/races/c-percpu-kptr.test.ts); PCT, which runs one task
 * at a time, catches it on none of them: the grace period needs ticks on
 * every CPU while the reader waits inside its window.
 *
 * @example
 * runScenario(cPercpuKptrRacy(), { strategy: 'random', seed: 1 }).ok; // false
 */

import path from 'node:path';
import { BpfObject, compileBpfC, defineScenario, type Scenario, type Task } from 'percpu-emu';

const SOURCE = path.join(import.meta.dirname, '../c/percpu_kptr.bpf.c');

export function cPercpuKptrRacy(): Scenario {
  return defineScenario({
    name: 'c-percpu-kptr-racy-no-rcu',
    description:
      'a C writer replaces a percpu kptr object while C readers on two other CPUs use it without bpf_rcu_read_lock',
    machine: { cpus: 3, tickInterval: 60, sanitizer: true },
    setup(k) {
      const obj = BpfObject.open(compileBpfC(SOURCE), { name: 'percpu_kptr' });
      obj.rodata.nr_cpus = k.nrCpus;
      obj.rodata.reader_delay = 200;
      for (const name of ['test_array_map_1', 'replace_no_rcu', 'read_no_rcu'])
        obj.program(name).autoload = true;
      obj.load(k);
      // The first object is published before the tasks start, so readers find one.
      obj.program('test_array_map_1').testRun({ cpu: 0 });
      const tasks: Task[] = [
        obj.program('replace_no_rcu').spawn({ comm: 'writer', cpu: 0 }),
        obj.program('read_no_rcu').spawn({ comm: 'reader1', cpu: 1 }),
        obj.program('read_no_rcu').spawn({ comm: 'reader2', cpu: 2 }),
      ];
      // Wait for the programs, then for the drops' grace periods, so the
      // objects are really freed when the invariants are judged.
      k.spawn({
        comm: 'rcu_barrier',
        cpu: 0,
        *body() {
          while (tasks.some((t) => !t.exited)) yield* k.sleepTicks(1);
          yield* k.rcuBarrier();
          return 0;
        },
      });
    },
    invariants: [
      {
        name: 'no sanitizer report',
        check(k) {
          const found = k.reports.filter((r) => r.kind === 'kasan' || r.kind === 'leak');
          return {
            ok: found.length === 0,
            detail:
              found.length === 0 ? 'none' : `${found.length}, the first: ${found[0].lines[0]}`,
          };
        },
      },
    ],
  });
}
