import { describe, expect, it } from 'vitest';
import { CpuGuard } from '../../percpu/cpu-guard.ts';
import { IrqGuard } from '../../percpu/irq-guard.ts';
import { MigrateGuard } from '../../percpu/migrate-guard.ts';
import type { PerCpuRef } from '../../percpu/per-cpu-ref.ts';
import { PerCpuToken } from '../../percpu/per-cpu-token.ts';
import { StaticPerCpu } from '../../percpu/static-per-cpu.ts';
import { u64 } from '../../segments/ctype.ts';
import { FakeModel } from './fake-preemption-model.ts';

function setup() {
  const m = FakeModel.boot({ vars: { hits: [u64, 5n] } });
  return { m, hits: StaticPerCpu.lookup<bigint>(m, 'hits', u64).ptr };
}

describe('PerCpuToken', () => {
  it("gives with(fn) this CPU's copy and returns fn's result", () => {
    const { m, hits } = setup();
    m.cpu = 2;
    using g = CpuGuard.enter(m);
    const token = hits.token(g);
    expect(token.cpu).toBe(2);
    expect(token.with((r) => r.update((n) => n * 2n))).toBe(10n);
    expect(token.with(g, (r) => r.read())).toBe(10n);
    expect(hits.remote(2).read()).toBe(10n);
    expect(hits.remote(0).read()).toBe(5n);
  });

  it('throws EPERM when used after its guard ended', () => {
    const { m, hits } = setup();
    const g = CpuGuard.enter(m);
    const token = new PerCpuToken(hits, g);
    g[Symbol.dispose]();
    expect(token.alive).toBe(false);
    expect(() => token.with((r) => r.read())).toThrow(
      "EPERM: PerCpuToken for 'hits' used after its CpuGuard was dropped",
    );
  });

  it('throws when used on another CPU, or with a guard of another CPU', () => {
    const { m, hits } = setup();
    m.switchTo(0, 0x1000);
    const g0 = CpuGuard.enter(m);
    const token = hits.token(g0);
    m.switchTo(1, 0x2000);
    expect(() => token.with((r) => r.read())).toThrow(
      "EPERM: PerCpuToken for 'hits' used on CPU 1, but its CpuGuard is of CPU 0",
    );
    const g1 = CpuGuard.enter(m);
    m.switchTo(0, 0x1000);
    expect(() => token.with(g1, (r) => r.read())).toThrow(
      "EPERM: PerCpuToken for 'hits' on CPU 0 used on CPU 0, but its CpuGuard is of CPU 1",
    );
    g0[Symbol.dispose]();
    m.switchTo(1, 0x2000);
    g1[Symbol.dispose]();
  });

  it('the ref given to fn dies when fn returns', () => {
    const { m, hits } = setup();
    using g = IrqGuard.enter(m);
    let kept: PerCpuRef<bigint> | undefined;
    hits.token(g).with((r) => {
      kept = r;
    });
    expect(() => kept!.read()).toThrow(
      "EPERM: PerCpuRef to 'hits' on CPU 0 used after PerCpuToken.with returned",
    );
  });

  it('refuses nested access to the same copy', () => {
    const { m, hits } = setup();
    using g = CpuGuard.enter(m);
    const a = hits.token(g);
    const b = hits.token(g);
    expect(() => a.with(() => b.with((r) => r.read()))).toThrow(
      "EBUSY: 'hits' on CPU 0 is already inside PerCpuToken.with: access is exclusive",
    );
    expect(a.with((r) => r.read())).toBe(5n);
  });

  it('refuses a MigrateGuard, which lets other tasks run on the CPU', () => {
    const { m, hits } = setup();
    using g = MigrateGuard.enter(m);
    expect(() => new PerCpuToken(hits, g as never)).toThrow(
      "EINVAL: a PerCpuToken for 'hits' needs a CpuGuard or IrqGuard",
    );
  });

  it('refuses an async callback', () => {
    const { m, hits } = setup();
    using g = CpuGuard.enter(m);
    expect(() => hits.token(g).with(async (r) => r.read())).toThrow(
      'EINVAL: the PerCpuToken.with callback for',
    );
  });
});
