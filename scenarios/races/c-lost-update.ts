/**
 * The lost update again, written in C and compiled by clang
 * (scenarios/c/lost_update.bpf.c): two tasks on CPU 0 each add 1 to this
 * CPU's slot of a PERCPU_ARRAY `loops` times with a plain read-add-write.
 * A timer interrupt between the read and the write preempts one; the other
 * increments; the first writes back a stale value.
 *
 * Fixed: the C program calls the preempt_disable()/preempt_enable() kfuncs
 * around each update (`count_fixed`).
 *
 * Needs clang and libbpf-dev (apt-get install clang libbpf-dev).
 *
 * @example
 * runScenario(cLostUpdate('racy'), { strategy: 'pct', seed: 1 }).ok; // false
 */

import path from 'node:path';
import {
  BpfObject,
  bpfMapByName,
  compileBpfC,
  defineScenario,
  type Scenario,
  typedPercpuMap,
  u32,
  u64,
} from 'percpu-emu';

const SOURCE = path.join(import.meta.dirname, '../c/lost_update.bpf.c');
const LOOPS = 50;
const TASKS = 2;

export function cLostUpdate(variant: 'racy' | 'fixed'): Scenario {
  const program = variant === 'fixed' ? 'count_fixed' : 'count_racy';
  return defineScenario({
    name: `c-lost-update-${variant}`,
    description: `${TASKS} tasks on CPU 0 run the C program ${program}: ${LOOPS} increments each of a PERCPU_ARRAY slot${variant === 'fixed' ? ' inside preempt_disable()' : ' with a preemptible read-add-write'}`,
    machine: { cpus: 2, tickInterval: 50 },
    pct: { depth: 2, steps: 6000 },
    setup(k) {
      const obj = BpfObject.open(compileBpfC(SOURCE), { name: 'lost_update' });
      obj.rodata.loops = LOOPS;
      for (let t = 0; t < TASKS; t++)
        k.spawn({ object: obj, program, comm: `inc${t}`, cpu: 0, allowed: [0] }); // loads obj first
    },
    invariants: [
      {
        name: 'sum of hits[0] over CPUs is exact',
        variables: ['hits'],
        check(k) {
          const hits = typedPercpuMap<number, bigint>(bpfMapByName(k, 'hits'), u32, u64);
          const perCpu = hits.get(0) ?? [];
          const sum = perCpu.reduce((a, b) => a + b, 0n);
          const want = BigInt(TASKS * LOOPS);
          return {
            ok: sum === want,
            detail: `sum = ${sum} (per CPU: ${perCpu.join(', ')}), expected ${want}`,
          };
        },
      },
    ],
  });
}
