import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine, type MachineOptions } from '../../preempt/machine.ts';
import type { TraceEvent } from '../../preempt/trace/events.ts';
import { array, u64 } from '../../segments/ctype.ts';
import { ofKind, perCpu, run, spin, stepUntil } from './machine-fixtures.ts';

/** A machine with a global `out` (u64[16]) that guest programs write results into. */
function machineWithOut(opts: MachineOptions, define?: (m: Machine) => void): Kernel {
  const m = new Machine(opts);
  m.defineData('out', array(u64, 16));
  define?.(m);
  return m.boot();
}
const out = (m: Kernel, k: number) => m.memory.read64(m.symbol('out') + 8 * k);

describe('preempt_count from guest kfuncs', () => {
  // Reads the raw __preempt_count word with this_cpu_read_4 (IRQ-safe, unchecked).
  const READ_COUNT = 'r1 = __preempt_count ll\ncall this_cpu_read_4';

  function layoutProbe() {
    const m = machineWithOut({ cpus: 1 });
    const t = m.spawn({
      comm: 'probe',
      program: m.assemble(`
        r9 = out ll
        ${READ_COUNT}
        *(u64 *)(r9 + 0) = r0
        call preempt_disable
        ${READ_COUNT}
        *(u64 *)(r9 + 8) = r0
        call in_atomic
        *(u64 *)(r9 + 16) = r0
        call in_interrupt
        *(u64 *)(r9 + 24) = r0
        call local_bh_disable
        ${READ_COUNT}
        *(u64 *)(r9 + 32) = r0
        call in_interrupt
        *(u64 *)(r9 + 40) = r0
        call local_bh_enable
        call preempt_enable
        ${READ_COUNT}
        *(u64 *)(r9 + 48) = r0
        call in_interrupt
        *(u64 *)(r9 + 56) = r0
        call in_atomic
        *(u64 *)(r9 + 64) = r0
        call preemptible
        *(u64 *)(r9 + 72) = r0
        r0 = 0
        exit
      `),
    });
    expect(run(m).finished).toBe(true);
    expect(t.exitCode).toBe(0n);
    return m;
  }

  it('starts at 0 with the inverted NEED_RESCHED bit set (0x80000000) in a lone task', () => {
    const m = layoutProbe();
    expect(out(m, 0)).toBe(0x8000_0000n);
  });

  it('preempt_disable adds 1 (PREEMPT_OFFSET); in_atomic() is then true, in_interrupt() false', () => {
    const m = layoutProbe();
    expect(out(m, 1) - out(m, 0)).toBe(1n);
    expect(out(m, 2)).toBe(1n);
    expect(out(m, 3)).toBe(0n);
  });

  it('local_bh_disable adds 0x200 (SOFTIRQ_DISABLE_OFFSET) and in_interrupt() is true under it', () => {
    const m = layoutProbe();
    expect(out(m, 4) - out(m, 1)).toBe(0x200n);
    expect(out(m, 5)).toBe(1n);
  });

  it('local_bh_enable and preempt_enable bring it back to 0: preemptible again', () => {
    const m = layoutProbe();
    expect(out(m, 6)).toBe(out(m, 0));
    expect(out(m, 7)).toBe(0n);
    expect(out(m, 8)).toBe(0n);
    expect(out(m, 9)).toBe(1n);
  });

  it('an unbalanced preempt_enable warns and leaves the count at 0 (no underflow)', () => {
    const m = machineWithOut({ cpus: 1 });
    const t = m.spawn({
      comm: 'unbalanced',
      program: m.assemble(`
        call preempt_enable
        call preemptible
        exit
      `),
    });
    run(m);
    expect(t.exitCode).toBe(1n);
    expect(m.cpus[0].preemptCount).toBe(0);
    const warnings = ofKind(m, 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].lines[0]).toContain('preempt_enable');
  });
});

