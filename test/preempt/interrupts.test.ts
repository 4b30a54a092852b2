import { describe, expect, it } from 'vitest';
import { apply } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine, type MachineOptions } from '../../preempt/machine.ts';
import type { TraceEvent } from '../../preempt/trace/events.ts';
import { array, u64 } from '../../segments/ctype.ts';
import { eventsOn, perCpu, run, spin, stepUntil } from './machine-fixtures.ts';

/** A handler program adding 1 to this CPU's `hits`. */
const COUNT_HITS = `
  r1 = hits ll
  r2 = 1
  call this_cpu_add
  r0 = 0
  exit
`;

function withHits(opts: MachineOptions): Kernel {
  const m = new Machine(opts);
  m.definePerCpu('hits', u64, 0n);
  return m.boot();
}

describe('the timer interrupt', () => {
  it("runs a CPU's timer handler program on every tick of that CPU and on no other", () => {
    const m = withHits({ cpus: 2, tickInterval: 40 });
    m.onTimer(0, m.assemble(COUNT_HITS));
    for (const cpu of [0, 1])
      m.spawn({
        comm: `busy${cpu}`,
        cpu,
        allowed: [cpu],
        program: m.assemble(`${spin(500)}\nexit`),
      });
    expect(run(m).finished).toBe(true);
    const c0 = m.cpus[0];
    // Interrupts were never disabled: one tick per tickInterval instructions of CPU 0.
    expect(c0.ticks).toBe(Math.floor(c0.clock / 40));
    expect(c0.ticks).toBeGreaterThanOrEqual(25);
    expect(perCpu(m, 'hits', 0)).toBe(BigInt(c0.ticks));
    expect(eventsOn(m, 0, 'irq_handler_entry')).toHaveLength(c0.ticks);
    expect(perCpu(m, 'hits', 1)).toBe(0n);
    expect(m.cpus[1].ticks).toBeGreaterThan(0);
  });

  it('irq_handler_entry records the interrupted instruction: the pc the task resumes at, -1 when idle', () => {
    const m = new Machine({ cpus: 2, tickInterval: 40 }).boot();
    // Straight-line code: the pc goes up by one per instruction, so by one tick between entries.
    const body = Array.from({ length: 400 }, () => 'r0 += 1').join('\n');
    m.spawn({ comm: 'line', cpu: 0, allowed: [0], program: m.assemble(`${body}\nexit`) });
    run(m);
    const onTask = eventsOn(m, 0, 'irq_handler_entry').filter((e) => e.pid !== 0);
    const pcs = onTask.map((e) => (e.type === 'irq_handler_entry' ? e.pc : NaN));
    expect(pcs.length).toBeGreaterThanOrEqual(8);
    for (let i = 1; i < pcs.length; i++) expect(pcs[i] - pcs[i - 1]).toBe(40);
    // The task runs from clock 0: the first tick stops it before its 41st instruction.
    expect(pcs[0]).toBe(40);
    expect(pcs.every((pc) => pc <= 400)).toBe(true);
    const idle = eventsOn(m, 1, 'irq_handler_entry');
    expect(idle.length).toBeGreaterThan(0);
    expect(idle.every((e) => e.type === 'irq_handler_entry' && e.pc === -1)).toBe(true);
    const text = m.tracer!.toFtrace();
    expect(text).toContain(`irq_handler_entry: irq=0 name=timer pc=${pcs[0]}`);
    expect(text).toContain('irq_handler_entry: irq=0 name=timer pc=kernel');
  });

  it("onTimer('all') runs the handler on every CPU's own ticks, idle ones included", () => {
    const m = withHits({ cpus: 3, tickInterval: 25 });
    m.onTimer('all', m.assemble(COUNT_HITS));
    m.spawn({ comm: 'busy', cpu: 0, allowed: [0], program: m.assemble(`${spin(300)}\nexit`) });
    run(m);
    for (let cpu = 0; cpu < 3; cpu++) {
      expect(m.cpus[cpu].ticks).toBeGreaterThan(0);
      expect(perCpu(m, 'hits', cpu)).toBe(BigInt(m.cpus[cpu].ticks));
    }
  });

  it('advances jiffies once per tick of CPU 0 (the timekeeping CPU)', () => {
    const m = new Machine({ cpus: 2, tickInterval: 30 }).boot();
    m.spawn({ comm: 'busy', cpu: 1, allowed: [1], program: m.assemble(`${spin(400)}\nexit`) });
    run(m);
    expect(m.memory.read64(m.symbol('jiffies'))).toBe(BigInt(m.cpus[0].ticks));
  });

  it('runs its handlers in hardirq context: HARDIRQ_OFFSET (0x10000) on top of the interrupted count, interrupts off', () => {
    const m = new Machine({ cpus: 1, tickInterval: 50 }).boot();
    const seen: { comm: string; count: number; irqsOn: boolean }[] = [];
    m.onTimer(0, {
      fn: (mm) => {
        const c = mm.here();
        seen.push({ comm: c.curr.comm, count: c.preemptCount, irqsOn: c.irqsEnabled });
      },
    });
    m.spawn({
      comm: 'holder',
      program: m.assemble(`
        call preempt_disable
        ${spin(100, 'held')}
        call preempt_enable
        ${spin(100, 'free')}
        r0 = 0
        exit
      `),
    });
    run(m);
    expect(seen.length).toBeGreaterThanOrEqual(4);
    const held = seen.filter((s) => s.comm === 'holder' && s.count === 0x10001);
    const preemptible = seen.filter((s) => s.comm === 'holder' && s.count === 0x10000);
    expect(held.length).toBeGreaterThanOrEqual(2);
    expect(preemptible.length).toBeGreaterThanOrEqual(2);
    expect(seen.every((s) => s.count === 0x10000 || s.count === 0x10001)).toBe(true);
    expect(seen.every((s) => !s.irqsOn)).toBe(true);
  });

  it('a guest handler sees in_interrupt() true and preemptible() false', () => {
    const b = new Machine({ cpus: 1, tickInterval: 50 });
    b.defineData('out', array(u64, 2));
    const m = b.boot();
    m.onTimer(
      0,
      m.assemble(`
        r9 = out ll
        call in_interrupt
        *(u64 *)(r9 + 0) = r0
        call preemptible
        r0 += 10
        *(u64 *)(r9 + 8) = r0
        r0 = 0
        exit
      `),
    );
    m.spawn({ comm: 'busy', program: m.assemble(`${spin(100)}\nexit`) });
    run(m);
    const out = m.symbol('out');
    expect([m.memory.read64(out), m.memory.read64(out + 8)]).toEqual([1n, 10n]);
  });

  it('is held while interrupts are disabled and taken right after local_irq_restore', () => {
    const m = new Machine({ cpus: 1, tickInterval: 50 }).boot();
    const pcs: number[] = [];
    const t = m.spawn({
      comm: 'irqoff',
      program: m.assemble(`
        call local_irq_save
        r9 = r0
        ${spin(100)}
        r1 = r9
        call local_irq_restore
        r7 = 1
        ${spin(100, 'after')}
        exit
      `),
    });
    m.onTimer(0, {
      fn: (mm) => {
        if (mm.here().curr.pid === t.pid) pcs.push(t.ctx!.pc);
      },
    });
    run(m);
    // Instructions 0..6 run with interrupts off (four ticks fall in there); 7 follows the restore.
    expect(pcs[0]).toBe(7);
    expect(pcs.some((pc) => pc >= 1 && pc <= 6)).toBe(false);
  });

  it('raises TIMER_SOFTIRQ after every tick and SCHED_SOFTIRQ every balanceInterval ticks, served with SOFTIRQ_OFFSET', () => {
    const m = new Machine({ cpus: 1, tickInterval: 20, balanceInterval: 3 }).boot();
    m.spawn({ comm: 'busy', program: m.assemble(`${spin(500)}\nexit`) });
    run(m);
    const ticks = m.cpus[0].ticks;
    const entries = eventsOn(m, 0, 'softirq_entry') as (TraceEvent & { vec: number })[];
    expect(entries.filter((e) => e.vec === 1)).toHaveLength(ticks);
    expect(entries.filter((e) => e.vec === 7)).toHaveLength(Math.floor(ticks / 3));
    expect(entries.every((e) => e.flags.softirq && !e.flags.hardirq)).toBe(true);
  });
});

