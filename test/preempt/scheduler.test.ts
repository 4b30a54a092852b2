import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { cannotMigrate, migrateTask } from '../../preempt/scheduler.ts';
import type { Task } from '../../preempt/task.ts';
import type {
  SchedMigrateTaskBody,
  SchedSwitchBody,
  SchedWakeupBody,
  TraceEvent,
  TraceHeader,
} from '../../preempt/trace/events.ts';
import { u64 } from '../../segments/ctype.ts';
import { run, spin, stepUntil } from './machine-fixtures.ts';

type Switch = TraceHeader & SchedSwitchBody;
type Migrate = TraceHeader & SchedMigrateTaskBody;
type Wakeup = TraceHeader & SchedWakeupBody;
const switches = (m: Kernel): Switch[] =>
  m.tracer!.events().filter((e): e is Switch => e.type === 'sched_switch');
const migrations = (m: Kernel): Migrate[] =>
  m.tracer!.events().filter((e): e is Migrate => e.type === 'sched_migrate_task');
const wakeups = (m: Kernel): Wakeup[] =>
  m.tracer!.events().filter((e): e is Wakeup => e.type === 'sched_wakeup');

/** A program that spins `n` iterations and exits with the CPU it ends on. */
const spinThenCpu = (m: Kernel, n: number) =>
  m.assemble(`${spin(n)}
    call 8
    exit`);

describe('time slices', () => {
  it('two tasks on one CPU alternate every timeSlice ticks, each switch traced prev_state=R+', () => {
    const m = new Machine({ cpus: 1, tickInterval: 100, timeSlice: 2, nsPerInsn: 1000 }).boot();
    const a = m.spawn({ comm: 'a', program: spinThenCpu(m, 500) });
    const b = m.spawn({ comm: 'b', program: spinThenCpu(m, 500) });
    expect(run(m).finished).toBe(true);
    const preemptions = switches(m).filter((s) => s.prevState === 'R+');
    expect(preemptions.length).toBeGreaterThanOrEqual(4);
    preemptions.forEach((s, k) => {
      expect(s.prevComm).toBe(k % 2 === 0 ? 'a' : 'b');
      expect(s.nextComm).toBe(k % 2 === 0 ? 'b' : 'a');
    });
    // A slice of 2 ticks of 100 instructions of 1000 ns each.
    for (let k = 1; k < preemptions.length; k++)
      expect(preemptions[k].ts - preemptions[k - 1].ts).toBe(200_000);
    expect(a.switches.involuntary).toBeGreaterThanOrEqual(2n);
    expect(b.switches.involuntary).toBeGreaterThanOrEqual(2n);
  });

  it('a lone task is not switched out when its slice ends', () => {
    const m = new Machine({ cpus: 1, tickInterval: 50, timeSlice: 1 }).boot();
    m.spawn({ comm: 'alone', program: spinThenCpu(m, 500) });
    run(m);
    expect(switches(m).filter((s) => s.prevState === 'R+')).toEqual([]);
  });
});

describe('exit', () => {
  it('an exiting task is traced sched_process_exit, keeps r0 as its exit code and never runs again', () => {
    const m = new Machine({ cpus: 1, tickInterval: 30, timeSlice: 1 }).boot();
    const quitter = m.spawn({ comm: 'quitter', program: m.assemble('r0 = -5\nexit') });
    const stayer = m.spawn({ comm: 'stayer', program: spinThenCpu(m, 200) });
    expect(run(m).finished).toBe(true);
    expect(quitter.exitCode).toBe(-5n);
    expect(stayer.exitCode).toBe(0n);
    const events = m.tracer!.events();
    const exitAt = events.findIndex(
      (e) => e.type === 'sched_process_exit' && e.taskPid === quitter.pid,
    );
    expect(exitAt).toBeGreaterThanOrEqual(0);
    expect(events[exitAt]).toMatchObject({ taskComm: 'quitter', cpu: 0 });
    const later = events.slice(exitAt + 1);
    expect(later.some((e) => e.pid === quitter.pid && e.type !== 'sched_switch')).toBe(false);
    expect(later.some((e) => e.type === 'sched_switch' && e.nextPid === quitter.pid)).toBe(false);
    const away = later.find((e): e is TraceEvent & Switch => e.type === 'sched_switch');
    expect(away?.prevPid).toBe(quitter.pid);
    expect(['X', 'Z']).toContain(away?.prevState);
    expect(quitter.exited).toBe(true);
    expect(m.liveTasks()).toEqual([]);
  });
});