describe('interrupt flags from guest kfuncs', () => {
  it('local_irq_save returns flags with X86_EFLAGS_IF (0x200), makes preemptible() false, and restore undoes it', () => {
    const m = machineWithOut({ cpus: 1 });
    m.spawn({
      comm: 'irqs',
      program: m.assemble(`
        r9 = out ll
        call local_irq_save
        r8 = r0
        *(u64 *)(r9 + 0) = r0
        call preemptible
        *(u64 *)(r9 + 8) = r0
        call in_atomic
        *(u64 *)(r9 + 16) = r0
        call local_irq_save
        *(u64 *)(r9 + 24) = r0
        r1 = r8
        call local_irq_restore
        call preemptible
        *(u64 *)(r9 + 32) = r0
        call local_irq_disable
        call preemptible
        *(u64 *)(r9 + 40) = r0
        call local_irq_enable
        call preemptible
        *(u64 *)(r9 + 48) = r0
        r0 = 0
        exit
      `),
    });
    run(m);
    expect(out(m, 0) & 0x200n).toBe(0x200n);
    expect(out(m, 1)).toBe(0n);
    expect(out(m, 2)).toBe(0n); // in_atomic() looks at preempt_count only
    expect(out(m, 3) & 0x200n).toBe(0n); // saved while already disabled
    expect(out(m, 4)).toBe(1n);
    expect(out(m, 5)).toBe(0n);
    expect(out(m, 6)).toBe(1n);
    expect(m.cpus[0].irqsEnabled).toBe(true);
  });
});

describe('rescheduling points', () => {
  /** Two tasks on one CPU; `first` holds preemption off across a few ticks, then `release`s it. */
  function heldAcrossTicks(release: string) {
    const m = new Machine({ cpus: 1, tickInterval: 20, timeSlice: 1 }).boot();
    const first = m.spawn({
      comm: 'holder',
      program: m.assemble(`
        call preempt_disable
        ${spin(50, 'held')}
        ${release}
        ${spin(50, 'after')}
        r0 = 1
        exit
      `),
    });
    const second = m.spawn({ comm: 'waiter', program: m.assemble('r0 = 2\nexit') });
    const c = m.cpus[0];
    stepUntil(m, 0, () => c.curr === first);
    stepUntil(m, 0, () => c.curr !== first);
    return { m, c, first, second };
  }

  it('preempt_enable reaching 0 with a reschedule pending switches tasks right after the call', () => {
    const { m, c, first, second } = heldAcrossTicks('call preempt_enable');
    // The ticks during the held section asked for a reschedule but could not preempt.
    expect(c.ticks).toBeGreaterThanOrEqual(4);
    expect(c.curr.comm).toBe(second.comm);
    // preempt_enable is instruction 4: the switch came before instruction 5 ran.
    expect(first.ctx!.pc).toBe(5);
    const switches = m.tracer!.events().filter((e) => e.type === 'sched_switch');
    const last = switches[switches.length - 1];
    expect(last).toMatchObject({ prevComm: 'holder', prevState: 'R+', nextComm: 'waiter' });
  });

  it('preempt_enable_no_resched does not switch; the next interrupt return does', () => {
    const { m, first } = heldAcrossTicks('call preempt_enable_no_resched');
    expect(first.ctx!.pc).toBeGreaterThan(5);
    const events = m.tracer!.events();
    const at = events.findIndex((e) => e.type === 'sched_switch' && e.prevComm === 'holder');
    const before = events.slice(0, at).filter((e) => e.cpu === 0);
    expect(['irq_handler_exit', 'softirq_exit']).toContain(before[before.length - 1].type);
  });

  it('the schedule kfunc gives the CPU to the next waiting task at once', () => {
    const m = new Machine({ cpus: 1, timeSlice: 100 }).boot();
    const yielder = m.spawn({
      comm: 'yielder',
      program: m.assemble('call schedule\nr0 = 1\nexit'),
    });
    const other = m.spawn({ comm: 'other', program: m.assemble('r0 = 2\nexit') });
    const c = m.cpus[0];
    stepUntil(m, 0, () => yielder.ctx!.pc === 1);
    expect(c.curr.comm).toBe(other.comm);
    run(m);
    expect([yielder.exitCode, other.exitCode]).toEqual([1n, 2n]);
  });

  it('a task calling schedule() while runnable is traced prev_state=R, not R+ (it was not preempted)', () => {
    const m = new Machine({ cpus: 1, timeSlice: 100 }).boot();
    m.spawn({ comm: 'yielder', program: m.assemble('call schedule\nr0 = 1\nexit') });
    m.spawn({ comm: 'other', program: m.assemble('r0 = 2\nexit') });
    run(m);
    const away = m
      .tracer!.events()
      .find((e) => e.type === 'sched_switch' && e.prevComm === 'yielder');
    expect(away).toMatchObject({ prevState: 'R', nextComm: 'other' });
  });
});

