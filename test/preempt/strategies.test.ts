import { describe, expect, it } from 'vitest';
import { apply, runDeterministic, type Strategy } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { type Decision, ScheduleLog } from '../../preempt/schedule-log.ts';
import { cannotMigrate } from '../../preempt/scheduler.ts';
import { pct } from '../../preempt/strategies/pct.ts';
import { migrations, random } from '../../preempt/strategies/random.ts';
import { replay } from '../../preempt/strategies/replay.ts';
import { roundRobin } from '../../preempt/strategies/round-robin.ts';
import { u64 } from '../../segments/ctype.ts';
import { ErrnoError } from '../../segments/errno.ts';

/**
 * A small racy machine with something of everything a schedule can change:
 * free tasks doing a preemptible read-modify-write through this_cpu_ptr
 * (DEBUG_PREEMPT reports), a sleep, a pinned task, a migrate_disable
 * section, a native task, a kthread and a timer handler on every CPU.
 */
function scenario(cpus = 2, { timerHandler = true } = {}): Kernel {
  const b = new Machine({ cpus, tickInterval: 40, timeSlice: 1, memorySize: 16 << 20 });
  b.definePerCpu('counter', u64, 0n);
  b.definePerCpu('done', u64, 0n);
  b.definePerCpu('irqs', u64, 0n);
  const m = b.boot();
  if (timerHandler)
    m.onTimer('all', m.assemble('r1 = irqs ll\nr2 = 1\ncall this_cpu_add\nr0 = 0\nexit'));
  const racy = m.assemble(`
      r6 = 0
    loop:
      r7 = counter ll
      r7 = this_cpu_ptr(r7)
      r2 = *(u64 *)(r7 + 0)
      r2 += 1
      *(u64 *)(r7 + 0) = r2
      r1 = done ll
      r2 = 1
      call this_cpu_add
      r6 += 1
      if r6 != 20 goto no_nap
      r1 = 1
      call msleep
    no_nap:
      if r6 < 40 goto loop
      call 8
      exit
  `);
  for (let t = 0; t < 2 * cpus; t++) m.spawn({ comm: `racer${t}`, cpu: t % cpus, program: racy });
  m.spawn({ comm: 'pinned', cpu: 0, allowed: [0], program: racy });
  m.spawn({
    comm: 'md',
    cpu: cpus - 1,
    program: m.assemble(`
      call migrate_disable
      r6 = 0
    spin:
      r6 += 1
      if r6 < 150 goto spin
      call migrate_enable
      r0 = 0
      exit
    `),
  });
  m.spawn({
    comm: 'native',
    cpu: 0,
    *body() {
      for (let k = 0; k < 30; k++) yield;
      return 9;
    },
  });
  m.spawn({ comm: 'kworker/0', cpu: 0, kthread: true, program: racy });
  return m;
}

const memoryOf = (m: Kernel) => Buffer.from(m.memory.buffer);

const STRATEGIES: [string, () => Strategy][] = [
  ['round-robin', () => roundRobin({ quantum: 7 })],
  ['random', () => random({ seed: 7 })],
  ['pct', () => pct({ seed: 7, depth: 3, steps: 3000 })],
];

describe.each(STRATEGIES)('%s', (_name, make) => {
  it('gives the same ftrace text and the same replay string for the same seed', () => {
    const a = scenario();
    const b = scenario();
    const ra = runDeterministic(a, make());
    const rb = runDeterministic(b, make());
    expect(ra.finished).toBe(true);
    expect(rb).toEqual(ra);
    expect(b.tracer!.toFtrace()).toBe(a.tracer!.toFtrace());
    expect(b.reports).toEqual(a.reports);
  });

  it('replay(string) reproduces the same trace and the same final memory', () => {
    const original = scenario();
    const result = runDeterministic(original, make());
    const again = scenario();
    const replayed = runDeterministic(again, replay(result.replay));
    expect(replayed.finished).toBe(true);
    expect(replayed.steps).toBe(result.steps);
    expect(replayed.replay).toBe(result.replay);
    expect(again.tracer!.toFtrace()).toBe(original.tracer!.toFtrace());
    expect(memoryOf(again).equals(memoryOf(original))).toBe(true);
  });
});

describe('replay', () => {
  it('refuses a replay string recorded for another number of CPUs with EINVAL', () => {
    const result = runDeterministic(scenario(2), roundRobin());
    let error: unknown;
    try {
      runDeterministic(scenario(3), replay(result.replay));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ErrnoError);
    expect((error as ErrnoError).errno).toBe('EINVAL');
    expect((error as ErrnoError).message).toMatch(/2 CPUs.*3/);
  });

  it('refuses garbage before running anything', () => {
    expect(() => replay('not a schedule')).toThrow(ErrnoError);
  });

  it('stops when its decisions run out', () => {
    const log = new ScheduleLog(2);
    const prefix: Decision[] = [
      { kind: 'run', cpu: 0, quantum: 10 },
      { kind: 'run', cpu: 1, quantum: 10 },
      { kind: 'run', cpu: 0, quantum: 15 },
    ];
    for (const d of prefix) log.record(d);
    const m = scenario(2);
    const result = runDeterministic(m, replay(log.encode()));
    expect(result.finished).toBe(false);
    expect(result.steps).toBe(35);
    expect(m.cpus.map((c) => c.clock)).toEqual([25, 10]);
  });

  it('different seeds give different schedules', () => {
    const one = runDeterministic(scenario(), random({ seed: 1 })).replay;
    const two = runDeterministic(scenario(), random({ seed: 2 })).replay;
    expect(one).not.toBe(two);
  });
});