describe('msleep', () => {
  function sleeper() {
    const m = new Machine({ cpus: 1, tickInterval: 1000, nsPerInsn: 1000 }).boot();
    const s = m.spawn({
      comm: 'sleeper',
      program: m.assemble(`${spin(250)}
        r1 = jiffies ll
        r7 = *(u64 *)(r1 + 0)
        call 5
        r8 = r0
        r1 = 5
        call msleep
        call 5
        r0 -= r8
        r1 = jiffies ll
        r1 = *(u64 *)(r1 + 0)
        r1 -= r7
        *(u64 *)(r10 - 8) = r1
        exit
      `),
    });
    const busy = m.spawn({ comm: 'busy', program: spinThenCpu(m, 2000) });
    expect(run(m).finished).toBe(true);
    return { m, s, busy };
  }

  // msleep sleeps uninterruptibly (schedule_timeout_uninterruptible): ftrace shows D.
  it('puts the task to sleep (prev_state=D), runs another task, and wakes it with sched_wakeup', () => {
    const { m, s } = sleeper();
    const all = switches(m);
    const asleep = all.findIndex((e) => e.prevPid === s.pid && e.prevState === 'D');
    expect(asleep).toBeGreaterThanOrEqual(0);
    expect(all[asleep].nextComm).toBe('busy');
    const woken = wakeups(m).filter((w) => w.taskPid === s.pid);
    // Spawn wakes it once; the end of the sleep once more.
    expect(woken).toHaveLength(2);
    expect(woken[1].ts).toBeGreaterThan(all[asleep].ts);
    expect(s.switches.voluntary).toBeGreaterThanOrEqual(1n);
  });

  it('sleeps at least the 5 jiffies asked', () => {
    const { s } = sleeper();
    // r0 held the elapsed ns; the jiffies delta was kept on the stack.
    const jiffiesDelta = s.memory.read64(s.stackTop - 8);
    expect(jiffiesDelta).toBeGreaterThanOrEqual(5n);
  });

  it('msleep(5) sleeps at least 5 ms of emulated time, even when called mid-tick', () => {
    const { s } = sleeper();
    expect(s.exitCode).toBeGreaterThanOrEqual(5_000_000n);
  });

  it('sleeping with preemption disabled is "scheduling while atomic", and the next task still runs preemptible', () => {
    const m = new Machine({ cpus: 1 }).boot();
    const s = m.spawn({
      comm: 'atomic',
      program: m.assemble('call preempt_disable\nr1 = 1\ncall msleep\ncall preempt_enable\nexit'),
    });
    const next = m.spawn({ comm: 'next', program: m.assemble('call preemptible\nexit') });
    run(m);
    const bug = m.reports
      .flatMap((r) => r.lines)
      .find((l) => l.includes('scheduling while atomic'));
    expect(bug).toMatch(
      new RegExp(`^BUG: scheduling while atomic: atomic/${s.pid}/0x[0-9a-f]{8}$`),
    );
    expect(next.exitCode).toBe(1n);
  });
});

