import { describe, expect, it } from 'vitest';
import { defineScenario, type Kernel, perCpuValues, type Scenario, u64 } from '../../../index.ts';
import { irqRmw } from '../../../scenarios/races/irq-rmw.ts';
import { runScenario } from '../../../scenarios/run-scenario.ts';
import { explored, fixedHolds, pctCatches } from './race-suite.ts';

/**
 * A user's per-CPU stats, as issue 14 tried it: pinned tasks count packets
 * and bytes under preempt_disable alone, and the timer handler counts its
 * own into the same per-CPU fields. Without interrupt arrival in the
 * schedule every seed gave the same numbers.
 */
function pinnedStats(variant: 'racy' | 'fixed'): Scenario {
  const add = (field: string, n: number) =>
    variant === 'fixed'
      ? `r1 = ${field} ll
         r2 = ${n}
         call this_cpu_add`
      : `r1 = ${field} ll
         call __this_cpu_read
         r7 = r0
         r7 += ${n}
         r1 = ${field} ll
         r2 = r7
         call __this_cpu_write`;
  return defineScenario({
    name: `pinned-stats-${variant}`,
    description: 'pinned tasks and the timer handler count packets and bytes per CPU',
    machine: { cpus: 2, tickInterval: 40 },
    pct: { depth: 2, steps: 10000 },
    define(m) {
      for (const v of ['packets', 'bytes', 'task_packets', 'irq_packets'])
        m.definePerCpu(v, u64, 0n);
    },
    setup(k) {
      k.onTimer(
        'all',
        k.assemble(`
          r1 = packets ll
          r2 = 1
          call __this_cpu_add
          r1 = bytes ll
          r2 = 100
          call __this_cpu_add
          r1 = irq_packets ll
          r2 = 1
          call __this_cpu_add
          r0 = 0
          exit`),
      );
      const program = k.assemble(`
          r6 = 0
        loop:
          call preempt_disable
          ${add('packets', 1)}
          ${add('bytes', 1500)}
          r1 = task_packets ll
          r2 = 1
          call this_cpu_add
          call preempt_enable
          r6 += 1
          if r6 < 150 goto loop
          r0 = 0
          exit`);
      for (const c of k.cpus) k.spawn({ comm: `rx${c.id}`, cpu: c.id, allowed: [c.id], program });
    },
    invariants: [
      {
        name: 'per CPU, packets = task packets + interrupt packets',
        check(k: Kernel) {
          const p = perCpuValues(k, 'packets');
          const t = perCpuValues(k, 'task_packets');
          const i = perCpuValues(k, 'irq_packets');
          const b = perCpuValues(k, 'bytes');
          return {
            ok: p.every((x, c) => x === t[c] + i[c]),
            detail: p.map((x, c) => `packets ${x}/${t[c] + i[c]} bytes ${b[c]}`).join('; '),
          };
        },
      },
    ],
  });
}

/** The outcomes (the last verdict's detail) of seeds 1..n under PCT. */
function outcomes(s: Scenario, n: number): Set<string> {
  const seen = new Set<string>();
  for (let seed = 1; seed <= n; seed++)
    seen.add(runScenario(s, { strategy: 'pct', seed }).verdicts.at(-1)!.detail);
  return seen;
}

describe('interrupt arrival is part of the schedule (issue 14)', () => {
  it('irq-rmw-racy loses a different number of increments on different seeds', () => {
    expect(outcomes(irqRmw('racy'), 5).size).toBeGreaterThan(1);
  });

  it('a racy pinned-task stats scenario gives different outcomes and is caught within 20 PCT seeds', () => {
    const racy = pinnedStats('racy');
    expect(outcomes(racy, 5).size).toBeGreaterThan(1);
    expect(pctCatches(racy, 20).length).toBeGreaterThan(0);
  });

  it('its fixed version holds over 1000 PCT seeds, at least 900 of them distinct schedules', () => {
    const { failed, schedules } = explored(pinnedStats('fixed'), 'pct', 1000);
    expect(failed).toEqual([]);
    expect(schedules).toBeGreaterThanOrEqual(900);
  });

  it('a replay string carries the ticks: the run comes back with the same outcome and trace', () => {
    const r = runScenario(irqRmw('racy'), { strategy: 'pct', seed: 4 });
    const again = runScenario(irqRmw('racy'), { replay: r.replay });
    expect(again.verdicts).toEqual(r.verdicts);
    expect(again.machine.tracer?.toFtrace()).toBe(r.machine.tracer?.toFtrace());
    expect(again.engine.replay).toBe(r.engine.replay);
  });
});

describe('race 3: __this_cpu read-modify-write against the timer interrupt', () => {
  const racy = irqRmw('racy');

  it('PCT catches it on every seed in 1..20', () => {
    expect(pctCatches(racy, 20)).toHaveLength(20);
  });

  it('loses interrupt increments on each CPU, though preemption is off', () => {
    const r = runScenario(racy, { strategy: 'rr' });
    expect(r.ok).toBe(false);
    for (const m of r.verdicts[1].detail.matchAll(/CPU \d: (\d+) vs (\d+) \+ (\d+)/g)) {
      expect(BigInt(m[1])).toBeLessThan(BigInt(m[2]) + BigInt(m[3]));
    }
  });

  it('DEBUG_PREEMPT stays silent: the __this_cpu ops run with preemption off', () => {
    expect(runScenario(racy, { strategy: 'pct', seed: 1 }).machine.debugPreemptReports).toBe(0);
  });

  fixedHolds(irqRmw('fixed-this-cpu-add'));
  fixedHolds(irqRmw('fixed-irq-save'));
});