describe('round-robin', () => {
  it('runs CPU 0, 1, ..., n-1 for the same quantum, again and again', () => {
    const m = scenario(3, { timerHandler: false });
    const result = runDeterministic(m, roundRobin({ quantum: 25 }), { maxSteps: 600 });
    const list = ScheduleLog.decode(result.replay).list;
    expect(list.length).toBe(24);
    list.forEach((d, k) => {
      expect(d).toEqual({ kind: 'run', cpu: k % 3, quantum: 25 });
    });
    expect(m.cpus.map((c) => c.clock)).toEqual([200, 200, 200]);
  });

  it('advances every CPU clock evenly, also when only one CPU has a timer handler', () => {
    const b = new Machine({ cpus: 2, tickInterval: 40 });
    b.definePerCpu('irqs', u64, 0n);
    const m = b.boot();
    m.onTimer(0, m.assemble('r1 = irqs ll\nr2 = 1\ncall this_cpu_add\nr0 = 0\nexit'));
    const busy = m.assemble('r6 = 0\nspin:\nr6 += 1\nif r6 < 1000 goto spin\nexit');
    for (const cpu of [0, 1]) m.spawn({ comm: `busy${cpu}`, cpu, allowed: [cpu], program: busy });
    // Twenty whole rounds of 10 instructions per CPU.
    const rr = roundRobin({ quantum: 10 });
    let decisions = 0;
    runDeterministic(m, {
      name: rr.name,
      decide: (mm) => (decisions++ < 40 ? rr.decide(mm) : null),
    });
    expect(m.cpus[0].ticks).toBeGreaterThan(0);
    expect(m.cpus[1].clock).toBe(200);
    expect(m.cpus[0].clock).toBe(m.cpus[1].clock);
  });

  it('on one CPU, is a single merged run as long as the whole run', () => {
    const m = scenario(1, { timerHandler: false });
    const result = runDeterministic(m, roundRobin({ quantum: 10 }));
    expect(result.finished).toBe(true);
    expect(ScheduleLog.decode(result.replay).list).toEqual([
      { kind: 'run', cpu: 0, quantum: result.steps },
    ]);
  });
});

describe('the engine', () => {
  it('stops at maxSteps without finishing', () => {
    const m = scenario(2, { timerHandler: false });
    const result = runDeterministic(m, roundRobin({ quantum: 10 }), { maxSteps: 95 });
    expect(result.finished).toBe(false);
    expect(result.steps).toBe(100);
  });

  it('refuses a decision naming a CPU the machine does not have', () => {
    const m = scenario(2);
    expect(() => apply(m, { kind: 'run', cpu: 2, quantum: 1 })).toThrow(/EINVAL/);
    expect(() => apply(m, { kind: 'kick', cpu: -1 })).toThrow(/EINVAL/);
  });
});

describe('pct', () => {
  const decisionsOf = (seed: number, depth: number) => {
    const result = runDeterministic(scenario(), pct({ seed, depth, steps: 2000 }));
    expect(result.finished).toBe(true);
    return ScheduleLog.decode(result.replay).list;
  };

  it('with depth 1 never demotes a task, so never migrates one', () => {
    for (let seed = 1; seed <= 8; seed++)
      expect(decisionsOf(seed, 1).filter((d) => d.kind === 'migrate')).toEqual([]);
  });

  it('with depth 3 demotes tasks at its change points and moves them', () => {
    let moves = 0;
    for (let seed = 1; seed <= 8; seed++)
      moves += decisionsOf(seed, 3).filter((d) => d.kind === 'migrate').length;
    expect(moves).toBeGreaterThan(0);
  });

  it('finishes a run in which every task sleeps at the same time', () => {
    const m = new Machine({ cpus: 2, tickInterval: 50 }).boot();
    const nap = m.assemble('r1 = 3\ncall msleep\nr1 = 2\ncall msleep\nr0 = 1\nexit');
    const tasks = [0, 1].map((cpu) => m.spawn({ comm: `nap${cpu}`, cpu, program: nap }));
    const result = runDeterministic(m, pct({ seed: 5, depth: 2 }), { maxSteps: 100_000 });
    expect(result.finished).toBe(true);
    expect(tasks.map((t) => t.exitCode)).toEqual([1n, 1n]);
  });
});

describe('random', () => {
  /** Every migration possible now, found by trying every task and CPU. */
  function legalMoves(m: Kernel): string[] {
    const out: string[] = [];
    for (const t of m.tasks.values())
      for (const c of m.cpus)
        if (cannotMigrate(m, t, c.id) === undefined) out.push(`${t.pid}>${c.id}`);
    return out.sort();
  }

  it('only picks legal migrations, and migrations(m) lists exactly the legal ones', () => {
    let picked = 0;
    let checked = 0;
    for (let seed = 1; seed <= 5; seed++) {
      const inner = random({ seed, migrateRate: 0.3, kickRate: 0.1 });
      const checking: Strategy = {
        name: `checked ${inner.name}`,
        decide(m) {
          const d = inner.decide(m);
          if (d?.kind === 'migrate') {
            picked++;
            expect(cannotMigrate(m, m.tasks.get(d.pid)!, d.cpu)).toBeUndefined();
          }
          if (checked < 2000) {
            checked++;
            const listed = migrations(m)
              .map((x) => (x.kind === 'migrate' ? `${x.pid}>${x.cpu}` : ''))
              .sort();
            expect(listed).toEqual(legalMoves(m));
          }
          return d;
        },
      };
      expect(runDeterministic(scenario(3), checking).finished).toBe(true);
    }
    expect(picked).toBeGreaterThan(10);
  });
});