describe('softirqs and bottom halves', () => {
  it('local_bh_enable runs the softirqs raised while bottom halves were disabled, not the next tick', () => {
    const m = new Machine({ cpus: 1, tickInterval: 50, nsPerInsn: 1000 }).boot();
    m.spawn({
      comm: 'bh',
      program: m.assemble(`
        call local_bh_disable
        ${spin(40, 'off')}
        call local_bh_enable
        ${spin(40, 'on')}
        r0 = 0
        exit
      `),
    });
    run(m);
    // Tick 1 at instruction 50 falls inside the bh-disabled section (instructions 1..83);
    // local_bh_enable is instruction 83; tick 2 comes at instruction 100.
    const entries = m.tracer!.events().filter((e) => e.type === 'softirq_entry');
    expect(entries.length).toBeGreaterThan(0);
    expect(entries[0].ts).toBeGreaterThan(50_000);
    expect(entries[0].ts).toBeLessThan(100_000);
  });

  it('local_bh_enable that runs softirqs gives the task back its interrupts enabled', () => {
    const m = new Machine({ cpus: 1, tickInterval: 50 }).boot();
    const t = m.spawn({
      comm: 'bh',
      program: m.assemble(`
        call local_bh_disable
        ${spin(40, 'off')}
        call local_bh_enable
        call local_irq_save
        r6 = r0
        r1 = r0
        call local_irq_restore
        r0 = r6
        exit
      `),
    });
    run(m);
    expect(m.tracer!.events().some((e) => e.type === 'softirq_entry')).toBe(true);
    expect(t.exitCode).toBe(0x200n); // X86_EFLAGS_IF: interrupts were on
    expect(m.reports).toEqual([]);
  });
});

describe('helpers', () => {
  it('bpf_get_smp_processor_id (8) and raw_smp_processor_id return the CPU, without DEBUG_PREEMPT', () => {
    const m = new Machine({ cpus: 3 }).boot();
    const program = m.assemble(`
      call 8
      r6 = r0
      call raw_smp_processor_id
      r0 <<= 4
      r0 |= r6
      exit
    `);
    const tasks = [0, 1, 2].map((cpu) =>
      m.spawn({ comm: `t${cpu}`, cpu, allowed: [cpu], program }),
    );
    run(m);
    expect(tasks.map((t) => t.exitCode)).toEqual([0x00n, 0x11n, 0x22n]);
    expect(m.reports).toEqual([]);
  });

  it('bpf_ktime_get_ns (5) advances nsPerInsn per instruction', () => {
    const m = new Machine({ cpus: 1, nsPerInsn: 250 }).boot();
    const t = m.spawn({
      comm: 'clock',
      program: m.assemble(`
        call 5
        r6 = r0
        r7 = 1
        r7 = 2
        call 5
        r0 -= r6
        exit
      `),
    });
    run(m);
    expect(t.exitCode).toBe(4n * 250n);
  });

  it('bpf_trace_printk (6) formats %d and %x and lands in the trace', () => {
    const m = new Machine({ cpus: 1 }).boot();
    const fmt = Buffer.alloc(16);
    fmt.write('n=%d x=%x');
    const lo = fmt.readBigUInt64LE(0);
    const hi = fmt.readBigUInt64LE(8);
    m.spawn({
      comm: 'printer',
      program: m.assemble(`
        r1 = ${lo} ll
        *(u64 *)(r10 - 16) = r1
        r1 = ${hi}
        *(u64 *)(r10 - 8) = r1
        r1 = r10
        r1 += -16
        r2 = 10
        r3 = -5
        r4 = 255
        call 6
        r0 = 0
        exit
      `),
    });
    run(m);
    const printed = m.tracer!.events().filter((e) => e.type === 'bpf_trace_printk');
    expect(printed.map((e) => (e as TraceEvent & { text: string }).text)).toEqual(['n=-5 x=ff']);
    expect(m.tracer!.toFtrace()).toMatch(/printer-1\s+\[000\].*bpf_trace_printk: n=-5 x=ff\n/);
  });

  it('bpf_get_prandom_u32 (7) gives the same sequence on identically built machines', () => {
    const draw = () => {
      const m = new Machine({ cpus: 1 }).boot();
      const t = m.spawn({
        comm: 'dice',
        program: m.assemble('call 7\nr6 = r0\ncall 7\nr0 <<= 32\nr0 |= r6\nexit'),
      });
      run(m);
      return t.exitCode;
    };
    const first = draw();
    expect(draw()).toBe(first);
    expect(BigInt.asUintN(32, first)).not.toBe(BigInt.asUintN(32, first >> 32n));
  });
});

