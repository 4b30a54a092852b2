import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckedPerCpu } from '../../percpu/checked-per-cpu.ts';
import { CpuGuard } from '../../percpu/cpu-guard.ts';
import { DynamicPerCpu, sanitizedPerCpuPtr } from '../../percpu/dynamic-per-cpu.ts';
import { PercpuSanitizer } from '../../percpu/sanitizer.ts';
import { SHADOW_FREED, SHADOW_LIVE, SHADOW_UNALLOCATED } from '../../percpu/shadow.ts';
import { array, s32, struct, u8, u32, u64 } from '../../segments/ctype.ts';
import { sanitizedBoot } from './sanitizer-fixtures.ts';

const pair = struct('pair', [
  ['a', u32],
  ['b', u32],
]);

describe('the per-CPU sanitizer: frees', () => {
  it('reports a double free with both sites and does not call the allocator again', () => {
    const b = sanitizedBoot();
    const p = b.pcpu.alloc(24, 8)!;
    b.pcpu.free(p);
    expect(() => b.pcpu.free(p)).not.toThrow();
    expect(b.bugs()).toHaveLength(1);
    const lines = b.reports[0].lines;
    expect(lines[0]).toMatch(/^BUG: KASAN: double-free in /);
    expect(lines[0]).toContain('sanitizer.test.ts');
    expect(lines).toContain(`Free of addr 0x${p.toString(16)} by task tester/7`);
    expect(lines).toContain('CPU: 0 PID: 7 Comm: tester');
    expect(lines).toContain('Allocated by task 7 (tester) on CPU 0:');
    expect(lines).toContain('Freed by task 7 (tester) on CPU 0:');
    expect(lines).toContain(
      "The buggy address belongs to the percpu allocation of size 24 (CPU 0's unit)",
    );
    expect(b.reports[0].kind).toBe('kasan');
  });

  it('reports a free of a pointer inside an allocation as invalid-free, and the allocation stays', () => {
    const b = sanitizedBoot();
    const p = b.pcpu.alloc(16, 4)!;
    b.pcpu.free(p + 4);
    expect(b.bugs()).toEqual([expect.stringMatching(/^BUG: KASAN: invalid-free in /)]);
    expect(b.reports[0].lines).toContain('The buggy address is located 4 bytes inside of');
    expect(b.pcpu.isAllocationStart(p)).toBe(true);
    expect(b.san.record(p)?.state).toBe('live');
  });

  it('reports a free of a pointer never allocated, or outside per-CPU memory, as invalid-free', () => {
    const b = sanitizedBoot();
    const never = b.areas.dynamicStart + 4096;
    b.pcpu.free(never);
    b.pcpu.free(0x7fff_0000);
    expect(b.bugs()).toHaveLength(2);
    expect(b.bugs().every((l) => l.startsWith('BUG: KASAN: invalid-free in '))).toBe(true);
    expect(b.reports[0].lines.at(-1)).toMatch(/belongs to no percpu allocation/);
    expect(b.reports[1].lines.at(-1)).toMatch(/is not a per-CPU pointer of this allocator/);
  });

  it('free(null) and free(0) do nothing', () => {
    const b = sanitizedBoot();
    b.pcpu.free(null);
    b.pcpu.free(0);
    expect(b.reports).toEqual([]);
  });

  it('a deferred free keeps the memory live until the real free, and a second request is a double free', () => {
    const b = sanitizedBoot();
    const p = b.pcpu.alloc(8, 8)!;
    expect(b.san.deferFree(p)).toBe(true);
    expect(b.san.checkAccess(b.addr(p, 1), 8, 'read')).toBe(true);
    expect(b.san.deferFree(p)).toBe(false);
    expect(b.bugs()).toEqual([expect.stringMatching(/^BUG: KASAN: double-free/)]);
    expect(b.reports[0].lines).toContain(
      'Freed by task 7 (tester) on CPU 0 (deferred until an RCU grace period):',
    );
    b.pcpu.free(p); // the grace period's callback
    expect(b.pcpu.isAllocationStart(p)).toBe(false);
    expect(b.san.checkAccess(b.addr(p, 1), 8, 'read')).toBe(false);
    expect(b.reports[1].lines).toContain(
      'Freed by task 7 (tester) on CPU 0 (deferred, done after an RCU grace period):',
    );
  });
});

