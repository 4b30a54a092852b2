import { describe, expect, it } from 'vitest';
import { meminfoPercpu } from '../../percpu/percpu-stats.ts';
import { Machine } from '../../preempt/machine.ts';
import { run } from './machine-fixtures.ts';

describe('the machine and alloc_percpu', () => {
  it('boots the allocator: memory from it is per-CPU, found through this_cpu_ptr by a guest task', () => {
    const m = new Machine({ cpus: 2 }).boot();
    const p = m.percpu.alloc(8, 8)!;
    expect(p).not.toBeNull();
    for (const c of m.cpus) expect(m.memory.read64(m.areas.perCpuPtr(p, c.id))).toBe(0n);
    m.defineAsmSymbol('dyn', { kind: 'value', value: BigInt(p) });
    const program = m.assemble(`
      r1 = dyn ll
      r1 = this_cpu_ptr(r1)
      call raw_smp_processor_id
      r0 += 10
      *(u64 *)(r1 + 0) = r0
      exit`);
    m.spawn({ comm: 'on0', cpu: 0, allowed: [0], program });
    m.spawn({ comm: 'on1', cpu: 1, allowed: [1], program });
    run(m);
    expect(m.cpus.map((c) => m.memory.read64(m.areas.perCpuPtr(p, c.id)))).toEqual([10n, 11n]);
    m.percpu.free(p);
  });

  it("reports the allocator's warnings with the kernel's 'percpu: ' prefix", () => {
    const m = new Machine({ cpus: 1 }).boot();
    expect(m.percpu.alloc(0, 8)).toBeNull();
    expect(m.reports.at(-1)?.lines).toEqual([
      'percpu: illegal size (0) or align (8) for percpu allocation',
    ]);
  });

  it('runs the balance work from the timer tick when an allocation asked for it', () => {
    const m = new Machine({ cpus: 1, tickInterval: 20 }).boot();
    // Atomic allocations use populated pages up; the allocator then asks for its balance work.
    const live: number[] = [];
    for (let k = 0; k < 40 && !m.percpu.balancePending; k++) {
      const p = m.percpu.alloc(4096, 8, { atomic: true, noWarn: true });
      if (p !== null) live.push(p);
    }
    expect(m.percpu.balancePending).toBe(true);
    m.spawn({
      comm: 'ticker',
      program: m.assemble('r6 = 0\nl:\nr6 += 1\nif r6 < 100 goto l\nexit'),
    });
    run(m);
    expect(m.percpu.balancePending).toBe(false);
    expect(meminfoPercpu(m.percpu)).toMatch(/^Percpu: +\d+ kB$/);
  });
});