describe('this_cpu_* kfuncs', () => {
  it('act on the calling CPU unit only, with the size the suffix names (none: 8 bytes)', () => {
    const m = machineWithOut({ cpus: 2 }, (mm) => {
      mm.definePerCpu('w', u64, 0x11ffn);
      mm.definePerCpu('x', u64, 5n);
      mm.definePerCpu('y', u64, 10n);
      mm.definePerCpu('z', u64, 0n);
    });
    const t = m.spawn({
      comm: 'ops',
      cpu: 1,
      allowed: [1],
      program: m.assemble(`
        r9 = out ll
        r1 = w ll
        r2 = 1
        call this_cpu_add_1
        r1 = w ll
        call this_cpu_read
        *(u64 *)(r9 + 0) = r0
        r1 = x ll
        r2 = 5
        r3 = 9
        call this_cpu_cmpxchg_4
        *(u64 *)(r9 + 8) = r0
        r1 = x ll
        r2 = 5
        r3 = 7
        call this_cpu_cmpxchg_4
        *(u64 *)(r9 + 16) = r0
        r1 = y ll
        r2 = 3
        call this_cpu_add_return
        *(u64 *)(r9 + 24) = r0
        r1 = y ll
        r2 = 0xabcd
        call this_cpu_xchg_2
        *(u64 *)(r9 + 32) = r0
        r1 = z ll
        r2 = -1
        call this_cpu_write_2
        r1 = z ll
        call raw_cpu_inc
        r1 = z ll
        r2 = 2
        call this_cpu_sub_8
        r0 = 0
        exit
      `),
    });
    run(m);
    expect(t.exitCode).toBe(0n);
    // add_1 wraps the low byte 0xff to 0x00 without carrying into the next byte.
    expect(perCpu(m, 'w', 1)).toBe(0x1100n);
    expect(out(m, 0)).toBe(0x1100n);
    // cmpxchg returns the old value and swaps only on a match.
    expect([out(m, 1), out(m, 2)]).toEqual([5n, 9n]);
    expect(perCpu(m, 'x', 1)).toBe(9n);
    // add_return returns the new value; xchg the old one.
    expect([out(m, 3), out(m, 4)]).toEqual([13n, 13n]);
    expect(perCpu(m, 'y', 1)).toBe(0xabcdn);
    // write_2 of -1 is 0xffff; inc makes 0x10000; sub 2 makes 0xfffe.
    expect(perCpu(m, 'z', 1)).toBe(0xfffen);
    // CPU 0's unit is untouched.
    expect([perCpu(m, 'w', 0), perCpu(m, 'x', 0), perCpu(m, 'y', 0), perCpu(m, 'z', 0)]).toEqual([
      0x11ffn,
      5n,
      10n,
      0n,
    ]);
    expect(m.reports).toEqual([]);
  });

  it('migrate_enable without migrate_disable warns and leaves the count at 0', () => {
    const m = new Machine({ cpus: 1 }).boot();
    const t = m.spawn({
      comm: 'unpinned',
      program: m.assemble('call migrate_enable\nr0 = 0\nexit'),
    });
    run(m);
    expect(t.migrationDisabled).toBe(0);
    const warnings = ofKind(m, 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].lines[0]).toContain('migrate_enable');
  });
});
