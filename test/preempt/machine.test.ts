import { describe, expect, it } from 'vitest';
import { DEBUG_PREEMPT_BURST } from '../../preempt/debug-preempt.ts';
import { type DebugPreemptMode, Machine } from '../../preempt/machine.ts';
import { u64 } from '../../segments/ctype.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { ofKind, run, spin } from './machine-fixtures.ts';

/** The ErrnoError `fn` throws (fails the test if it throws something else or nothing). */
function errnoOf(fn: () => unknown): ErrnoError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ErrnoError) return e;
    throw e;
  }
  throw new Error('expected an ErrnoError, nothing was thrown');
}

/** A loop of `n` iterations (2n instructions) using r6; a guest program fragment. */

describe('boot', () => {
  it('gives every CPU its own __preempt_count at PREEMPT_ENABLED (0x80000000: count 0, inverted NEED_RESCHED set)', () => {
    const m = new Machine({ cpus: 3 }).boot();
    const addrs = new Set<number>();
    for (let cpu = 0; cpu < 3; cpu++) {
      const at = m.areas.perCpuPtr(m.symbol('__preempt_count'), cpu);
      addrs.add(at);
      expect(m.memory.read32(at)).toBe(0x8000_0000);
      expect(m.cpus[cpu].preemptCount).toBe(0);
      expect(m.cpus[cpu].needResched).toBe(false);
      expect(m.cpus[cpu].preemptible()).toBe(true);
    }
    expect(addrs.size).toBe(3);
  });

  it('points each CPU current_task at its idle task swapper/N (pid 0) and sets cpu_number to N', () => {
    const m = new Machine({ cpus: 4 }).boot();
    for (let cpu = 0; cpu < 4; cpu++) {
      const idle = m.cpus[cpu].idle;
      expect(idle.pid).toBe(0);
      expect(idle.comm).toBe(`swapper/${cpu}`);
      expect(m.cpus[cpu].curr === idle).toBe(true);
      expect(m.memory.read64(m.areas.perCpuPtr(m.symbol('current_task'), cpu))).toBe(
        BigInt(idle.addr),
      );
      expect(m.memory.read32(m.areas.perCpuPtr(m.symbol('cpu_number'), cpu))).toBe(cpu);
    }
  });

  it('loads each CPU gsBase with __per_cpu_offset[cpu], which this_cpu_off also holds', () => {
    const m = new Machine({ cpus: 4 }).boot();
    const offsets = new Set<number>();
    for (let cpu = 0; cpu < 4; cpu++) {
      const offset = Number(m.memory.read64(m.symbol('__per_cpu_offset') + 8 * cpu));
      offsets.add(offset);
      expect(m.cpus[cpu].cpu.gsBase).toBe(offset);
      expect(m.memory.read64(m.areas.perCpuPtr(m.symbol('this_cpu_off'), cpu))).toBe(
        BigInt(offset),
      );
    }
    expect(offsets.size).toBe(4);
  });

  it('copies a per-CPU variable initial value into every CPU unit', () => {
    const b = new Machine({ cpus: 3 });
    b.definePerCpu('answer', u64, 42n);
    const m = b.boot();
    for (let cpu = 0; cpu < 3; cpu++)
      expect(m.memory.read64(m.areas.perCpuPtr(m.symbol('answer'), cpu))).toBe(42n);
  });

  it('a guest task reads its own CPU cpu_number and this_cpu_off through this_cpu_ptr', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const program = m.assemble(`
      call preempt_disable
      r1 = cpu_number ll
      r1 = this_cpu_ptr(r1)
      r6 = *(u32 *)(r1 + 0)
      r1 = this_cpu_off ll
      r1 = this_cpu_ptr(r1)
      r7 = *(u64 *)(r1 + 0)
      call preempt_enable
      r1 = __per_cpu_offset ll
      r2 = r6
      r2 <<= 3
      r1 += r2
      r8 = *(u64 *)(r1 + 0)
      r0 = 0
      if r7 != r8 goto out
      r0 = r6
      r0 += 100
    out:
      exit
    `);
    const t = m.spawn({ comm: 'whoami', cpu: 1, allowed: [1], program });
    expect(run(m).finished).toBe(true);
    expect(t.exitCode).toBe(101n);
  });
});

