import { describe, expect, it } from 'vitest';
import { CpuGuard } from '../../percpu/cpu-guard.ts';
import { DynamicPerCpu } from '../../percpu/dynamic-per-cpu.ts';
import { PerCpuPtr } from '../../percpu/per-cpu-ptr.ts';
import { Machine } from '../../preempt/machine.ts';
import { array, struct, u16, u32, u64 } from '../../segments/ctype.ts';
import { sanitizedBoot } from './sanitizer-fixtures.ts';

const stats = struct('stats', [
  ['packets', u64],
  ['drops', u32],
]);

describe('DynamicPerCpu', () => {
  it('newZero: an object zeroed on every CPU, at the type alignment', () => {
    const b = sanitizedBoot();
    const dirty = b.pcpu.alloc(64, 8)!;
    for (let cpu = 0; cpu < 4; cpu++) b.memory.fill(b.addr(dirty, cpu), 64, 0xaa);
    b.pcpu.free(dirty);
    const d = DynamicPerCpu.newZero<{ packets: bigint; drops: number }>(b, b.pcpu, stats)!;
    expect(d.ptr.ptr % stats.align).toBe(0);
    for (let cpu = 0; cpu < 4; cpu++) {
      expect(d.ptr.remote(cpu).read()).toEqual({ packets: 0n, drops: 0 });
    }
  });

  it('newWith puts the value on every CPU, newFrom a value per CPU', () => {
    const b = sanitizedBoot();
    const w = DynamicPerCpu.newWith<number>(b, b.pcpu, u32, 100)!;
    const f = DynamicPerCpu.newFrom<number[]>(b, b.pcpu, array(u16, 2), (cpu) => [cpu, cpu * 10])!;
    for (let cpu = 0; cpu < 4; cpu++) {
      expect(w.ptr.remote(cpu).read()).toBe(100);
      expect(f.ptr.remote(cpu).read()).toEqual([cpu, cpu * 10]);
    }
  });

  it('works with guards and the op families like a static variable', () => {
    const b = sanitizedBoot();
    const d = DynamicPerCpu.newZero<bigint>(b, b.pcpu, u64)!;
    b.model.cpu = 2;
    d.ptr.thisCpuAdd(b.model, 5n);
    {
      using g = CpuGuard.enter(b.model);
      d.ptr.get(g).update((n) => n + 1n);
      d.ptr.token(g).with((r) => r.update((n) => n * 2n));
    }
    expect(d.ptr.remote(2).read()).toBe(12n);
    expect(d.ptr.remote(0).read()).toBe(0n);
    expect(b.reports).toEqual([]);
  });

  it('drop frees the allocation; a second drop is EINVAL and ptr is gone', () => {
    const b = sanitizedBoot();
    const d = DynamicPerCpu.newZero<bigint>(b, b.pcpu, u64)!;
    const p = d.ptr.ptr;
    expect(d.alive).toBe(true);
    d.drop();
    expect(d.alive).toBe(false);
    expect(b.pcpu.isAllocationStart(p)).toBe(false);
    expect(() => d.drop()).toThrow(/EINVAL: .* was already dropped: drop it once/);
    expect(() => d.ptr).toThrow(/EINVAL: .* was dropped: its pointer is gone/);
    expect(b.reports).toEqual([]);
  });

  it('`using` drops at the end of the block', () => {
    const b = sanitizedBoot();
    let p = 0;
    {
      using d = DynamicPerCpu.newZero<number>(b, b.pcpu, u32);
      p = d!.ptr.ptr;
      expect(b.pcpu.isAllocationStart(p)).toBe(true);
    }
    expect(b.pcpu.isAllocationStart(p)).toBe(false);
  });

  it('returns null when the allocator refuses, after its warning', () => {
    const b = sanitizedBoot();
    const huge = array(u64, 8192); // 64 KiB: above PCPU_MIN_UNIT_SIZE
    expect(DynamicPerCpu.newZero(b, b.pcpu, huge)).toBeNull();
    expect(b.warnings).toEqual(['illegal size (65536) or align (8) for percpu allocation']);
  });

  it('frees the object when newFrom’s initializer throws', () => {
    const b = sanitizedBoot();
    expect(() =>
      DynamicPerCpu.newFrom<number>(b, b.pcpu, u32, (cpu) => {
        if (cpu === 2) throw new Error('no value for CPU 2');
        return cpu;
      }),
    ).toThrow('no value for CPU 2');
    expect(b.san.liveAllocations()).toEqual([]);
  });

  it('hands out a plain PerCpuPtr on a machine booted without the sanitizer', () => {
    const m = new Machine({ cpus: 2, sanitizer: false }).boot();
    expect(m.sanitizer).toBeNull();
    const d = DynamicPerCpu.newZero<bigint>(m, m.percpu, u64)!;
    expect(Object.getPrototypeOf(d.ptr)).toBe(PerCpuPtr.prototype);
    const ref = d.ptr.remote(1);
    d.drop();
    ref.read(); // unchecked
    expect(m.reports).toEqual([]);
  });
});