describe('the per-CPU sanitizer: accesses through the TS API', () => {
  it('reports a read through a ref kept after DynamicPerCpu.drop as use-after-free, on any CPU', () => {
    const b = sanitizedBoot();
    const d = DynamicPerCpu.newWith<bigint>(b, b.pcpu, u64, 5n)!;
    const p = d.ptr;
    const ref = p.remote(2);
    expect(ref.read()).toBe(5n);
    d.drop();
    ref.read();
    expect(b.bugs()).toEqual([expect.stringMatching(/^BUG: KASAN: use-after-free in /)]);
    const lines = b.reports[0].lines;
    expect(lines).toContain(
      `Read of size 8 at addr 0x${b.addr(p.ptr, 2).toString(16)} by task tester/7`,
    );
    expect(lines).toContain(
      "The buggy address belongs to the percpu allocation of size 8 (CPU 2's unit)",
    );
    expect(lines).toContain('The buggy address is located 0 bytes inside of');
    expect(lines.some((l) => l.startsWith(' freed 8-byte region'))).toBe(true);
  });

  it('checks writes, field and element refs, tokens, CheckedPerCpu borrows and the op families, naming the caller', () => {
    const b = sanitizedBoot();
    const d = DynamicPerCpu.newZero<{ a: number; b: number }>(b, b.pcpu, pair)!;
    const arr = DynamicPerCpu.newZero<number[]>(b, b.pcpu, array(u8, 4))!;
    const n = DynamicPerCpu.newZero<bigint>(b, b.pcpu, u64)!;
    const [pp, pa, pn] = [d.ptr, arr.ptr, n.ptr];
    const guard = CpuGuard.enter(b.model);
    const field = pp.get(guard).field('b');
    const elem = pa.remote(1).at(3);
    const token = pn.token(guard);
    const cells = new CheckedPerCpu(pn);
    d.drop();
    arr.drop();
    n.drop();
    field.write(1);
    elem.read();
    token.with((r) => r.update((v) => v + 1n));
    pn.thisCpuAdd(b.model, 1n);
    pn.__thisCpuRead(guard);
    {
      using w = cells.borrowMut(guard);
      w.write(0n);
    }
    guard[Symbol.dispose]();
    const kinds = b.reports.map((r) => r.lines[1].split(' of ')[0]);
    expect(b.bugs().every((l) => l.startsWith('BUG: KASAN: use-after-free in '))).toBe(true);
    // The site is the caller's line, not the percpu/ plumbing in between.
    expect(b.bugs().every((l) => l.includes('sanitizer.test.ts'))).toBe(true);
    // field write, element read, the token's update (its write repeats the read's site and
    // allocation, so it is counted, not reported again), this_cpu_add, __this_cpu_read, the borrow.
    expect(kinds).toEqual(['Write', 'Read', 'Read', 'Write', 'Read', 'Write']);
    expect(b.san.suppressed).toBe(1);
    expect(b.reports[0].lines[1]).toMatch(/^Write of size 4 at addr /);
    expect(b.reports[1].lines[1]).toMatch(/^Read of size 1 at addr /);
  });

  it('checks an access before it is made: with onError throw, a write to freed memory does not happen', () => {
    const b = sanitizedBoot({ sanitizer: { onError: 'throw' } });
    const d = DynamicPerCpu.newWith<bigint>(b, b.pcpu, u64, 5n)!;
    const ref = d.ptr.remote(0);
    const at = b.addr(d.ptr.ptr, 0);
    d.drop();
    b.memory.write64(at, 7n);
    expect(() => ref.write(9n)).toThrow(/EFAULT: KASAN: use-after-free write of size 8/);
    expect(() => d.ptr).toThrow(/EINVAL/);
    expect(b.memory.read64(at)).toBe(7n);
  });

  it('marks the rounding of a reused area as out of bounds, not as the old allocation freed', () => {
    const b = sanitizedBoot();
    const p = b.pcpu.alloc(12, 4)!;
    b.pcpu.free(p);
    const q = b.pcpu.alloc(10, 4)!;
    expect(q).toBe(p);
    expect(b.san.checkAccess(b.addr(q + 8, 2), 4, 'read')).toBe(false);
    expect(b.bugs()).toEqual([expect.stringMatching(/^BUG: KASAN: out-of-bounds in /)]);
    expect(b.reports[0].lines).toContain('The buggy address is located 0 bytes to the right of');
  });

  it('reports an access past the requested size (rounding included) as out-of-bounds', () => {
    const b = sanitizedBoot();
    const p = b.pcpu.alloc(10, 4)!;
    expect(b.pcpu.sizeOf(p)).toBe(12);
    const wide = sanitizedPerCpuPtr<bigint>(b.areas, p + 8, u32, b.san);
    wide.remote(3).read();
    expect(b.bugs()).toEqual([expect.stringMatching(/^BUG: KASAN: out-of-bounds in /)]);
    expect(b.reports[0].lines).toContain(
      `Read of size 4 at addr 0x${b.addr(p + 8, 3).toString(16)} by task tester/7`,
    );
    expect(b.reports[0].lines).toContain('The buggy address is located 0 bytes to the right of');
    expect(b.reports[0].lines.at(-1)).toMatch(/^ allocated 10-byte region/);
  });

  it('reports the free part of a chunk, and the end of a unit, as out-of-bounds', () => {
    const b = sanitizedBoot();
    const unit = b.areas.firstChunk.unitSize;
    expect(b.san.checkAccess(b.addr(b.areas.dynamicStart + 256, 0), 4, 'write')).toBe(false);
    expect(b.san.checkAccess(b.addr(unit - 4, 1), 8, 'read')).toBe(false);
    expect(b.bugs()).toHaveLength(2);
    expect(b.bugs().every((l) => l.startsWith('BUG: KASAN: out-of-bounds'))).toBe(true);
  });

  it('takes static per-CPU variables and memory outside per-CPU areas for valid', () => {
    const b = sanitizedBoot();
    const counter = b.areas.symbol('counter').address;
    for (let cpu = 0; cpu < 4; cpu++) {
      expect(b.san.checkAccess(b.addr(counter, cpu), 8, 'write')).toBe(true);
    }
    expect(b.san.checkAccess(0x2000, 8, 'read')).toBe(true);
    expect(b.reports).toEqual([]);
  });

  it('reports one bug once and counts the repeats', () => {
    const b = sanitizedBoot();
    const d = DynamicPerCpu.newZero<number>(b, b.pcpu, s32)!;
    const ref = d.ptr.remote(0);
    d.drop();
    for (let k = 0; k < 5; k++) ref.read();
    expect(b.reports).toHaveLength(1);
    expect(b.san.suppressed).toBe(4);
  });

  it("with onError 'throw' reports and then throws EFAULT", () => {
    const b = sanitizedBoot({ sanitizer: { onError: 'throw' } });
    const p = b.pcpu.alloc(8, 8)!;
    b.pcpu.free(p);
    expect(() => b.san.checkAccess(b.addr(p, 0), 8, 'read')).toThrow(
      /EFAULT: KASAN: use-after-free/,
    );
    expect(() => b.pcpu.free(p)).toThrow(/EFAULT: KASAN: double-free/);
    expect(b.reports).toHaveLength(2);
  });

  it('marks the shadow live, freed, and live again when the area is reused', () => {
    const b = sanitizedBoot();
    const p = b.pcpu.alloc(8, 8)!;
    const at = b.san.shadow.locate(b.addr(p, 1))!;
    expect(at).toMatchObject({ cpu: 1, ptr: p, chunk: -1 });
    expect(b.san.shadow.stateAt(at)).toBe(SHADOW_LIVE);
    b.pcpu.free(p);
    expect(b.san.shadow.stateAt(at)).toBe(SHADOW_FREED);
    const q = b.pcpu.alloc(8, 8)!;
    expect(q).toBe(p);
    expect(b.san.shadow.stateAt(at)).toBe(SHADOW_LIVE);
    expect(b.san.shadow.stateAt({ ...at, off: at.off + 8, ptr: p + 8 })).toBe(SHADOW_UNALLOCATED);
    expect(b.reports).toEqual([]);
  });

  it('follows allocations into chunks of the chunk region', () => {
    const b = sanitizedBoot();
    const big: number[] = [];
    // The first chunk's dynamic part fills up; the rest comes from new chunks.
    for (let k = 0; k < 12; k++) big.push(b.pcpu.alloc(4090, 8)!);
    const far = big.find((p) => b.san.shadow.locate(b.addr(p, 0))!.chunk >= 0)!;
    expect(far).toBeDefined();
    expect(b.san.checkAccess(b.addr(far, 3) + 4082, 8, 'write')).toBe(true);
    expect(b.san.checkAccess(b.addr(far, 3) + 4084, 8, 'write')).toBe(false);
    b.pcpu.free(far);
    expect(b.san.checkAccess(b.addr(far, 2), 4, 'read')).toBe(false);
    expect(b.bugs()).toEqual([
      expect.stringMatching(/^BUG: KASAN: out-of-bounds/),
      expect.stringMatching(/^BUG: KASAN: use-after-free/),
    ]);
  });
});