describe('load balancing', () => {
  it('an idle CPU pulls a waiting task from a busy one (sched_migrate_task), which then runs there', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const first = m.spawn({ comm: 'first', cpu: 0, program: spinThenCpu(m, 100) });
    const second = m.spawn({ comm: 'second', cpu: 0, program: spinThenCpu(m, 100) });
    expect(run(m).finished).toBe(true);
    const moved = migrations(m);
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({ taskComm: 'second', origCpu: 0, destCpu: 1 });
    expect(first.exitCode).toBe(0n);
    expect(second.exitCode).toBe(1n);
    expect(switches(m).some((s) => s.cpu === 1 && s.nextComm === 'second')).toBe(true);
  });

  it('SCHED_SOFTIRQ pulls a waiting task when the busiest CPU has two more than this one', () => {
    const m = new Machine({ cpus: 2, tickInterval: 100, balanceInterval: 4 }).boot();
    m.spawn({ comm: 'hog', cpu: 1, allowed: [1], program: spinThenCpu(m, 3000) });
    for (const comm of ['a', 'b', 'c']) m.spawn({ comm, cpu: 0, program: spinThenCpu(m, 3000) });
    expect(run(m).finished).toBe(true);
    const onCpu1 = m.tracer!.events().filter((e) => e.cpu === 1);
    const at = onCpu1.findIndex((e) => e.type === 'sched_migrate_task');
    expect(at).toBeGreaterThan(0);
    const pull = onCpu1[at] as Migrate;
    expect(pull).toMatchObject({ origCpu: 0, destCpu: 1 });
    // 'a' was running on CPU 0; a waiting task moves.
    expect(['b', 'c']).toContain(pull.taskComm);
    expect(pull.flags.softirq).toBe(true);
    const before = onCpu1[at - 1];
    expect(before).toMatchObject({ type: 'softirq_entry', vec: 7 });
  });

  it('does not move tasks between CPUs that are equally loaded', () => {
    const m = new Machine({ cpus: 2, tickInterval: 50, balanceInterval: 1 }).boot();
    for (const cpu of [0, 1])
      for (const comm of ['x', 'y']) m.spawn({ comm, cpu, program: spinThenCpu(m, 1000) });
    run(m, 20);
    const early = migrations(m).filter((e) => e.ts < 1_000_000);
    expect(early).toEqual([]);
  });
});

describe('what prevents migration', () => {
  function pinnedCrowd() {
    const m = new Machine({ cpus: 2, tickInterval: 20, timeSlice: 1 }).boot();
    const md = m.spawn({
      comm: 'pinned_md',
      cpu: 0,
      program: m.assemble(`
        call migrate_disable
        call 8
        r8 = r0
        ${spin(100)}
        call 8
        r8 <<= 4
        r8 |= r0
        call migrate_enable
        r0 = r8
        exit
      `),
    });
    const masked = m.spawn({
      comm: 'masked',
      cpu: 0,
      allowed: [0],
      program: spinThenCpu(m, 100),
    });
    const kt = m.spawn({ comm: 'kworker/0', cpu: 0, kthread: true, program: spinThenCpu(m, 100) });
    const free = m.spawn({ comm: 'free', cpu: 0, program: spinThenCpu(m, 100) });
    return { m, md, masked, kt, free };
  }

  it('cannotMigrate names the reason: kthread, allowed mask, same CPU; a free waiting task may go', () => {
    const { m, masked, kt, free } = pinnedCrowd();
    expect(cannotMigrate(m, kt, 1)).toMatch(/kthread/);
    expect(cannotMigrate(m, masked, 1)).toMatch(/CPU 1 .*allowed/);
    expect(cannotMigrate(m, free, 0)).toMatch(/already on CPU 0/);
    expect(cannotMigrate(m, free, 1)).toBeUndefined();
    expect(migrateTask(m, kt, 1)).toBe(false);
    expect(migrateTask(m, masked, 1)).toBe(false);
    expect(migrations(m)).toEqual([]);
  });

  it('migrate_disable pins a preempted task: cannotMigrate says so and migrateTask refuses', () => {
    const { m, md } = pinnedCrowd();
    stepUntil(m, 0, () => md.migrationDisabled === 1 && md.onRq);
    expect(cannotMigrate(m, md, 1)).toMatch(/migration is disabled/);
    expect(migrateTask(m, md, 1)).toBe(false);
    const running = m.cpus[0].curr;
    expect(cannotMigrate(m, running, 1)).toBeDefined();
    expect(migrateTask(m, running, 1)).toBe(false);
    expect(migrations(m)).toEqual([]);
  });

  it('an idle CPU pulls only the free task; the pinned ones finish where they started', () => {
    const { m, md, masked, kt, free } = pinnedCrowd();
    expect(run(m).finished).toBe(true);
    const moved = migrations(m).map((e) => e.taskComm);
    expect(moved).not.toContain('pinned_md');
    expect(moved).not.toContain('masked');
    expect(moved).not.toContain('kworker/0');
    expect(md.exitCode).toBe(0x00n);
    expect(masked.exitCode).toBe(0n);
    expect(kt.cpu).toBe(0);
    expect(free.exitCode).toBe(1n);
    expect(cannotMigrate(m, free, 0)).toMatch(/exited/);
  });
});

