import { describe, expect, it } from 'vitest';
import { CheckedPerCpu } from '../../percpu/checked-per-cpu.ts';
import { CpuGuard } from '../../percpu/cpu-guard.ts';
import { MigrateGuard } from '../../percpu/migrate-guard.ts';
import { StaticPerCpu } from '../../percpu/static-per-cpu.ts';
import { u64 } from '../../segments/ctype.ts';
import { FakeModel } from './fake-preemption-model.ts';

function setup() {
  const m = FakeModel.boot({ vars: { hits: [u64, 1n] } });
  const hits = StaticPerCpu.lookup<bigint>(m, 'hits', u64);
  return { m, hits, cells: new CheckedPerCpu(hits.ptr) };
}

describe('CheckedPerCpu borrow rules', () => {
  it('allows many shared borrows, and a mutable one after they end', () => {
    const { m, cells } = setup();
    using g = CpuGuard.enter(m);
    {
      using a = cells.borrow(g);
      using b = cells.borrow(g);
      expect(a.read() + b.read()).toBe(2n);
      expect(cells.borrowState(0)).toBe('shared');
      expect(() => cells.borrowMut(g)).toThrow(
        "EBUSY: 'hits' on CPU 0 is already borrowed (2 shared borrows alive)",
      );
    }
    {
      using w = cells.borrowMut(g);
      expect(cells.borrowState(0)).toBe('mutable');
      expect(w.update((n) => n + 1n)).toBe(2n);
    }
    expect(cells.borrowState(0)).toBe('unborrowed');
  });

  it('refuses a second mutable borrow, or a shared one, while a mutable one lives', () => {
    const { m, cells } = setup();
    using g = CpuGuard.enter(m);
    using _w = cells.borrowMut(g);
    expect(() => cells.borrowMut(g)).toThrow("EBUSY: 'hits' on CPU 0 is already mutably borrowed");
    expect(() => cells.borrow(g)).toThrow('already mutably borrowed');
    expect(() => new CheckedPerCpu(cells.ptr).borrowMut(g)).toThrow('already mutably borrowed');
  });

  it("keeps each CPU's borrows apart", () => {
    const { m, cells } = setup();
    m.cpu = 0;
    const g0 = CpuGuard.enter(m);
    const w0 = cells.borrowMut(g0);
    m.cpu = 1;
    {
      using g1 = CpuGuard.enter(m);
      using w1 = cells.borrowMut(g1);
      w1.write(7n);
    }
    m.cpu = 0;
    expect(w0.read()).toBe(1n);
    w0[Symbol.dispose]();
    g0[Symbol.dispose]();
    expect(cells.ptr.remote(1).read()).toBe(7n);
  });

  it('catches a second task of the CPU borrowing while a preempted one holds a borrow', () => {
    const { m, cells } = setup();
    m.switchTo(0, 0x1000);
    const ga = MigrateGuard.enter(m);
    const wa = cells.borrowMut(ga);
    m.switchTo(0, 0x2000);
    const gb = MigrateGuard.enter(m);
    expect(() => cells.borrowMut(gb)).toThrow('EBUSY');
    gb[Symbol.dispose]();
    m.switchTo(0, 0x1000);
    wa[Symbol.dispose]();
    ga[Symbol.dispose]();
  });

  it('needs a live guard, and a borrow ends with its guard', () => {
    const { m, cells } = setup();
    const g = CpuGuard.enter(m);
    const w = cells.borrowMut(g);
    w[Symbol.dispose]();
    expect(() => w.read()).toThrow(
      "EPERM: PerCpuRef to 'hits' on CPU 0 used after its borrow ended",
    );
    expect(() => w[Symbol.dispose]()).toThrow(
      "EINVAL: a borrow of 'hits' on CPU 0 was already released",
    );
    const r = cells.borrow(g);
    g[Symbol.dispose]();
    expect(r.alive).toBe(false);
    expect(() => r.read()).toThrow('used after its CpuGuard was dropped');
    expect(cells.borrowState(0)).toBe('unborrowed');
    expect(() => cells.borrow(g)).toThrow(
      "EPERM: borrow of 'hits' used after its CpuGuard was dropped",
    );
    using g2 = CpuGuard.enter(m);
    using _w2 = cells.borrowMut(g2);
  });
});