describe('the per-CPU sanitizer: leaks and attachment', () => {
  it('reports every live allocation at shutdown with its allocation site, kmemleak-style', () => {
    const b = sanitizedBoot();
    const kept = b.pcpu.alloc(40, 8)!;
    const fine = b.pcpu.alloc(8, 8)!;
    const meant = b.pcpu.alloc(16, 8)!;
    b.pcpu.free(fine);
    b.san.notLeak(meant);
    expect(b.san.reportLeaks()).toBe(1);
    expect(b.reports).toHaveLength(1);
    const [r] = b.reports;
    expect(r.kind).toBe('leak');
    expect(r.lines[0]).toBe(`unreferenced percpu object 0x${kept.toString(16)} (size 40):`);
    expect(r.lines[1]).toBe('  comm "tester", pid 7, jiffies 4294667296');
    expect(r.lines[2]).toBe('  backtrace:');
    expect(r.lines[3]).toContain('sanitizer.test.ts');
  });

  it('does not count as leaks the objects whose RCU-deferred free is queued; notLeak needs a live object', () => {
    const b = sanitizedBoot();
    const dropped = b.pcpu.alloc(8, 8)!;
    const kept = b.pcpu.alloc(8, 8)!;
    b.san.deferFree(dropped);
    expect(b.san.liveAllocations().map((r) => r.ptr)).toEqual([dropped, kept]);
    expect(b.san.leaks().map((r) => r.ptr)).toEqual([kept]);
    b.pcpu.free(kept);
    expect(() => b.san.notLeak(kept)).toThrow(
      `EINVAL: no live per-CPU allocation at 0x${kept.toString(16)}`,
    );
    expect(b.san.reportLeaks()).toBe(0);
    expect(b.reports).toEqual([]);
  });

  it('attaches once per allocator', () => {
    const b = sanitizedBoot();
    expect(b.san.watches(b.pcpu)).toBe(true);
    expect(() =>
      PercpuSanitizer.attach(b.pcpu, {
        who: () => null,
        guestSite: () => null,
        report: () => {},
        jiffies: () => 0n,
      }),
    ).toThrow('EBUSY: a sanitizer is already attached to this allocator');
  });
});