describe('a migrated guest task', () => {
  /** `mover` computes this_cpu_ptr(&v) on CPU 0, spins until preempted, and is moved to CPU 1. */
  function migrated() {
    const b = new Machine({ cpus: 2, tickInterval: 20, timeSlice: 1, debugPreempt: 'off' });
    b.definePerCpu('v', u64, 0n);
    b.definePerCpu('books', u64, 0n);
    const m = b.boot();
    const mover = m.spawn({
      comm: 'mover',
      cpu: 0,
      program: m.assemble(`
        call 8
        r7 = r0
        r9 = v ll
        r9 = this_cpu_ptr(r9)
        ${spin(30)}
        call 8
        r8 = r0
        r1 = cpu_number ll
        r1 = this_cpu_ptr(r1)
        r6 = *(u32 *)(r1 + 0)
        r1 = 1
        *(u64 *)(r9 + 0) = r1
        r1 = books ll
        r2 = 1
        call this_cpu_add
        r0 = r7
        r0 <<= 8
        r8 <<= 4
        r0 |= r8
        r0 |= r6
        exit
      `),
    });
    const hog = m.spawn({ comm: 'hog', cpu: 0, allowed: [0], program: spinThenCpu(m, 200) });
    stepUntil(m, 0, () => mover.ctx!.pc > 0 && mover.onRq);
    const moved = migrateTask(m, mover, 1);
    expect(run(m).finished).toBe(true);
    return { m, mover, hog, moved };
  }
  const at = (m: Kernel, name: string, cpu: number) =>
    m.memory.read64(m.areas.perCpuPtr(m.symbol(name), cpu));

  it('is traced sched_migrate_task from CPU 0 to CPU 1 and resumes there', () => {
    const { m, mover, hog, moved } = migrated();
    expect(moved).toBe(true);
    expect(migrations(m)).toMatchObject([{ taskComm: 'mover', origCpu: 0, destCpu: 1 }]);
    expect(switches(m).some((s) => s.cpu === 1 && s.nextComm === 'mover')).toBe(true);
    expect(hog.exitCode).toBe(0n);
    expect(mover.cpu).toBe(1);
  });

  it("runs with the new CPU's gsBase: smp id 0 before, 1 after, and this_cpu_ptr reaches CPU 1's cpu_number", () => {
    const { mover } = migrated();
    expect(mover.exitCode).toBe(0x011n);
  });

  it('still holds a per-CPU pointer into the old CPU unit: the stale write lands on CPU 0', () => {
    const { m } = migrated();
    expect([at(m, 'v', 0), at(m, 'v', 1)]).toEqual([1n, 0n]);
    expect([at(m, 'books', 0), at(m, 'books', 1)]).toEqual([0n, 1n]);
  });
});

describe('wakeups', () => {
  it('waking a task onto an idle CPU sets need_resched there, and the CPU switches to it at once', () => {
    const m = new Machine({ cpus: 2 }).boot();
    expect(m.cpus[1].needResched).toBe(false);
    const t: Task = m.spawn({ comm: 'woken', cpu: 1, program: spinThenCpu(m, 10) });
    expect(m.cpus[1].needResched).toBe(true);
    expect(wakeups(m)).toMatchObject([{ taskComm: 'woken', taskPid: t.pid, targetCpu: 1 }]);
    m.runCpu(1, 1);
    expect(m.cpus[1].curr.pid).toBe(t.pid);
    expect(m.cpus[1].needResched).toBe(false);
  });
});
