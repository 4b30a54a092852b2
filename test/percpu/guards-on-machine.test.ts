import { describe, expect, it } from 'vitest';
import { CpuGuard } from '../../percpu/cpu-guard.ts';
import { MigrateGuard } from '../../percpu/migrate-guard.ts';
import type { PerCpuRef } from '../../percpu/per-cpu-ref.ts';
import { StaticPerCpu } from '../../percpu/static-per-cpu.ts';
import { runDeterministic } from '../../preempt/engine.ts';
import { Machine } from '../../preempt/machine.ts';
import { roundRobin } from '../../preempt/strategies/round-robin.ts';
import { u64 } from '../../segments/ctype.ts';

const ITERATIONS = 60;

/** Two native tasks on CPU 0 doing read, yield (a preemption point), write on one per-CPU counter. */
function twoIncrementers(guarded: boolean) {
  const b = new Machine({ cpus: 2, tickInterval: 3, timeSlice: 1 });
  b.definePerCpu('counter', u64, 0n);
  const m = b.boot();
  const counter = StaticPerCpu.lookup<bigint>(m, 'counter', u64);
  const preemptCounts: number[] = [];
  for (const comm of ['inc0', 'inc1']) {
    m.spawn({
      comm,
      cpu: 0,
      allowed: [0],
      *body() {
        for (let k = 0; k < ITERATIONS; k++) {
          if (guarded) {
            using g = CpuGuard.enter(m);
            const r = counter.ptr.get(g);
            const v = r.read();
            yield;
            r.write(v + 1n);
          } else {
            const v = counter.ptr.rawCpuRead(m);
            yield;
            counter.ptr.rawCpuWrite(m, v + 1n);
          }
          preemptCounts.push(m.cpus[0].preemptCount);
          yield;
        }
        return 0;
      },
    });
  }
  const result = runDeterministic(m, roundRobin({ quantum: 5 }));
  return { m, counter, result, preemptCounts };
}

describe('guards on the machine (native tasks, deterministic engine)', () => {
  it('a CpuGuard across a preemption point keeps the read-modify-write whole', () => {
    const racy = twoIncrementers(false);
    expect(racy.result.finished).toBe(true);
    expect(racy.counter.sum()).toBeLessThan(2n * BigInt(ITERATIONS));

    const fixed = twoIncrementers(true);
    expect(fixed.result.finished).toBe(true);
    expect(fixed.counter.values()).toEqual([2n * BigInt(ITERATIONS), 0n]);
    expect(fixed.preemptCounts.every((c) => c === 0)).toBe(true);
    expect(fixed.m.reports).toEqual([]);
  });

  it('a ref kept past its guard, or a __this_cpu op while preemptible, is reported', () => {
    const b = new Machine({ cpus: 1 });
    b.definePerCpu('counter', u64, 0n);
    const m = b.boot();
    const counter = StaticPerCpu.lookup<bigint>(m, 'counter', u64);
    m.spawn({
      comm: 'sloppy',
      *body() {
        counter.ptr.__thisCpuInc(m);
        let kept: PerCpuRef<bigint>;
        {
          using g = CpuGuard.enter(m);
          kept = counter.ptr.get(g);
        }
        yield;
        kept.write(5n);
        return 0;
      },
    });
    runDeterministic(m, roundRobin());
    const lines = m.reports.map((r) => `${r.kind}: ${r.lines[0]}`);
    expect(lines).toEqual([
      'debug_preempt: BUG: using __this_cpu_inc() in preemptible [00000000] code: sloppy/1',
      "oops: BUG: EPERM: PerCpuRef to 'counter' on CPU 0 used after its CpuGuard was dropped",
    ]);
    expect(counter.values()).toEqual([1n]);
    expect(m.cpus[0].preemptCount).toBe(0);
  });

  it('keeps the guard stacks of tasks interleaving on one CPU under migrate_disable apart', () => {
    const m = new Machine({ cpus: 1, tickInterval: 2, timeSlice: 1 }).boot();
    const order: string[] = [];
    for (const comm of ['a', 'b']) {
      m.spawn({
        comm,
        *body() {
          using g = MigrateGuard.enter(m);
          order.push(`${comm} in`);
          for (let k = 0; k < 10; k++) yield;
          order.push(`${comm} out on ${g.cpu}`);
          return 0;
        },
      });
    }
    expect(runDeterministic(m, roundRobin({ quantum: 3 })).finished).toBe(true);
    expect(order).toEqual(['a in', 'b in', 'a out on 0', 'b out on 0']);
    expect(m.reports).toEqual([]);
  });
});
