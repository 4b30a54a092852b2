/**
 * Lab stale-pointer's machine: tasks written in TS (native kernel code),
 * two per CPU, free to migrate, each counting events into its own slot of a
 * per-CPU array through the student's code; the harness's books count the
 * same events with `this_cpu_add`. Invariant: in every CPU's copy, each
 * slot of `cache_hits` equals the same slot of `cache_done`, and all the
 * events are counted.
 *
 * @example
 * const s = await staleScenario(dir, { part: 'a', pinned: false });
 */

import {
  array,
  defineScenario,
  type Invariant,
  type Kernel,
  PerCpuPtr,
  perCpuValues,
  type Scenario,
  u64,
} from 'percpu-emu';
import { importStudentModule } from '../grader/source.ts';

export const SLOTS = 8;
export const EVENTS = 30;

/** The student's module, as the starter declares it. */
interface CacheModule {
  countEvents(k: Kernel, user: unknown): Generator<void, void, void>;
  countEventsWithTokens(k: Kernel, user: unknown): Generator<void, void, void>;
}

export interface StaleOptions {
  readonly part: 'a' | 'b';
  /** Tasks pinned to their CPU: no migration, so no stale pointer. */
  readonly pinned: boolean;
}

const tasksOf = (k: Kernel) => Math.min(SLOTS, 2 * k.nrCpus);

const everyEventCountedHome: Invariant = {
  name: 'every event counted in the unit of the CPU that handled it',
  check(k) {
    const bad: string[] = [];
    let total = 0n;
    for (let t = 0; t < tasksOf(k); t++) {
      const hits = perCpuValues(k, 'cache_hits', t);
      const done = perCpuValues(k, 'cache_done', t);
      hits.forEach((h, cpu) => {
        total += h;
        if (h !== done[cpu]) bad.push(`task ${t}: CPU ${cpu} cache_hits ${h}, books ${done[cpu]}`);
      });
    }
    const expected = BigInt(tasksOf(k) * EVENTS);
    if (bad.length === 0 && total !== expected) bad.push(`${total} events counted of ${expected}`);
    return {
      ok: bad.length === 0,
      detail: bad.length === 0 ? `all slots agree, ${total} events` : bad.slice(0, 3).join('; '),
    };
  },
};

export async function staleScenario(dir: string, o: StaleOptions): Promise<Scenario> {
  const mod = await importStudentModule<CacheModule>(dir, 'cache.ts', 'stale-pointer');
  return defineScenario({
    name: `stale-pointer-part-${o.part}`,
    description: `2 TS tasks per CPU${o.pinned ? ', pinned,' : ', free to migrate,'} count ${EVENTS} events each into their per-CPU slot (part ${o.part.toUpperCase()})`,
    machine: { cpus: 2, tickInterval: 40 },
    pct: { depth: 3, steps: 400 },
    define(m) {
      m.definePerCpu('cache_hits', array(u64, SLOTS), undefined);
      m.definePerCpu('cache_done', array(u64, SLOTS), undefined);
    },
    setup(k) {
      const base = (name: string) => k.symbol(name);
      for (let t = 0; t < tasksOf(k); t++) {
        const hits = new PerCpuPtr<bigint>(
          k.areas,
          base('cache_hits') + 8 * t,
          u64,
          `cache_hits[${t}]`,
        );
        const done = new PerCpuPtr<bigint>(
          k.areas,
          base('cache_done') + 8 * t,
          u64,
          `cache_done[${t}]`,
        );
        const counted = () => done.thisCpuAdd(k, 1n);
        const user =
          o.part === 'a'
            ? { hits, events: EVENTS, counted }
            : { hits: { token: hits.token.bind(hits) }, events: EVENTS, counted };
        const cpu = t % k.nrCpus;
        k.spawn({
          comm: `user${t}`,
          cpu,
          allowed: o.pinned ? [cpu] : undefined,
          body: function* () {
            yield* o.part === 'a' ? mod.countEvents(k, user) : mod.countEventsWithTokens(k, user);
            return 0;
          },
        });
      }
    },
    invariants: [everyEventCountedHome],
  });
}
