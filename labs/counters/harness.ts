/**
 * Lab counters' machine: per-CPU statistics (`struct pcpu_stats`) updated by
 * the student's `stats_task_update` from tasks pinned to each CPU and by
 * `stats_irq_update` from the timer interrupt handler. The harness keeps its
 * own books with the one-instruction `this_cpu_add` (which nothing can come
 * between): per CPU, the task packets and bytes and the interrupt packets.
 * Tasks are pinned, so each update and its book entry land on the same CPU.
 *
 * The invariant, per CPU: packets = task packets + irq packets, bytes = task
 * bytes + IRQ_LEN * irq packets, irq_packets = irq packets.
 *
 * @example
 * runScenario(countersScenario(dir, { tasksPerCpu: 2, tickInterval: 37 }), { seed: 1 });
 */

import {
  defineScenario,
  type Invariant,
  type Kernel,
  perCpuValues,
  type Scenario,
  struct,
  u64,
} from 'percpu-emu';
import { assembleWithHarness } from '../grader/source.ts';

export const ITERATIONS = 30;
/** The length of every packet the interrupt handler accounts. */
export const IRQ_LEN = 60;

export const pcpuStatsType = struct('pcpu_stats', [
  ['packets', u64],
  ['bytes', u64],
  ['irq_packets', u64],
]);

export interface CountersOptions {
  readonly tasksPerCpu: number;
  readonly tickInterval: number;
  readonly cpus?: number;
  /** Replaces the student's functions by empty ones (the cost baseline). */
  readonly stub?: boolean;
}

const taskHarness = `
  r6 = 0
loop:
  r7 = r6
  r7 *= 37
  r7 %= 1400
  r7 += 64                      # this packet's length
  r1 = r7
  call stats_task_update
  r1 = book_packets ll
  r2 = 1
  call this_cpu_add
  r1 = book_bytes ll
  r2 = r7
  call this_cpu_add
  r6 += 1
  if r6 < ${ITERATIONS} goto loop
  r0 = 0
  exit
`;

const irqHarness = `
  r1 = ${IRQ_LEN}
  call stats_irq_update
  r1 = book_irq ll
  r2 = 1
  call this_cpu_add
  r0 = 0
  exit
`;

const STUB = `
stats_task_update:
  r0 = 0
  exit
stats_irq_update:
  r0 = 0
  exit
`;

const statsExact: Invariant = {
  name: 'per CPU, pcpu_stats matches the books',
  check(k: Kernel) {
    const field = (off: number) => perCpuValues(k, 'pcpu_stats', off / 8);
    const [packets, bytes, irqPackets] = [field(0), field(8), field(16)];
    const [bp, bb, bi] = ['book_packets', 'book_bytes', 'book_irq'].map((n) => perCpuValues(k, n));
    const bad: string[] = [];
    for (const c of k.cpus) {
      const i = c.id;
      const want = [bp[i] + bi[i], bb[i] + BigInt(IRQ_LEN) * bi[i], bi[i]];
      const got = [packets[i], bytes[i], irqPackets[i]];
      ['packets', 'bytes', 'irq_packets'].forEach((name, f) => {
        if (got[f] !== want[f]) bad.push(`CPU ${i} ${name} = ${got[f]}, expected ${want[f]}`);
      });
    }
    return {
      ok: bad.length === 0,
      detail: bad.length === 0 ? `every field exact on ${k.nrCpus} CPUs` : bad.join('; '),
    };
  },
};

export function countersScenario(dir: string, o: CountersOptions): Scenario {
  const withStudent = (k: Kernel, harness: string) =>
    o.stub === true
      ? k.assemble(`${harness}\n${STUB}`)
      : assembleWithHarness(k, harness, dir, 'stats.s', 'counters');
  return defineScenario({
    name: 'counters',
    description: `${o.tasksPerCpu} task(s) pinned to each CPU account ${ITERATIONS} packets each; the timer handler (every ${o.tickInterval} instructions) accounts one per tick`,
    machine: { cpus: o.cpus ?? 2, tickInterval: o.tickInterval },
    pct: { depth: 3, steps: 4000 },
    define(m) {
      m.definePerCpu('pcpu_stats', pcpuStatsType, undefined);
      for (const n of ['book_packets', 'book_bytes', 'book_irq']) m.definePerCpu(n, u64, 0n);
    },
    setup(k) {
      const program = withStudent(k, taskHarness);
      k.onTimer('all', withStudent(k, irqHarness));
      for (const c of k.cpus) {
        for (let t = 0; t < o.tasksPerCpu; t++) {
          k.spawn({ comm: `stats${c.id}.${t}`, cpu: c.id, allowed: [c.id], program });
        }
      }
    },
    invariants: [statsExact],
  });
}
