import { describe, expect, it } from 'vitest';
import { CpuGuard } from '../../percpu/cpu-guard.ts';
import { IrqGuard } from '../../percpu/irq-guard.ts';
import { MigrateGuard } from '../../percpu/migrate-guard.ts';
import { PerCpuPtr } from '../../percpu/per-cpu-ptr.ts';
import {
  array,
  type CType,
  s8,
  s16,
  s32,
  s64,
  struct,
  u8,
  u16,
  u32,
  u64,
} from '../../segments/ctype.ts';
import { FakeModel } from './fake-preemption-model.ts';

const pair = struct('pair', [
  ['count', u64],
  ['flags', u32],
]);

function setup() {
  const m = FakeModel.boot({
    vars: {
      hits: [u64, 7n],
      b: [u8],
      sb: [s8],
      h: [u16],
      sh: [s16],
      w: [u32],
      sw: [s32],
      q: [u64],
      sq: [s64],
      stats: [pair, { count: 1n, flags: 2 }],
      slots: [array(u16, 3)],
    },
  });
  const ptr = <T>(name: string, type: CType) =>
    new PerCpuPtr<T>(m.areas, m.areas.symbol(name).address, type);
  return { m, ptr, hits: ptr<bigint>('hits', u64) };
}

describe('PerCpuPtr.get and its PerCpuRef', () => {
  it("reads and writes the guard's CPU's copy", () => {
    const { m, hits } = setup();
    m.cpu = 1;
    {
      using g = CpuGuard.enter(m);
      const r = hits.get(g);
      expect(r.cpu).toBe(1);
      expect(r.read()).toBe(7n);
      expect(r.update((n) => n + 1n)).toBe(8n);
      expect(m.areas.memory.read64(r.address)).toBe(8n);
    }
    expect(hits.remote(1).read()).toBe(8n);
    expect(hits.remote(0).read()).toBe(7n);
  });

  it('a ref from a guard on CPU 0 cannot be used after the guard died', () => {
    const { m, hits } = setup();
    const g = CpuGuard.enter(m);
    const r = hits.get(g);
    r.write(1n);
    g[Symbol.dispose]();
    expect(r.valid).toBe(false);
    expect(() => r.read()).toThrow(
      "EPERM: PerCpuRef to 'hits' on CPU 0 used after its CpuGuard was dropped",
    );
    expect(() => r.write(2n)).toThrow('used after its CpuGuard was dropped');
    expect(() => r.address).toThrow('EPERM');
    expect(hits.remote(0).read()).toBe(1n);
  });

  it('a ref cannot be used from another CPU or another task while its guard lives', () => {
    const { m, hits } = setup();
    m.switchTo(0, 0x1000);
    using g = MigrateGuard.enter(m);
    const r = hits.get(g);
    m.switchTo(2, 0x2000);
    expect(() => r.read()).toThrow(
      "EPERM: PerCpuRef to 'hits' on CPU 0 used on CPU 2, but its MigrateGuard is of CPU 0",
    );
    m.switchTo(0, 0x3000);
    expect(() => r.read()).toThrow('used by another task on CPU 0');
    m.switchTo(0, 0x1000);
    expect(r.read()).toBe(7n);
  });

  it('gives refs to struct fields and array elements with the same lifetime', () => {
    const { m, ptr } = setup();
    const stats = ptr<{ count: bigint; flags: number }>('stats', pair);
    const slots = ptr<number[]>('slots', array(u16, 3));
    const g = IrqGuard.enter(m);
    expect(stats.get(g).read()).toEqual({ count: 1n, flags: 2 });
    stats
      .get(g)
      .field('flags')
      .update((f) => f | 4);
    expect(stats.get(g).read()).toEqual({ count: 1n, flags: 6 });
    slots.get(g).at(2).write(0x1_0005);
    expect(slots.get(g).read()).toEqual([0, 0, 5]);
    expect(() => slots.get(g).at(3)).toThrow("ERANGE: index 3 is outside 'slots' (u16[3])");
    expect(() => stats.get(g).write({ count: 1n } as never)).toThrow(
      "EINVAL: pair lacks field 'flags'",
    );
    const flags = stats.get(g).field('flags');
    g[Symbol.dispose]();
    expect(() => flags.read()).toThrow(
      "PerCpuRef to 'stats'.flags on CPU 0 used after its IrqGuard",
    );
  });
});