describe('the reschedule IPI (an engine kick)', () => {
  function twoTasks(first: string) {
    const m = new Machine({ cpus: 1, timeSlice: 1000 }).boot();
    const a = m.spawn({ comm: 'a', program: m.assemble(first) });
    const b = m.spawn({ comm: 'b', program: m.assemble('r0 = 2\nexit') });
    stepUntil(m, 0, () => a.ctx!.pc >= 3);
    return { m, a, b, c: m.cpus[0] };
  }

  it('preempts a preemptible task at once', () => {
    const { m, a, b, c } = twoTasks(`${spin(100)}\nr0 = 1\nexit`);
    apply(m, { kind: 'kick', cpu: 0 });
    m.runCpu(0, 1);
    expect(c.curr.pid).toBe(b.pid);
    const events = m.tracer!.events();
    const entry = events.findIndex((e) => e.type === 'irq_handler_entry' && e.irq === 253);
    expect(events[entry]).toMatchObject({ name: 'resched', pid: a.pid });
    const next = events.slice(entry).find((e) => e.type === 'sched_switch');
    expect(next).toMatchObject({ prevComm: 'a', prevState: 'R+', nextComm: 'b' });
  });

  it('waits for preempt_enable in a task with preemption disabled, then switches right after it', () => {
    const { m, a, b, c } = twoTasks(`
      call preempt_disable
      ${spin(20)}
      call preempt_enable
      r0 = 1
      exit
    `);
    apply(m, { kind: 'kick', cpu: 0 });
    m.runCpu(0, 1);
    expect(c.curr.pid).toBe(a.pid);
    stepUntil(m, 0, () => c.curr.pid !== a.pid);
    expect(c.curr.pid).toBe(b.pid);
    // preempt_enable is instruction 4.
    expect(a.ctx!.pc).toBe(5);
  });

  it('on an idle CPU with nothing to run, is handled and the CPU stays idle', () => {
    const m = new Machine({ cpus: 2 }).boot();
    apply(m, { kind: 'kick', cpu: 1 });
    m.runCpu(1, 5);
    expect(m.cpus[1].isIdle).toBe(true);
    expect(eventsOn(m, 1, 'irq_handler_entry')).toMatchObject([{ irq: 253, pid: 0 }]);
    expect(eventsOn(m, 1, 'sched_switch')).toEqual([]);
  });
});

