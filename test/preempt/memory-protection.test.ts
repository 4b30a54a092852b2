/**
 * Memory protection of the booted kernel (kernel-protection.ts): random
 * guest loads, stores and atomics of every width at random addresses, most
 * of them into the kernel's regions, never crash the emulator and never
 * change a byte outside what the guest may write; each forbidden one is a
 * page fault naming the structure. The oracle below says what is the
 * kernel's from the address map and the symbols, independently of the
 * protection table.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../cpu/asm/pseudo-c.ts';
import { CpuContext } from '../../cpu/context.ts';
import { StopReason } from '../../cpu/cpu.ts';
import { loadProgram } from '../../cpu/program.ts';
import { runDeterministic } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { random } from '../../preempt/strategies/random.ts';
import { taskStruct } from '../../preempt/task.ts';
import { PAGE_SIZE } from '../../segments/memory.ts';
import { pageFaultIn } from './page-fault-fixtures.ts';

type Op = 'load' | 'store' | 'atomic';

/** What the kernel keeps at `addr`, and whether a guest may read it: null for guest memory. */
function kernelByte(k: Kernel, addr: number): { name: string; readable: boolean } | null {
  const region = k.map.find(addr);
  if (region === undefined) return null;
  const n = region.name;
  if (n === 'task structs') {
    const slot =
      region.start + Math.floor((addr - region.start) / taskStruct.size) * taskStruct.size;
    const task = [...k.tasks.values()].find((t) => t.addr === slot);
    const idle = k.cpus.find((c) => c.idle.addr === slot)?.idle;
    const name =
      task !== undefined
        ? `task_struct of ${task.comm}/${task.pid}`
        : idle !== undefined
          ? `task_struct of ${idle.comm}`
          : 'a free task_struct';
    return { name, readable: true };
  }
  if (n === 'rcu_state') return { name: 'rcu_state', readable: true };
  const ring = /^trace ring cpu(\d+)$/.exec(n);
  if (ring !== null) return { name: `trace ring of CPU ${ring[1]}`, readable: false };
  if (n === '.text') return { name: 'kernel text (.text)', readable: false };
  if (n === 'percpu allocator') {
    return { name: 'percpu allocator metadata (pcpu_state)', readable: false };
  }
  if (n === 'percpu chunks') {
    const a = k.percpu;
    const inSlot = (addr - a.regionStart) % a.chunkBytes;
    const slotEnd = addr - inSlot + a.chunkBytes;
    if (inSlot >= a.nrUnits * a.unitSize && slotEnd <= a.regionEnd) {
      return { name: 'percpu chunk metadata', readable: false };
    }
    return null;
  }
  if (n === 'kmalloc heap' && addr < k.kheap.pagesStart) {
    return { name: 'kmalloc heap metadata (kmem_caches, mem_map, obj_map)', readable: false };
  }
  if (n === 'vmalloc area' && addr < k.vmalloc.pagesStart) {
    return { name: 'vmalloc metadata', readable: false };
  }
  if (n === 'percpu first chunk') {
    const unit = Math.floor((addr - region.start) / k.percpu.unitSize);
    const off = addr - k.areas.offsets[unit];
    for (const [sym, name] of [
      ['__preempt_count', '__preempt_count'],
      ['current_task', 'current_task'],
      ['__irq_flags', '__irq_flags'],
      ['this_cpu_off', 'this_cpu_off'],
      ['cpu_number', 'cpu_number'],
      ['__softirq_pending', '__softirq_pending'],
      ['runqueues', 'run queue'],
    ]) {
      const s = k.areas.symbol(sym);
      if (off >= s.address && off < s.address + s.size) {
        return { name: `${name} of CPU ${unit}`, readable: true };
      }
    }
    return null;
  }
  if (n === '.data/.bss') {
    for (const sym of ['__per_cpu_offset', 'jiffies']) {
      const s = k.image.symbols.get(sym)!;
      if (addr >= s.address && addr < s.address + s.size) return { name: sym, readable: true };
    }
  }
  return null;
}

/** The first byte of the access the oracle forbids, and its structure's name. */
function forbidden(k: Kernel, addr: number, width: number, op: Op): string | null {
  for (let b = addr; b < addr + width; b++) {
    const what = kernelByte(k, b);
    if (what !== null && (op !== 'load' || !what.readable)) return what.name;
  }
  return null;
}

/** A small machine, so that comparing its memory after each access is cheap. */
const SMALL = {
  cpus: 2,
  memorySize: 16 << 20,
  percpuChunkRegion: 1 << 20,
  kmallocHeap: 1 << 20,
  vmallocSize: 1 << 20,
  traceBytesPerCpu: 64 << 10,
  textSize: 64 << 10,
  maxTasks: 8,
  sanitizer: false,
};

