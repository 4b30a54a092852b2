import { describe, expect, it } from 'vitest';
import { CpuGuard } from '../../percpu/cpu-guard.ts';
import { StaticPerCpu } from '../../percpu/static-per-cpu.ts';
import { array, s32, struct, u8, u32, u64 } from '../../segments/ctype.ts';
import { FakeModel } from './fake-preemption-model.ts';

const pair = struct('pair', [
  ['count', u64],
  ['flags', u32],
]);

function setup() {
  return FakeModel.boot({
    vars: {
      hits: [u64, 3n],
      small: [u32, 0xffff_ffff],
      delta: [s32, -2],
      stats: [pair, { count: 9n, flags: 1 }],
      bytes: [array(u8, 2), [1, 2]],
    },
  });
}

describe('StaticPerCpu', () => {
  it('finds a DEFINE_PER_CPU variable by name, its pointer being its template offset', () => {
    const m = setup();
    const hits = StaticPerCpu.lookup<bigint>(m, 'hits', u64);
    expect(hits.name).toBe('hits');
    expect(hits.ptr.ptr).toBe(m.areas.symbol('hits').address);
    expect(hits.ptr.name).toBe("'hits'");
    expect(hits.values()).toEqual([3n, 3n, 3n, 3n]);
  });

  it('refuses a missing name and a type other than the defined one', () => {
    const m = setup();
    expect(() => StaticPerCpu.lookup(m, 'nope', u64)).toThrow("ENOENT: no per-CPU variable 'nope'");
    expect(() => StaticPerCpu.lookup(m, 'hits', u32)).toThrow(
      "EINVAL: per-CPU variable 'hits' is u64, not u32",
    );
    expect(() => StaticPerCpu.lookup(m, 'delta', u32)).toThrow('is s32, not u32');
  });

  it('takes the defined type when none is given', () => {
    const m = setup();
    const stats = StaticPerCpu.lookup<{ count: bigint; flags: number }>(m, 'stats');
    expect(stats.type).toBe(pair);
    expect(stats.values()[0]).toEqual({ count: 9n, flags: 1 });
  });

  it("values() and sum() read every CPU's copy; sum does not wrap", () => {
    const m = setup();
    const hits = StaticPerCpu.lookup<bigint>(m, 'hits', u64);
    for (const cpu of [0, 1, 3]) {
      m.cpu = cpu;
      using g = CpuGuard.enter(m);
      hits.ptr.get(g).update((n) => n + BigInt(cpu));
    }
    expect(hits.values()).toEqual([3n, 4n, 3n, 6n]);
    expect(hits.sum()).toBe(16n);
    expect(StaticPerCpu.lookup<number>(m, 'small', u32).sum()).toBe(4 * 0xffff_ffff);
    expect(StaticPerCpu.lookup<number>(m, 'delta', s32).sum()).toBe(-8);
  });

  it('refuses sum() of a struct or array', () => {
    const m = setup();
    const bytes = StaticPerCpu.lookup<number[]>(m, 'bytes');
    expect(bytes.values()).toEqual([
      [1, 2],
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
    expect(() => (bytes as unknown as StaticPerCpu<number>).sum()).toThrow(
      "EINVAL: sum() needs an integer variable, but 'bytes' is u8[2]",
    );
  });
});