describe('machine options', () => {
  it.each([
    [{ cpus: 0 }, 'cpus 0'],
    [{ cpus: 65 }, 'cpus 65'],
    [{ cpus: 1.5 }, 'cpus 1.5'],
    [{ tickInterval: 0 }, 'tickInterval 0'],
    [{ timeSlice: -1 }, 'timeSlice -1'],
    [{ debugPreempt: 'loud' as DebugPreemptMode }, "'loud'"],
  ])('refuses %o with EINVAL naming the value', (opts, named) => {
    const e = errnoOf(() => new Machine(opts));
    expect(e.errno).toBe('EINVAL');
    expect(e.message).toContain(named);
  });

  it('accepts 1 and 64 CPUs (NR_CPUS)', () => {
    expect(new Machine({ cpus: 1 }).boot().cpus).toHaveLength(1);
    expect(new Machine({ cpus: 64, memorySize: 64 << 20 }).boot().cpus).toHaveLength(64);
  });

  it('refuses definePerCpu, defineData and a second boot after boot with EBUSY', () => {
    const m = new Machine({ cpus: 1 });
    m.boot();
    const late = errnoOf(() => m.definePerCpu('late', u64, 0n));
    expect(late.errno).toBe('EBUSY');
    expect(late.message).toContain("'late'");
    expect(errnoOf(() => m.defineData('late_global', u64)).errno).toBe('EBUSY');
    expect(errnoOf(() => m.boot()).errno).toBe('EBUSY');
  });
});

describe('spawn', () => {
  it('needs exactly one of program and body', () => {
    const m = new Machine({ cpus: 1 }).boot();
    const program = m.assemble('r0 = 0\nexit');
    expect(errnoOf(() => m.spawn({ comm: 'none' })).errno).toBe('EINVAL');
    const both = errnoOf(() =>
      m.spawn({
        comm: 'both',
        program,
        *body() {
          yield;
          return 0;
        },
      }),
    );
    expect(both.errno).toBe('EINVAL');
    expect(both.message).toContain("'both'");
  });

  it('refuses a start CPU outside the allowed mask or the possible CPUs', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const program = m.assemble('r0 = 0\nexit');
    expect(errnoOf(() => m.spawn({ comm: 'x', cpu: 0, allowed: [1], program })).errno).toBe(
      'EINVAL',
    );
    const far = errnoOf(() => m.spawn({ comm: 'y', cpu: 2, program }));
    expect(far.errno).toBe('EINVAL');
    expect(far.message).toContain('2');
  });

  it('passes args as r1..r5 of a program task and gives pids from 1 in spawn order', () => {
    const m = new Machine({ cpus: 1 }).boot();
    const program = m.assemble(`
      r0 = r1
      r0 *= 10
      r0 += r5
      exit
    `);
    const a = m.spawn({ comm: 'a', program, args: [4, 0, 0, 0, 7] });
    const b = m.spawn({ comm: 'b', program, args: [-3n, 0, 0, 0, 0] });
    expect([a.pid, b.pid]).toEqual([1, 2]);
    run(m);
    expect(a.exitCode).toBe(47n);
    expect(b.exitCode).toBe(-30n);
  });
});