describe('remote access and raw addresses', () => {
  it("remote(cpu) reads and writes another CPU's copy, from any CPU", () => {
    const { m, hits } = setup();
    m.cpu = 3;
    hits.remote(1).write(42n);
    m.cpu = 0;
    expect(hits.remote(1).read()).toBe(42n);
    expect(hits.thisCpuRead(m)).toBe(7n);
    expect(hits.perCpuPtr(1)).toBe(m.areas.perCpuPtr(hits.ptr, 1));
    expect(() => hits.remote(4)).toThrow('EINVAL: cpu 4 is not a possible CPU (0..3)');
  });

  it('thisCpuPtr checks preemption through smp_processor_id; rawCpuPtr does not', () => {
    const { m, hits } = setup();
    m.cpu = 2;
    expect(hits.thisCpuPtr(m)).toBe(hits.perCpuPtr(2));
    expect(m.reports).toEqual([
      'BUG: using smp_processor_id() in preemptible [00000000] code: fake/0',
    ]);
    expect(hits.rawCpuPtr(m)).toBe(hits.perCpuPtr(2));
    {
      using g = CpuGuard.enter(m);
      expect(hits.thisCpuPtr(m)).toBe(hits.perCpuPtr(2));
      expect(hits.thisCpuPtr(g)).toBe(hits.perCpuPtr(2));
    }
    expect(m.reports).toHaveLength(1);
  });
});

describe('this_cpu ops', () => {
  it('wrap at 1, 2, 4 and 8 bytes, signed and unsigned', () => {
    const { m, ptr } = setup();
    m.cpu = 1;
    const b = ptr<number>('b', u8);
    b.thisCpuWrite(m, 255);
    b.thisCpuInc(m);
    expect(b.thisCpuRead(m)).toBe(0);
    b.thisCpuDec(m);
    expect(b.thisCpuRead(m)).toBe(255);
    const sb = ptr<number>('sb', s8);
    expect(sb.thisCpuAddReturn(m, 127)).toBe(127);
    expect(sb.thisCpuAddReturn(m, 1)).toBe(-128);
    const h = ptr<number>('h', u16);
    h.thisCpuSub(m, 1);
    expect(h.thisCpuRead(m)).toBe(0xffff);
    const sh = ptr<number>('sh', s16);
    sh.thisCpuWrite(m, 0x8000);
    expect(sh.thisCpuRead(m)).toBe(-0x8000);
    const w = ptr<number>('w', u32);
    w.thisCpuWrite(m, -1);
    expect(w.thisCpuRead(m)).toBe(0xffff_ffff);
    w.thisCpuAdd(m, 2);
    expect(w.thisCpuRead(m)).toBe(1);
    const sw = ptr<number>('sw', s32);
    expect(sw.thisCpuAddReturn(m, -5)).toBe(-5);
    const q = ptr<bigint>('q', u64);
    q.thisCpuSub(m, 1n);
    expect(q.thisCpuRead(m)).toBe(2n ** 64n - 1n);
    const sq = ptr<bigint>('sq', s64);
    sq.thisCpuWrite(m, 2n ** 63n - 1n);
    sq.thisCpuInc(m);
    expect(sq.thisCpuRead(m)).toBe(-(2n ** 63n));
    expect(q.remote(0).read()).toBe(0n);
  });

  it('and, or, xchg and cmpxchg return what C returns', () => {
    const { m, ptr } = setup();
    const w = ptr<number>('w', u32);
    w.thisCpuWrite(m, 0b1100);
    w.thisCpuAnd(m, 0b0110);
    w.thisCpuOr(m, 0b0001);
    expect(w.thisCpuRead(m)).toBe(0b0101);
    expect(w.thisCpuXchg(m, 9)).toBe(0b0101);
    expect(w.thisCpuCmpxchg(m, 8, 1)).toBe(9);
    expect(w.thisCpuRead(m)).toBe(9);
    expect(w.thisCpuCmpxchg(m, 9, 1)).toBe(9);
    expect(w.thisCpuRead(m)).toBe(1);
    const sb = ptr<number>('sb', s8);
    sb.thisCpuWrite(m, -1);
    expect(sb.thisCpuCmpxchg(m, -1, 3)).toBe(-1);
    expect(sb.thisCpuRead(m)).toBe(3);
  });

  it('refuses non-integer objects and values', () => {
    const { m, ptr } = setup();
    const stats = ptr<never>('stats', pair) as unknown as PerCpuPtr<number>;
    expect(() => stats.thisCpuInc(m)).toThrow(
      "EINVAL: this_cpu_inc('stats') needs an integer per-CPU object, but 'stats' is pair",
    );
    const w = ptr<number>('w', u32);
    expect(() => w.thisCpuAdd(m, 1.5)).toThrow("EINVAL: this_cpu_add('w'): 1.5 is not an integer");
  });

  it('refuses a model of another machine', () => {
    const { hits } = setup();
    const other = FakeModel.boot({ vars: { hits: [u64] } });
    expect(() => hits.thisCpuInc(other)).toThrow("EINVAL: 'hits' belongs to another machine");
  });
});

