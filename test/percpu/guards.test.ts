import { describe, expect, it } from 'vitest';
import { CpuGuard } from '../../percpu/cpu-guard.ts';
import { IrqGuard } from '../../percpu/irq-guard.ts';
import { MigrateGuard } from '../../percpu/migrate-guard.ts';
import { FakeModel } from './fake-preemption-model.ts';

describe('CpuGuard lifetime with using', () => {
  it('disables preemption for the block and brings the count back after it', () => {
    const m = FakeModel.boot();
    m.cpu = 2;
    {
      using g = CpuGuard.enter(m);
      expect(m.preemptCount[2]).toBe(1);
      expect(g.cpu).toBe(2);
      expect(g.alive).toBe(true);
      expect(m.preemptible()).toBe(false);
    }
    expect(m.preemptCount[2]).toBe(0);
    expect(m.calls).toEqual(['preempt_disable', 'preempt_enable']);
  });

  it('brings the count back when the block throws', () => {
    const m = FakeModel.boot();
    let guard: CpuGuard | undefined;
    expect(() => {
      using g = new CpuGuard(m);
      guard = g;
      throw new Error('boom');
    }).toThrow('boom');
    expect(m.preemptCount[0]).toBe(0);
    expect(guard!.alive).toBe(false);
  });

  it('nests, each guard adding one to the count', () => {
    const m = FakeModel.boot();
    {
      using _outer = CpuGuard.enter(m);
      {
        using _inner = CpuGuard.enter(m);
        expect(m.preemptCount[0]).toBe(2);
      }
      expect(m.preemptCount[0]).toBe(1);
    }
    expect(m.preemptCount[0]).toBe(0);
  });

  it('reschedules at the end of the block when a reschedule is pending', () => {
    const m = FakeModel.boot();
    {
      using _g = CpuGuard.enter(m);
      m.needResched = true;
    }
    expect(m.calls).toEqual(['preempt_disable', 'preempt_enable', 'schedule']);
  });

  it('works inside a generator across yields, as native tasks use it', () => {
    const m = FakeModel.boot();
    function* body() {
      using _g = CpuGuard.enter(m);
      yield m.preemptCount[0];
      yield m.preemptCount[0];
    }
    expect([...body()]).toEqual([1, 1]);
    expect(m.preemptCount[0]).toBe(0);
  });
});

describe('guard misuse', () => {
  it('refuses a second drop with EINVAL', () => {
    const m = FakeModel.boot();
    const g = CpuGuard.enter(m);
    g[Symbol.dispose]();
    expect(() => g[Symbol.dispose]()).toThrow(
      'EINVAL: CpuGuard of CPU 0 was already dropped: a guard is dropped once',
    );
    expect(m.preemptCount[0]).toBe(0);
  });

  it('refuses to drop an outer guard while an inner one lives, changing nothing', () => {
    const m = FakeModel.boot();
    const outer = CpuGuard.enter(m);
    const inner = IrqGuard.enter(m);
    expect(() => outer[Symbol.dispose]()).toThrow(
      'EBUSY: cannot drop a CpuGuard of CPU 0 while the IrqGuard entered after it is alive',
    );
    expect(outer.alive).toBe(true);
    expect(m.preemptCount[0]).toBe(1);
    inner[Symbol.dispose]();
    outer[Symbol.dispose]();
    expect(m.preemptCount[0]).toBe(0);
    expect(m.irqsOn[0]).toBe(true);
  });

  it('reports the LIFO error from a using block as the disposal error', () => {
    const m = FakeModel.boot();
    let inner: MigrateGuard | undefined;
    const run = () => {
      using _outer = CpuGuard.enter(m);
      inner = MigrateGuard.enter(m);
    };
    expect(run).toThrow('EBUSY: cannot drop a CpuGuard');
    inner![Symbol.dispose]();
  });

  it('refuses cpu after the drop', () => {
    const m = FakeModel.boot();
    const g = CpuGuard.enter(m);
    g[Symbol.dispose]();
    expect(() => g.cpu).toThrow('EPERM: CpuGuard.cpu used after its CpuGuard was dropped');
    expect(String(g)).toBe('CpuGuard(cpu 0, dropped)');
  });

  it('refuses a drop from another CPU or another task', () => {
    const m = FakeModel.boot();
    m.switchTo(0, 0x1000);
    const g = CpuGuard.enter(m);
    m.switchTo(1, 0x2000);
    expect(() => g[Symbol.dispose]()).toThrow(
      'EPERM: a CpuGuard of CPU 0 cannot be dropped on CPU 1: only by the task that entered it',
    );
    m.switchTo(0, 0x3000);
    expect(() => g[Symbol.dispose]()).toThrow(
      'EPERM: a CpuGuard of CPU 0 cannot be dropped by another task on CPU 0',
    );
    m.switchTo(0, 0x1000);
    g[Symbol.dispose]();
  });

  it('keeps the guards of two tasks on one CPU apart (migrate_disable lets them interleave)', () => {
    const m = FakeModel.boot();
    m.switchTo(0, 0x1000);
    const a = MigrateGuard.enter(m);
    m.switchTo(0, 0x2000);
    const b = MigrateGuard.enter(m);
    m.switchTo(0, 0x1000);
    a[Symbol.dispose]();
    m.switchTo(0, 0x2000);
    b[Symbol.dispose]();
    expect(m.calls).toEqual([
      'migrate_disable',
      'migrate_disable',
      'migrate_enable',
      'migrate_enable',
    ]);
  });

  it('treats an image without current_task as one context', () => {
    const m = FakeModel.boot({ currentTask: false });
    const outer = MigrateGuard.enter(m);
    const _inner = MigrateGuard.enter(m);
    expect(() => outer[Symbol.dispose]()).toThrow('EBUSY');
  });
});

describe('IrqGuard and MigrateGuard', () => {
  it('IrqGuard saves and restores the interrupt flag, nesting', () => {
    const m = FakeModel.boot();
    {
      using outer = IrqGuard.enter(m);
      expect(outer.flags).toBe(0x200);
      {
        using inner = new IrqGuard(m);
        expect(inner.flags).toBe(0);
      }
      expect(m.irqsOn[0]).toBe(false);
    }
    expect(m.irqsOn[0]).toBe(true);
    expect(m.calls).toEqual([
      'local_irq_save',
      'local_irq_save',
      'local_irq_restore(0)',
      'local_irq_restore(200)',
    ]);
  });

  it('MigrateGuard pins the task without disabling preemption', () => {
    const m = FakeModel.boot();
    m.cpu = 3;
    {
      using g = MigrateGuard.enter(m);
      expect(g.cpu).toBe(3);
      expect(g.excludesPreemption).toBe(false);
      expect(m.preemptible()).toBe(true);
      expect(m.migrationDisabled()).toBe(1);
    }
    expect(m.migrationDisabled()).toBe(0);
  });
});
