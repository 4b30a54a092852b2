import { describe, expect, it } from 'vitest';
import { PercpuSanitizer } from '../../percpu/sanitizer.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine, type MachineOptions } from '../../preempt/machine.ts';
import {
  BPF_GLOBAL_PERCPU_MA_MAX_SIZE,
  PERCPU_KPTR_KFUNCS,
  sanitizerHost,
} from '../../preempt/percpu-kptr.ts';
import { Rcu } from '../../preempt/rcu.ts';
import { u64 } from '../../segments/ctype.ts';
import { ofKind, run } from './machine-fixtures.ts';

/** A booted machine with the globals `slot`, `out0`..`out3` and percpu kptr support. */
function kptrMachine(opts: MachineOptions = {}): Kernel {
  const b = new Machine({ cpus: 2, tickInterval: 20, ...opts });
  for (const name of ['slot', 'out0', 'out1', 'out2', 'out3']) b.defineData(name, u64, 0n);
  return b.boot();
}

const global = (m: Kernel, name: string) => m.memory.read64(m.symbol(name));

/** Spawns `source` on `cpu` and runs the machine until every task is done. */
function runProgram(m: Kernel, source: string, cpu = 0): void {
  m.spawn({ comm: 'prog', cpu, allowed: [cpu], program: m.assemble(source) });
  run(m);
}

/** Spawns a native task that waits for every RCU callback, so drops have happened. */
function barrierAfter(m: Kernel, cpu = 0): void {
  m.spawn({
    comm: 'rcu_barrier',
    cpu,
    *body() {
      while ([...m.tasks.values()].some((t) => t.comm !== 'rcu_barrier' && !t.exited)) yield;
      yield* m.rcuBarrier();
      return 0;
    },
  });
}

describe('every booted machine', () => {
  it('has RCU, the percpu kptr kfuncs and helpers, and the sanitizer on its allocator', () => {
    const b = new Machine({ cpus: 1 });
    expect('rcu' in b || 'sanitizer' in b).toBe(false); // only the booted kernel has them
    const m = b.boot();
    expect(m.rcu).toBeInstanceOf(Rcu);
    expect(m.sanitizer).toBeInstanceOf(PercpuSanitizer);
    // The sanitizer watches the kernel's own allocator.
    const p = m.percpu.alloc(8, 8)!;
    expect(m.sanitizer!.record(p)?.size).toBe(8);
    expect(m.kfuncs.byNameLookup('bpf_percpu_obj_new_impl')?.id).toBe(300);
    expect(m.helpers.get(194)?.name).toBe('bpf_kptr_xchg');
  });

  it("has no sanitizer with the 'sanitizer: false' option, and still the kfuncs and RCU", () => {
    const m = new Machine({ cpus: 1, sanitizer: false }).boot();
    expect(m.sanitizer).toBeNull();
    expect(m.rcu).toBeInstanceOf(Rcu);
    expect(m.kfuncs.byNameLookup('bpf_rcu_read_lock')?.id).toBe(302);
  });

  it('refuses a second sanitizer on its allocator', () => {
    const m = new Machine({ cpus: 1 }).boot();
    expect(() => PercpuSanitizer.attach(m.percpu, sanitizerHost(m))).toThrow(
      'EBUSY: a sanitizer is already attached to this allocator',
    );
  });
});