describe('the per-CPU sanitizer: no false positives', () => {
  it('random valid allocations, accesses on every CPU and frees make no report (fast-check)', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('alloc' as const),
        size: fc.integer({ min: 1, max: 600 }),
        align: fc.constantFrom(1, 2, 4, 8, 16, 64, 256),
        atomic: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('access' as const),
        pick: fc.nat(),
        at: fc.nat(),
        cpu: fc.nat(),
      }),
      fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const b = sanitizedBoot({ cpus: 3 });
        const live: { p: number; size: number; d?: DynamicPerCpu<number[]> }[] = [];
        for (const o of ops) {
          if (o.kind === 'alloc') {
            if (o.size % 4 === 0 && o.size <= 64 && !o.atomic) {
              const d = DynamicPerCpu.newFrom<number[]>(b, b.pcpu, array(u8, o.size), (cpu) =>
                Array(o.size).fill(cpu),
              );
              if (d !== null) live.push({ p: d.ptr.ptr, size: o.size, d });
            } else {
              const p = b.pcpu.alloc(o.size, o.align, { atomic: o.atomic });
              if (p !== null) live.push({ p, size: o.size });
            }
          } else if (live.length > 0) {
            const k = o.pick % live.length;
            const a = live[k];
            if (o.kind === 'access') {
              const off = o.at % a.size;
              const len = Math.min(a.size - off, 8);
              b.san.checkAccess(b.addr(a.p + off, o.cpu % 3), len, o.at % 2 ? 'read' : 'write');
              if (a.d !== undefined) a.d.ptr.remote(o.cpu % 3).read();
            } else {
              live.splice(k, 1);
              if (a.d !== undefined) a.d.drop();
              else if (o.kind === 'drop') {
                b.san.deferFree(a.p);
                b.pcpu.free(a.p);
              } else b.pcpu.free(a.p);
            }
          }
        }
        expect(b.reports).toEqual([]);
        expect(
          b.san
            .liveAllocations()
            .map((r) => r.ptr)
            .sort(),
        ).toEqual(live.map((a) => a.p).sort());
      }),
      { numRuns: 60 },
    );
  });
});