describe('__this_cpu and raw_cpu ops', () => {
  it('__this_cpu ops given the model run the DEBUG_PREEMPT check, reporting while preemptible', () => {
    const { m, hits } = setup();
    hits.__thisCpuAdd(m, 2n);
    expect(hits.__thisCpuRead(m)).toBe(9n);
    expect(m.checks).toEqual([
      { what: '__this_cpu_add', reported: true },
      { what: '__this_cpu_read', reported: true },
    ]);
    expect(m.reports).toEqual([
      'BUG: using __this_cpu_add() in preemptible [00000000] code: fake/0',
      'BUG: using __this_cpu_read() in preemptible [00000000] code: fake/0',
    ]);
  });

  it('__this_cpu ops report nothing while a guard is alive', () => {
    const { m, hits } = setup();
    {
      using g = CpuGuard.enter(m);
      hits.__thisCpuInc(m);
      hits.__thisCpuInc(g);
      expect(hits.__thisCpuXchg(g, 0n)).toBe(9n);
    }
    {
      using g = MigrateGuard.enter(m);
      hits.__thisCpuOr(m, 1n);
      expect(hits.__thisCpuAddReturn(g, 1n)).toBe(2n);
    }
    expect(m.checks).toEqual([
      { what: '__this_cpu_inc', reported: false },
      { what: '__this_cpu_or', reported: false },
    ]);
    expect(m.reports).toEqual([]);
  });

  it('__this_cpu ops refuse a dead guard', () => {
    const { m, hits } = setup();
    const g = CpuGuard.enter(m);
    g[Symbol.dispose]();
    expect(() => hits.__thisCpuInc(g)).toThrow(
      "EPERM: __this_cpu_inc('hits') used after its CpuGuard was dropped",
    );
  });

  it('this_cpu and raw_cpu ops never check', () => {
    const { m, hits } = setup();
    hits.thisCpuInc(m);
    hits.rawCpuInc(m);
    hits.rawCpuSub(m, 4n);
    expect(hits.rawCpuCmpxchg(m, 5n, 0n)).toBe(5n);
    expect(hits.rawCpuRead(m)).toBe(0n);
    expect(m.checks).toEqual([]);
  });
});