describe('bpf_percpu_obj_new_impl', () => {
  it('returns an object zeroed on every CPU, 8-byte aligned, for sizes 1..512', () => {
    const m = kptrMachine();
    const dirty = m.percpu.alloc(64, 8)!;
    for (let cpu = 0; cpu < 2; cpu++) m.memory.fill(m.areas.perCpuPtr(dirty, cpu), 64, 0xee);
    m.percpu.free(dirty);
    runProgram(
      m,
      `
        r1 = 64
        r2 = 0
        call bpf_percpu_obj_new_impl
        r1 = out0 ll
        *(u64 *)(r1 + 0) = r0
        r1 = ${BPF_GLOBAL_PERCPU_MA_MAX_SIZE}
        r2 = 0
        call bpf_percpu_obj_new_impl
        r1 = out1 ll
        *(u64 *)(r1 + 0) = r0
        r1 = 1
        r2 = 0
        call bpf_percpu_obj_new_impl
        r1 = out2 ll
        *(u64 *)(r1 + 0) = r0
        r0 = 0
        exit
      `,
    );
    const [p, big, tiny] = ['out0', 'out1', 'out2'].map((n) => Number(global(m, n)));
    for (const q of [p, big, tiny]) {
      expect(q).not.toBe(0);
      expect(q % 8).toBe(0);
    }
    for (let cpu = 0; cpu < 2; cpu++) {
      expect([...m.memory.readBytes(m.areas.perCpuPtr(p, cpu), 64)].every((x) => x === 0)).toBe(
        true,
      );
    }
    expect(m.sanitizer!.record(big)?.size).toBe(512);
    expect(m.sanitizer!.record(tiny)?.size).toBe(1);
  });

  it('returns NULL for size 0 and sizes above 512, printing nothing', () => {
    const m = kptrMachine();
    runProgram(
      m,
      `
        r1 = 0
        r2 = 0
        call bpf_percpu_obj_new_impl
        r1 = out0 ll
        *(u64 *)(r1 + 0) = r0
        r1 = ${BPF_GLOBAL_PERCPU_MA_MAX_SIZE + 1}
        r2 = 0
        call bpf_percpu_obj_new_impl
        r1 = out1 ll
        *(u64 *)(r1 + 0) = r0
        r0 = 0
        exit
      `,
    );
    expect(global(m, 'out0')).toBe(0n);
    expect(global(m, 'out1')).toBe(0n);
    expect(m.reports).toEqual([]);
  });

  it('is registered under its id', () => {
    const m = kptrMachine();
    for (const [name, id] of Object.entries(PERCPU_KPTR_KFUNCS)) {
      expect(m.kfuncs.byNameLookup(name)?.id).toBe(id);
    }
  });
});

describe('bpf_per_cpu_ptr and bpf_this_cpu_ptr', () => {
  it('bpf_per_cpu_ptr gives CPU n’s copy, and NULL for a CPU >= nr_cpus or a NULL pointer', () => {
    const m = kptrMachine({ cpus: 3 });
    const p = m.percpu.alloc(8, 8)!;
    runProgram(
      m,
      `
        r1 = ${p}
        r2 = 2
        call bpf_per_cpu_ptr
        r1 = out0 ll
        *(u64 *)(r1 + 0) = r0
        r1 = ${p}
        r2 = 3
        call bpf_per_cpu_ptr
        r1 = out1 ll
        *(u64 *)(r1 + 0) = r0
        r1 = ${p}
        r2 = -1
        call bpf_per_cpu_ptr
        r1 = out2 ll
        *(u64 *)(r1 + 0) = r0
        r1 = 0
        r2 = 0
        call bpf_per_cpu_ptr
        r1 = out3 ll
        *(u64 *)(r1 + 0) = r0
        r0 = 0
        exit
      `,
    );
    expect(global(m, 'out0')).toBe(BigInt(m.areas.perCpuPtr(p, 2)));
    expect([global(m, 'out1'), global(m, 'out2'), global(m, 'out3')]).toEqual([0n, 0n, 0n]);
  });

  it('bpf_this_cpu_ptr gives the running CPU’s copy; DEBUG_PREEMPT reports a preemptible caller', () => {
    const m = kptrMachine();
    const p = m.percpu.alloc(8, 8)!;
    runProgram(
      m,
      `
        call preempt_disable
        r1 = ${p}
        call bpf_this_cpu_ptr
        r1 = out0 ll
        *(u64 *)(r1 + 0) = r0
        call preempt_enable
        r1 = ${p}
        call bpf_this_cpu_ptr
        r0 = 0
        exit
      `,
      1,
    );
    expect(global(m, 'out0')).toBe(BigInt(m.areas.perCpuPtr(p, 1)));
    expect(ofKind(m, 'debug_preempt')).toHaveLength(1);
  });
});