const SIZE = { 1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64' } as const;

function program(addr: number, width: 1 | 2 | 4 | 8, op: Op, value: bigint): string {
  const t = SIZE[width];
  const body =
    op === 'load'
      ? `r0 = *(${t} *)(r1 + 0)`
      : op === 'store'
        ? `*(${t} *)(r1 + 0) = r2`
        : `lock *(${width === 8 ? 'u64' : 'u32'} *)(r1 + 0) += r2`;
  return `r1 = 0x${addr.toString(16)} ll\nr2 = 0x${value.toString(16)} ll\n${body}\nr0 = 0\nexit`;
}

/** Addresses: a random kernel structure's byte (most), a guest region's, or anywhere. */
function arbitraryAddress(k: Kernel): fc.Arbitrary<number> {
  const ranges = k.memory.protection.list();
  const regions = k.map.regions();
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: ranges.length - 1 }), fc.integer({ min: -8, max: 64 }))
        .map(([r, d]) => {
          const range = ranges[r];
          return d < 0 ? range.start + d : Math.min(range.start + d, range.end - 1);
        }),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: regions.length - 1 }), fc.nat())
        .map(([r, d]) => regions[r].start + (d % regions[r].size)),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: k.memory.size + 16 }) },
  );
}

const arbitraryAccess = (k: Kernel) =>
  fc.record({
    addr: arbitraryAddress(k),
    width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
    op: fc.constantFrom<Op>('load', 'store', 'store', 'atomic'),
    value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  });

describe('memory protection of the booted kernel', () => {
  // Small memory, no sanitizer (its shadow would change with per-CPU accesses).
  const k = new Machine(SMALL).boot();
  k.spawn({ comm: 'worker', cpu: 1, program: k.assemble('r0 = 0\nexit') });

  it('keeps the fast path on ordinary pages: the window holds the kmalloc pages and the stacks, no protected byte', () => {
    const p = k.memory.protection;
    const stacks = k.map.regions().find((r) => r.name === 'task stacks')!;
    const irq = k.map.regions().find((r) => r.name === 'irq stacks')!;
    expect(p.fastLow).toBe(k.kheap.pagesStart);
    expect(p.fastEnd).toBe(irq.start + irq.size);
    expect(stacks.start).toBeGreaterThanOrEqual(p.fastLow);
    for (const r of p.list()) expect(r.end <= p.fastLow || r.start >= p.fastEnd).toBe(true);
    for (let a = p.fastLow; a < p.fastEnd; a += PAGE_SIZE) expect(kernelByte(k, a)).toBeNull();
  });

  it('random guest accesses: only the allowed bytes change, every forbidden one is a page fault naming the structure', () => {
    const cpu = k.cpus[0].cpu;
    const stackTop = k.tasks.values().next().value!.ctx!.stackTop;
    const snapshot = k.memory.u8.slice();
    fc.assert(
      fc.property(arbitraryAccess(k), ({ addr, width, op, value }) => {
        const source = program(addr, width, op, value);
        const ctx = new CpuContext(loadProgram(assemble(source).insns), stackTop);
        const reason = cpu.run(ctx, 100);
        const name = forbidden(k, addr, width, op);
        const outside = addr < k.memory.lowLimit || addr + width > k.memory.size;
        const misaligned = op === 'atomic' && addr % (width === 8 ? 8 : 4) !== 0;
        if (outside) {
          expect(reason).toBe(StopReason.Fault);
          expect(cpu.fault?.access?.region).toBeUndefined();
        } else if (name !== null) {
          expect(reason).toBe(StopReason.Fault);
          expect(cpu.fault?.kind).toBe('page-fault');
          expect(cpu.fault?.access?.region).toBe(name);
        } else if (misaligned) {
          expect(reason).toBe(StopReason.Fault);
          expect(cpu.fault?.kind).toBe('misaligned-atomic');
        } else {
          expect(reason).toBe(StopReason.Exit);
          if (op !== 'load') {
            // What the guest may write: exactly the bytes it stored to, put back for the next case.
            const n = op === 'atomic' ? (width === 8 ? 8 : 4) : width;
            k.memory.u8.set(snapshot.subarray(addr, addr + n), addr);
          }
        }
        expect(Buffer.compare(k.memory.u8, snapshot)).toBe(0);
      }),
      { numRuns: 200, seed: 1111 },
    );
  });

  it('a random forbidden store from a task is one oops naming the structure; the bystander on the other CPU finishes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
        fc.integer({ min: 1, max: 1_000_000 }),
        (pick, width, seed) => {
          const m = new Machine(SMALL).boot();
          const bystander = m.spawn({
            comm: 'bystander',
            cpu: 0,
            allowed: [0],
            program: m.assemble('r6 = 0\nl:\nr6 += 1\nif r6 < 2000 goto l\nr0 = 7\nexit'),
          });
          const ranges = m.memory.protection.list();
          const range = ranges[pick % ranges.length];
          const addr = range.start + (pick % Math.max(1, range.end - range.start - width + 1));
          m.spawn({
            comm: 'attacker',
            cpu: 1,
            allowed: [1],
            program: m.assemble(program(addr, width, 'store', 0x5a5a5a5a5a5a5a5an)),
          });
          const name = forbidden(m, addr, width, 'store');
          const r = runDeterministic(m, random({ seed }), { maxSteps: 200_000 });
          expect(r.crash).toBeUndefined();
          expect(r.end).toBe('finished');
          expect(bystander.exitCode).toBe(7n);
          const oopses = m.reports.filter((x) => x.kind === 'oops');
          expect(name).not.toBeNull();
          expect(oopses).toHaveLength(1);
          expect(oopses[0].lines[0]).toMatch(pageFaultIn(name!));
        },
      ),
      { numRuns: 30, seed: 2222 },
    );
  });
});