describe('guest faults', () => {
  // main calls f, f calls g, g loads from address 0x10.
  const FAULTY = `
  main:
    r6 = 7
    call f
    r0 = 0
    exit
  f:
    r7 = 8
    call g
    exit
  g:
    r3 = 0x1234
    r1 = 0
    r0 = *(u64 *)(r1 + 16)
    exit
  `;

  function faultAmongFriends() {
    const m = new Machine({ cpus: 2, tickInterval: 50, timeSlice: 1 }).boot();
    const friendly = (code: number) =>
      m.assemble(`${spin(300)}
        r0 = ${code}
        exit`);
    const sameCpu = m.spawn({ comm: 'sibling', cpu: 0, allowed: [0], program: friendly(11) });
    const faulty = m.spawn({ comm: 'faulty', cpu: 0, allowed: [0], program: m.assemble(FAULTY) });
    const otherCpu = m.spawn({ comm: 'remote', cpu: 1, allowed: [1], program: friendly(22) });
    const result = run(m);
    return { m, result, sameCpu, faulty, otherCpu };
  }

  it('a page fault kills only the faulting task: a task on its CPU and one on another finish', () => {
    const { m, result, sameCpu, faulty, otherCpu } = faultAmongFriends();
    expect(result.finished).toBe(true);
    expect(sameCpu.exitCode).toBe(11n);
    expect(otherCpu.exitCode).toBe(22n);
    expect(faulty.exited).toBe(true);
    expect(faulty.exitCode).toBeLessThan(0n);
    const exits = m
      .tracer!.events()
      .filter((e) => e.type === 'sched_process_exit')
      .map((e) => (e.type === 'sched_process_exit' ? e.taskComm : ''));
    expect(exits.sort()).toEqual(['faulty', 'remote', 'sibling']);
  });

  it('prints an x86-shaped oops: address, Oops, CPU/PID/Comm, RIP, Code, registers, Call Trace', () => {
    const { m, faulty } = faultAmongFriends();
    const oopses = ofKind(m, 'oops');
    expect(oopses).toHaveLength(1);
    const [oops] = oopses;
    expect(oops.cpu).toBe(0);
    expect(oops.pid).toBe(faulty.pid);
    const lines = oops.lines;
    expect(lines[0]).toBe('BUG: unable to handle page fault for address: 0000000000000010');
    expect(lines).toContain('#PF: supervisor read access in kernel mode');
    expect(lines.find((l) => l.startsWith('Oops: '))).toMatch(/\[#1\]/);
    expect(lines).toContain(`CPU: 0 PID: ${faulty.pid} Comm: faulty`);
    // %pS sizes each symbol to the next: main 0-3 (0x20), f 4-6 (0x18), g 7-10 (0x20);
    // the load is g's third instruction.
    expect(lines).toContain('RIP: g+0x10/0x20');
    expect(lines).toContain('Code: r0 = *(u64 *)(r1 + 16)');
    const regs = lines.join('\n');
    expect(regs).toMatch(/\bR1: 0000000000000000\b/);
    expect(regs).toMatch(/\bR3: 0000000000001234\b/);
    expect(regs).toMatch(/\bR6: 0000000000000007\b/);
    expect(regs).toMatch(/\bR7: 0000000000000008\b/);
    expect(regs).toMatch(/\bR10: [0-9a-f]{16}\b/);
    // Innermost caller first: the call in f (at 5), then the call in main (at 1).
    const trace = lines.slice(lines.indexOf('Call Trace:'));
    expect(trace).toEqual(['Call Trace:', ' <TASK>', ' f+0x8/0x18', ' main+0x8/0x20', ' </TASK>']);
  });

  it('numbers successive oopses [#1], [#2] and puts them in the trace as console lines', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const bad = m.assemble('r1 = 0\nr0 = *(u32 *)(r1 + 0)\nexit');
    m.spawn({ comm: 'bad0', cpu: 0, program: bad });
    m.spawn({ comm: 'bad1', cpu: 1, program: bad });
    run(m);
    const firsts = ofKind(m, 'oops').map((r) => r.lines.find((l) => l.startsWith('Oops: ')));
    expect(firsts).toHaveLength(2);
    expect(firsts[0]).toContain('[#1]');
    expect(firsts[1]).toContain('[#2]');
    expect(m.tracer!.toFtrace()).toContain(
      'console: BUG: unable to handle page fault for address: 0000000000000000',
    );
  });

  it('a task dying in an oops with preemption and interrupts disabled leaves its CPU preemptible, with a note', () => {
    const m = new Machine({ cpus: 1, tickInterval: 50, timeSlice: 1 }).boot();
    const dying = m.spawn({
      comm: 'dying',
      program: m.assemble(`
        call preempt_disable
        call local_irq_save
        r1 = 0
        r0 = *(u64 *)(r1 + 0)
        exit
      `),
    });
    const after = m.spawn({ comm: 'after', program: m.assemble('call preemptible\nexit') });
    expect(run(m).finished).toBe(true);
    expect(after.exitCode).toBe(1n);
    expect(m.cpus[0].preemptCount).toBe(0);
    expect(m.cpus[0].irqsEnabled).toBe(true);
    const notes = m.reports.flatMap((r) => r.lines).filter((l) => l.startsWith('note:'));
    expect(notes).toContain(`note: dying[${dying.pid}] exited with preempt_count 1`);
  });

  it('a task that exits with preemption disabled does not leave its CPU non-preemptible (do_exit resets the count)', () => {
    const m = new Machine({ cpus: 1, tickInterval: 50, timeSlice: 1 }).boot();
    const leaky = m.spawn({
      comm: 'leaky',
      program: m.assemble('call preempt_disable\nr0 = 0\nexit'),
    });
    const after = m.spawn({ comm: 'after', program: m.assemble('call preemptible\nexit') });
    run(m);
    expect(after.exitCode).toBe(1n);
    expect(m.cpus[0].preemptCount).toBe(0);
    // The kernel says so: 'note: leaky[1] exited with preempt_count 1' (older do_exit) or
    // 'BUG: scheduling while atomic: leaky/1/...' (newer __schedule_bug).
    const said = m.reports.flatMap((r) => r.lines);
    expect(
      said.some((l) => l.includes(`leaky[${leaky.pid}]`) || l.includes(`leaky/${leaky.pid}`)),
    ).toBe(true);
  });

  it('a task that exits with interrupts disabled does not leave its CPU with interrupts off', () => {
    const m = new Machine({ cpus: 1, tickInterval: 50, timeSlice: 1 }).boot();
    m.spawn({ comm: 'irqoff', program: m.assemble('call local_irq_save\nr0 = 0\nexit') });
    const after = m.spawn({
      comm: 'after',
      program: m.assemble(`${spin(200)}
        call preemptible
        exit`),
    });
    run(m);
    expect(after.exitCode).toBe(1n);
    expect(m.cpus[0].irqsEnabled).toBe(true);
    expect(m.cpus[0].ticks).toBeGreaterThan(0);
  });
});

describe('native tasks that throw', () => {
  it('are reported and killed while the rest of the machine goes on', () => {
    const m = new Machine({ cpus: 2, tickInterval: 20 }).boot();
    const thrower = m.spawn({
      comm: 'thrower',
      cpu: 0,
      allowed: [0],
      *body() {
        yield;
        yield;
        throw new ErrnoError('ENOENT', 'no widget 7');
      },
    });
    const plain = m.spawn({
      comm: 'plain',
      cpu: 1,
      allowed: [1],
      *body() {
        yield;
        throw new Error('plain failure');
      },
    });
    const steady = m.spawn({
      comm: 'steady',
      cpu: 0,
      allowed: [0],
      *body() {
        for (let k = 0; k < 50; k++) yield;
        return 3;
      },
    });
    const guest = m.spawn({
      comm: 'guest',
      cpu: 1,
      allowed: [1],
      program: m.assemble(`${spin(100)}
        r0 = 4
        exit`),
    });
    expect(run(m).finished).toBe(true);
    expect(steady.exitCode).toBe(3n);
    expect(guest.exitCode).toBe(4n);
    expect(thrower.exited && plain.exited).toBe(true);
    expect(thrower.exitCode).toBeLessThan(0n);
    expect(plain.exitCode).toBeLessThan(0n);
    const oopses = ofKind(m, 'oops');
    expect(oopses).toHaveLength(2);
    const byComm = new Map(oopses.map((r) => [r.comm, r.lines.join('\n')]));
    expect(byComm.get('thrower')).toContain('no widget 7');
    expect(byComm.get('thrower')).toContain(`CPU: 0 PID: ${thrower.pid} Comm: thrower`);
    expect(byComm.get('plain')).toContain('plain failure');
    expect(byComm.get('plain')).toContain(`CPU: 1 PID: ${plain.pid} Comm: plain`);
  });
});

describe('DEBUG_PREEMPT', () => {
  /** this_cpu_ptr at 2, smp_processor_id at 3, __this_cpu_add at 7; 10 instructions (0x50 bytes). */
  const PREEMPTIBLE_USES = `
    r1 = v ll
    r1 = this_cpu_ptr(r1)
    call smp_processor_id
    r1 = v ll
    r2 = 1
    call __this_cpu_add
    r0 = 0
    exit
  `;

  function machine(debugPreempt: DebugPreemptMode = 'warn') {
    const b = new Machine({ cpus: 2, debugPreempt });
    b.definePerCpu('v', u64, 0n);
    const m = b.boot();
    return m;
  }

  it("prints the kernel's two lines for this_cpu_ptr, smp_processor_id() and __this_cpu_add() while preemptible", () => {
    const m = machine();
    const t = m.spawn({ comm: 'sloppy', program: m.assemble(PREEMPTIBLE_USES) });
    expect(run(m).finished).toBe(true);
    expect(t.exitCode).toBe(0n);
    const reports = ofKind(m, 'debug_preempt');
    expect(reports.map((r) => r.lines)).toEqual([
      [
        `BUG: using smp_processor_id() in preemptible [00000000] code: sloppy/${t.pid}`,
        'caller is sloppy+0x10/0x50',
      ],
      [
        `BUG: using smp_processor_id() in preemptible [00000000] code: sloppy/${t.pid}`,
        'caller is sloppy+0x18/0x50',
      ],
      [
        `BUG: using __this_cpu_add() in preemptible [00000000] code: sloppy/${t.pid}`,
        'caller is sloppy+0x38/0x50',
      ],
    ]);
    expect(m.debugPreemptReports).toBe(3);
    expect(m.tracer!.toFtrace()).toContain(
      `console: BUG: using __this_cpu_add() in preemptible [00000000] code: sloppy/${t.pid}`,
    );
  });

  it('names the enclosing function of the caller, as %pS does', () => {
    const m = machine();
    const t = m.spawn({
      comm: 'nested',
      program: m.assemble(`
      main:
        call helper_fn
        r0 = 0
        exit
      helper_fn:
        r0 = 1
        call smp_processor_id
        exit
      `),
    });
    run(m);
    const [r] = ofKind(m, 'debug_preempt');
    expect(r.lines[0]).toBe(
      `BUG: using smp_processor_id() in preemptible [00000000] code: nested/${t.pid}`,
    );
    // helper_fn is slots 3-5: 0x18 bytes, the call its second instruction.
    expect(r.lines[1]).toBe('caller is helper_fn+0x8/0x18');
  });

  const SAFE_CONTEXTS: [string, string, string][] = [
    ['preempt_disable', 'call preempt_disable', 'call preempt_enable'],
    ['local_irq_save', 'call local_irq_save\nr9 = r0', 'r1 = r9\ncall local_irq_restore'],
    ['migrate_disable', 'call migrate_disable', 'call migrate_enable'],
    ['local_bh_disable', 'call local_bh_disable', 'call local_bh_enable'],
  ];

  it.each(SAFE_CONTEXTS)('reports nothing under %s', (_name, enter, leave) => {
    const m = machine();
    const t = m.spawn({
      comm: 'careful',
      program: m.assemble(`
        ${enter}
        r1 = v ll
        r1 = this_cpu_ptr(r1)
        call smp_processor_id
        r1 = v ll
        r2 = 1
        call __this_cpu_add
        ${leave}
        r0 = 0
        exit
      `),
    });
    expect(run(m).finished).toBe(true);
    expect(t.exitCode).toBe(0n);
    expect(ofKind(m, 'debug_preempt')).toEqual([]);
    expect(m.debugPreemptReports).toBe(0);
  });

  it('reports nothing in a kthread (bound to its CPU)', () => {
    const m = machine();
    const k = m.spawn({ comm: 'kworker/0', kthread: true, program: m.assemble(PREEMPTIBLE_USES) });
    m.spawn({ comm: 'keepalive', program: m.assemble(`${spin(50)}\nr0 = 0\nexit`) });
    run(m);
    expect(k.exited).toBe(true);
    expect(m.debugPreemptReports).toBe(0);
  });

  it('reports nothing from a timer handler (hardirq context)', () => {
    const m = machine();
    m.onTimer(
      0,
      m.assemble(`
        r1 = v ll
        r1 = this_cpu_ptr(r1)
        call smp_processor_id
        r1 = v ll
        r2 = 1
        call __this_cpu_add
        r0 = 0
        exit
      `),
    );
    m.spawn({ comm: 'busy', cpu: 0, allowed: [0], program: m.assemble(`${spin(2000)}\nexit`) });
    run(m);
    const handled = m.memory.read64(m.areas.perCpuPtr(m.symbol('v'), 0));
    expect(handled).toBe(BigInt(m.cpus[0].ticks));
    expect(handled).toBeGreaterThan(0n);
    expect(m.debugPreemptReports).toBe(0);
  });

  it("'off' reports nothing", () => {
    const m = machine('off');
    const t = m.spawn({ comm: 'sloppy', program: m.assemble(PREEMPTIBLE_USES) });
    run(m);
    expect(t.exitCode).toBe(0n);
    expect(m.reports).toEqual([]);
    expect(m.debugPreemptReports).toBe(0);
  });

  it.each([
    ['this_cpu_ptr', 'r1 = v ll\nr1 = this_cpu_ptr(r1)', 'smp_processor_id()'],
    ['smp_processor_id', 'call smp_processor_id', 'smp_processor_id()'],
    ['__this_cpu_add', 'r1 = v ll\nr2 = 1\ncall __this_cpu_add', '__this_cpu_add()'],
  ])(
    "'fatal' kills the task using %s while preemptible, and the machine goes on",
    (_n, use, what) => {
      const m = machine('fatal');
      const victim = m.spawn({
        comm: 'victim',
        cpu: 0,
        allowed: [0],
        program: m.assemble(`${use}\nr0 = 5\nexit`),
      });
      const bystander = m.spawn({
        comm: 'bystander',
        cpu: 0,
        allowed: [0],
        program: m.assemble(`${spin(100)}\nr0 = 6\nexit`),
      });
      expect(run(m).finished).toBe(true);
      expect(victim.exitCode).toBeLessThan(0n);
      expect(bystander.exitCode).toBe(6n);
      const dp = ofKind(m, 'debug_preempt');
      expect(dp).toHaveLength(1);
      expect(dp[0].lines[0]).toBe(
        `BUG: using ${what} in preemptible [00000000] code: victim/${victim.pid}`,
      );
      const killed = ofKind(m, 'oops');
      expect(killed).toHaveLength(1);
      expect(killed[0].pid).toBe(victim.pid);
      expect(killed[0].lines.join('\n')).toContain(`PID: ${victim.pid} Comm: victim`);
    },
  );

  it("'fatal' kills a native task calling smpProcessorId() while preemptible", () => {
    const m = machine('fatal');
    const victim = m.spawn({
      comm: 'native',
      *body() {
        yield;
        m.smpProcessorId();
        return 5;
      },
    });
    run(m);
    expect(victim.exited).toBe(true);
    expect(victim.exitCode).toBeLessThan(0n);
    expect(ofKind(m, 'debug_preempt')[0].lines[0]).toBe(
      `BUG: using smp_processor_id() in preemptible [00000000] code: native/${victim.pid}`,
    );
    expect(ofKind(m, 'oops')).toHaveLength(1);
  });

  it(`prints a burst of ${DEBUG_PREEMPT_BURST} reports (printk_ratelimit) and only counts the rest`, () => {
    expect(DEBUG_PREEMPT_BURST).toBe(10);
    const m = machine();
    m.spawn({
      comm: 'chatty',
      program: m.assemble(`
        r6 = 0
      again:
        call smp_processor_id
        r6 += 1
        if r6 < 25 goto again
        r0 = 0
        exit
      `),
    });
    run(m);
    expect(ofKind(m, 'debug_preempt')).toHaveLength(10);
    expect(m.debugPreemptReports).toBe(25);
  });
});

describe('.text', () => {
  it('loads each program once into emulated memory, with a .text symbol', () => {
    const m = new Machine({ cpus: 1 }).boot();
    const program = m.assemble('r0 = 3\nexit');
    m.spawn({ comm: 'first', program });
    m.spawn({ comm: 'second', program });
    const text = m.image.symbols.all().filter((s) => s.section === '.text');
    expect(text.map((s) => [s.name, s.size])).toEqual([['first', 16]]);
    expect([...m.memory.readBytes(text[0].address, 16)]).toEqual([
      0xb7, 0, 0, 0, 3, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(m.map.find(text[0].address)?.name).toBe('.text');
  });
});

describe('oops disassembly', () => {
  it('names the per-CPU variable an lddw loads, and the kfunc a call calls', () => {
    const b = new Machine({ cpus: 1 });
    b.definePerCpu('stats', u64, 0n);
    const m = b.boot();
    m.spawn({
      comm: 'raw_deref',
      // The per-CPU pointer is used without this_cpu_ptr: its offset is unmapped, as on x86-64.
      program: m.assemble('r1 = stats ll\nr0 = *(u64 *)(r1 + 0)\nexit'),
    });
    run(m);
    const [oops] = ofKind(m, 'oops');
    expect(oops.lines[0]).toBe(
      `BUG: unable to handle page fault for address: ${m.symbol('stats').toString(16).padStart(16, '0')}`,
    );
    expect(m.disasmOptions().symbolOf?.(BigInt(m.symbol('stats')))).toBe('stats');
    expect(oops.lines).toContain('Code: r0 = *(u64 *)(r1 + 0)');
  });
});