describe('bpf_kptr_xchg', () => {
  it('stores the new pointer in the slot and returns the old one', () => {
    const m = kptrMachine();
    m.memory.write64(m.symbol('slot'), 0x1234n);
    runProgram(
      m,
      `
        r1 = slot ll
        r2 = 0x5678
        call bpf_kptr_xchg
        r1 = out0 ll
        *(u64 *)(r1 + 0) = r0
        r1 = slot ll
        r2 = 0
        call bpf_kptr_xchg
        r1 = out1 ll
        *(u64 *)(r1 + 0) = r0
        r0 = 0
        exit
      `,
    );
    expect(global(m, 'out0')).toBe(0x1234n);
    expect(global(m, 'out1')).toBe(0x5678n);
    expect(global(m, 'slot')).toBe(0n);
  });

  it('faults on a misaligned or unmapped slot', () => {
    const m = kptrMachine();
    runProgram(m, 'r1 = slot ll\nr1 += 4\nr2 = 0\ncall bpf_kptr_xchg\nr0 = 0\nexit');
    runProgram(m, 'r1 = 0\nr2 = 0\ncall bpf_kptr_xchg\nr0 = 0\nexit');
    const oopses = ofKind(m, 'oops').map((r) => r.lines[0]);
    expect(oopses[0]).toMatch(/bpf_kptr_xchg: EINVAL: kptr slot 0x[0-9a-f]+ is not 8-byte aligned/);
    expect(oopses[1]).toMatch(/bpf_kptr_xchg: EFAULT/);
  });
});

describe('bpf_percpu_obj_drop_impl and RCU', () => {
  it('an object dropped while another CPU is in an RCU read section is not freed or reused until that CPU leaves it', () => {
    const m = kptrMachine({ cpus: 2, tickInterval: 15 });
    m.defineAsmSymbol('inside', { kind: 'value', value: BigInt(m.symbol('out2')) });
    const reader = m.assemble(`
      again:
        call bpf_rcu_read_lock
        r1 = slot ll
        r6 = *(u64 *)(r1 + 0)
        if r6 != 0 goto got
        call bpf_rcu_read_unlock
        goto again
      got:
        r1 = inside ll
        r2 = 1
        *(u64 *)(r1 + 0) = r2
        r7 = 0
      spin:
        r7 += 1
        if r7 < 400 goto spin
        r1 = r6
        r2 = 0
        call bpf_per_cpu_ptr
        r8 = *(u64 *)(r0 + 0)
        r1 = inside ll
        r2 = 0
        *(u64 *)(r1 + 0) = r2
        call bpf_rcu_read_unlock
        r0 = 0
        exit
    `);
    const writer = m.assemble(`
        r1 = 16
        r2 = 0
        call bpf_percpu_obj_new_impl
        r1 = out0 ll
        *(u64 *)(r1 + 0) = r0
        r1 = slot ll
        r2 = r0
        call bpf_kptr_xchg
      wait:
        r1 = inside ll
        r1 = *(u64 *)(r1 + 0)
        if r1 == 0 goto wait
        r1 = slot ll
        r2 = 0
        call bpf_kptr_xchg
        r1 = r0
        r2 = 0
        call bpf_percpu_obj_drop_impl
        r1 = 16
        r2 = 0
        call bpf_percpu_obj_new_impl
        r1 = out1 ll
        *(u64 *)(r1 + 0) = r0
        r1 = r0
        r2 = 0
        call bpf_percpu_obj_drop_impl
        r0 = 0
        exit
    `);
    // Every tick on every CPU: while the reader is inside, the dropped object must be live.
    const seen = { insideTicks: 0, freedWhileInside: 0 };
    m.onTimer('all', {
      fn: () => {
        const first = Number(global(m, 'out0'));
        if (global(m, 'out2') === 0n || first === 0) return;
        seen.insideTicks++;
        if (!m.percpu.isAllocationStart(first)) seen.freedWhileInside++;
      },
    });
    m.spawn({ comm: 'reader', cpu: 1, allowed: [1], program: reader });
    m.spawn({ comm: 'writer', cpu: 0, allowed: [0], program: writer });
    barrierAfter(m);
    expect(run(m, 5).finished).toBe(true);
    const first = Number(global(m, 'out0'));
    expect(seen.insideTicks).toBeGreaterThan(3);
    expect(seen.freedWhileInside).toBe(0);
    expect(Number(global(m, 'out1'))).not.toBe(first); // not reused while the reader held it
    expect(m.percpu.isAllocationStart(first)).toBe(false); // freed in the end
    expect(m.sanitizer!.liveAllocations()).toEqual([]);
    expect(m.reports).toEqual([]);
  });

  it('reports a second drop of the same object as a double free at once, and frees it once', () => {
    const m = kptrMachine();
    m.spawn({
      comm: 'dropper',
      cpu: 0,
      program: m.assemble(`
        r1 = 8
        r2 = 0
        call bpf_percpu_obj_new_impl
        r6 = r0
        r1 = r6
        r2 = 0
        call bpf_percpu_obj_drop_impl
        r1 = r6
        r2 = 0
        call bpf_percpu_obj_drop_impl
        r0 = 0
        exit
      `),
    });
    barrierAfter(m);
    run(m);
    const kasan = ofKind(m, 'kasan');
    expect(kasan).toHaveLength(1);
    expect(kasan[0].lines[0]).toBe('BUG: KASAN: double-free in dropper+0x48/0x60');
    expect(kasan[0].lines).toContain('Allocated by task 1 (dropper) on CPU 0:');
    expect(kasan[0].lines).toContain(' dropper+0x10/0x60');
    expect(kasan[0].lines).toContain(
      'Freed by task 1 (dropper) on CPU 0 (deferred until an RCU grace period):',
    );
    expect(kasan[0].lines).toContain(' dropper+0x30/0x60');
    expect(ofKind(m, 'oops')).toEqual([]); // the allocator never saw the second free
    expect(m.sanitizer!.liveAllocations()).toEqual([]);
  });

  it('reports a drop of a pointer into the object as invalid-free and drops nothing', () => {
    const m = kptrMachine();
    runProgram(
      m,
      `
        r1 = 16
        r2 = 0
        call bpf_percpu_obj_new_impl
        r1 = out0 ll
        *(u64 *)(r1 + 0) = r0
        r1 = r0
        r1 += 8
        r2 = 0
        call bpf_percpu_obj_drop_impl
        r0 = 0
        exit
      `,
    );
    expect(ofKind(m, 'kasan')[0].lines[0]).toMatch(
      /^BUG: KASAN: invalid-free in prog\+0x48\/0x60$/,
    );
    expect(m.rcu.pendingCallbacks).toBe(0);
    expect(m.sanitizer!.record(Number(global(m, 'out0')))?.state).toBe('live');
  });
});