describe('the soft-lockup watchdog', () => {
  // One instruction is 1 ms and the threshold 1 s: a stall is reported after 2 s = 2000 instructions.
  const LOCKUP: MachineOptions = {
    cpus: 2,
    tickInterval: 10,
    nsPerInsn: 1_000_000,
    watchdogThresh: 1,
    timeSlice: 1,
  };
  /** Spins 1500 iterations (3000 instructions, 3 s), with preemption off if `held`. */
  const spinner = (held: boolean) => `
    ${held ? 'call preempt_disable' : ''}
    ${spin(1500)}
    ${held ? 'call preempt_enable' : ''}
    r0 = 0
    exit
  `;
  const lockups = (m: Kernel) => m.reports.filter((r) => r.kind === 'soft_lockup');

  it("reports one 'BUG: soft lockup - CPU#n stuck for Ns! [comm:pid]' for a task spinning with preemption disabled", () => {
    const m = new Machine(LOCKUP).boot();
    const t = m.spawn({ comm: 'hogger', cpu: 1, allowed: [1], program: m.assemble(spinner(true)) });
    expect(run(m).finished).toBe(true);
    const found = lockups(m);
    expect(found).toHaveLength(1);
    expect(found[0].cpu).toBe(1);
    expect(found[0].lines).toHaveLength(1);
    const match = /^BUG: soft lockup - CPU#1 stuck for (\d+)s! \[hogger:(\d+)\]$/.exec(
      found[0].lines[0],
    );
    expect(match).not.toBeNull();
    const seconds = Number(match![1]);
    expect(seconds).toBeGreaterThanOrEqual(2);
    expect(seconds).toBeLessThanOrEqual(3);
    expect(Number(match![2])).toBe(t.pid);
  });

  it('says nothing about a preemptible task spinning as long', () => {
    const m = new Machine(LOCKUP).boot();
    m.spawn({ comm: 'spinner', cpu: 0, allowed: [0], program: m.assemble(spinner(false)) });
    m.spawn({ comm: 'other', cpu: 0, allowed: [0], program: m.assemble(spinner(false)) });
    expect(run(m).finished).toBe(true);
    expect(lockups(m)).toEqual([]);
  });

  it('says nothing about a stall shorter than 2 * watchdogThresh', () => {
    const m = new Machine(LOCKUP).boot();
    m.spawn({
      comm: 'brief',
      program: m.assemble(`
        call preempt_disable
        ${spin(800)}
        call preempt_enable
        r0 = 0
        exit
      `),
    });
    run(m);
    expect(lockups(m)).toEqual([]);
  });

  it('reports each of two stalls separated by a context switch', () => {
    const m = new Machine(LOCKUP).boot();
    const first = m.spawn({
      comm: 'first',
      cpu: 0,
      allowed: [0],
      program: m.assemble(spinner(true)),
    });
    const second = m.spawn({
      comm: 'second',
      cpu: 0,
      allowed: [0],
      program: m.assemble(spinner(true)),
    });
    expect(run(m).finished).toBe(true);
    const lines = lockups(m).map((r) => r.lines[0]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`\\[first:${first.pid}\\]$`));
    expect(lines[1]).toMatch(new RegExp(`\\[second:${second.pid}\\]$`));
  });
});