describe('without the sanitizer', () => {
  it('dropping a pointer that starts no live object faults the task, and bad reads go unreported', () => {
    const m = kptrMachine({ sanitizer: false });
    const p = m.percpu.alloc(8, 8)!;
    m.percpu.free(p);
    runProgram(m, `r1 = ${m.areas.perCpuPtr(p, 0)}\nr0 = *(u64 *)(r1 + 0)\nr0 = 0\nexit`);
    expect(m.reports).toEqual([]);
    runProgram(m, `r1 = ${p}\nr2 = 0\ncall bpf_percpu_obj_drop_impl\nr0 = 0\nexit`);
    const [oops] = ofKind(m, 'oops');
    expect(oops.lines[0]).toBe(
      `BUG: bpf_percpu_obj_drop_impl: EINVAL: 0x${p.toString(16)} is not a live percpu object: nothing to drop at pc 2`,
    );
  });
});

describe('the sanitizer on guest accesses', () => {
  it('reports a read after the drop’s grace period as use-after-free at the reading instruction', () => {
    const m = kptrMachine();
    runProgram(
      m,
      `
        r1 = 24
        r2 = 0
        call bpf_percpu_obj_new_impl
        r6 = r0
        r1 = r0
        r2 = 0
        call bpf_percpu_obj_drop_impl
        r1 = 5
        call msleep
        r1 = r6
        r2 = 1
        call bpf_per_cpu_ptr
        r0 = *(u64 *)(r0 + 16)
        r0 = 0
        exit
      `,
    );
    const [r] = ofKind(m, 'kasan');
    expect(r.lines[0]).toBe('BUG: KASAN: use-after-free in prog+0x60/0x78');
    expect(r.lines[1]).toMatch(/^Read of size 8 at addr 0x[0-9a-f]+ by task prog\/1$/);
    expect(r.lines).toContain(
      "The buggy address belongs to the percpu allocation of size 24 (CPU 1's unit)",
    );
    expect(r.lines).toContain('The buggy address is located 16 bytes inside of');
  });

  it('reports a write past the object as out-of-bounds, and accesses inside it or to static variables not at all', () => {
    const m = kptrMachine();
    m.spawn({
      comm: 'oob',
      cpu: 0,
      program: m.assemble(`
        r1 = 12
        r2 = 0
        call bpf_percpu_obj_new_impl
        r6 = r0
        r1 = r0
        r2 = 0
        call bpf_per_cpu_ptr
        r1 = 7
        *(u32 *)(r0 + 8) = r1
        *(u32 *)(r0 + 12) = r1
        r1 = cpu_number ll
        r1 = this_cpu_ptr(r1)
        r1 = *(u32 *)(r1 + 0)
        *(u64 *)(r10 - 8) = r1
        r0 = 0
        exit
      `),
    });
    run(m);
    const kasan = ofKind(m, 'kasan');
    expect(kasan).toHaveLength(1);
    expect(kasan[0].lines[0]).toBe('BUG: KASAN: out-of-bounds in oob+0x48/0x88');
    expect(kasan[0].lines[1]).toMatch(/^Write of size 4 at addr /);
    expect(kasan[0].lines).toContain('The buggy address is located 0 bytes to the right of');
  });

  it('checks the this_cpu_* kfuncs: a write after the drop and a read past the object', () => {
    const m = kptrMachine();
    m.spawn({
      comm: 'ops',
      cpu: 0,
      allowed: [0],
      program: m.assemble(`
        r1 = 12
        r2 = 0
        call bpf_percpu_obj_new_impl
        r6 = r0
        r1 = r6
        r1 += 8
        call this_cpu_read_4
        r1 = r6
        r1 += 8
        call this_cpu_read_8
        r1 = cpu_number ll
        call this_cpu_read_4
        r1 = r6
        r2 = 0
        call bpf_percpu_obj_drop_impl
        r1 = 5
        call msleep
        r1 = r6
        r2 = 1
        call this_cpu_add
        r0 = 0
        exit
      `),
    });
    run(m);
    const kasan = ofKind(m, 'kasan');
    expect(kasan.map((r) => r.lines.slice(0, 2))).toEqual([
      [
        'BUG: KASAN: out-of-bounds in ops+0x48/0xb8',
        expect.stringMatching(/^Read of size 8 at addr 0x[0-9a-f]+ by task ops\/1$/),
      ],
      [
        'BUG: KASAN: use-after-free in ops+0xa0/0xb8',
        expect.stringMatching(/^Write of size 8 at addr 0x[0-9a-f]+ by task ops\/1$/),
      ],
    ]);
    expect(kasan[0].lines).toContain('The buggy address is located 0 bytes to the right of');
    expect(kasan[1].lines).toContain('The buggy address is located 0 bytes inside of');
  });

  it("with onError 'throw' the bad access kills the task with an oops", () => {
    const m = kptrMachine();
    m.sanitizer!.onError = 'throw';
    const p = m.percpu.alloc(8, 8)!;
    m.percpu.free(p);
    runProgram(m, `r1 = ${m.areas.perCpuPtr(p, 0)}\nr0 = *(u64 *)(r1 + 0)\nr0 = 0\nexit`);
    expect(ofKind(m, 'kasan')).toHaveLength(1);
    const [oops] = ofKind(m, 'oops');
    expect(oops.lines[0]).toMatch(
      /^BUG: KASAN: use-after-free read of size 8 at 0x[0-9a-f]+ at pc 1$/,
    );
    expect([...m.tasks.values()][0].exitCode).not.toBe(0n);
  });
});
