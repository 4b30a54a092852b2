import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CpuGuard } from '../../percpu/cpu-guard.ts';
import { PerCpuPtr } from '../../percpu/per-cpu-ptr.ts';
import { PERCPU_FAMILIES, PERCPU_OPS, type PercpuOpName } from '../../percpu/this-cpu-ops.ts';
import { type IntType, s8, s16, s32, s64, u8, u16, u32, u64 } from '../../segments/ctype.ts';
import { FakeModel } from './fake-preemption-model.ts';

const TYPES: readonly IntType[] = [u8, s8, u16, s16, u32, s32, u64, s64];
const CPUS = 4;

const METHOD_FAMILY = {
  this_cpu_: 'thisCpu',
  __this_cpu_: '__thisCpu',
  raw_cpu_: 'rawCpu',
} as const;
const methodOp = (op: PercpuOpName) =>
  op
    .split('_')
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');

/** What C gives for `op` on a `bits`-wide value `v`: [new value, result]. */
function modelOp(
  op: PercpuOpName,
  bits: number,
  v: bigint,
  a: bigint,
  b: bigint,
): [bigint, bigint] {
  const w = (x: bigint) => BigInt.asUintN(bits, x);
  switch (op) {
    case 'read':
      return [v, v];
    case 'write':
      return [w(a), 0n];
    case 'add':
      return [w(v + a), 0n];
    case 'sub':
      return [w(v - a), 0n];
    case 'inc':
      return [w(v + 1n), 0n];
    case 'dec':
      return [w(v - 1n), 0n];
    case 'and':
      return [w(v & a), 0n];
    case 'or':
      return [w(v | a), 0n];
    case 'xchg':
      return [w(a), v];
    case 'cmpxchg':
      return [v === w(a) ? w(b) : v, v];
    case 'add_return':
      return [w(v + a), w(v + a)];
  }
}

const step = (bits: number) =>
  fc.record({
    cpu: fc.integer({ min: 0, max: CPUS - 1 }),
    family: fc.constantFrom(...PERCPU_FAMILIES),
    op: fc.constantFrom(...PERCPU_OPS),
    withGuard: fc.boolean(),
    a: fc.bigInt(-(1n << BigInt(bits)), 1n << BigInt(bits)),
    b: fc.bigInt(-(1n << BigInt(bits)), 1n << BigInt(bits)),
    // Small values make cmpxchg hit as well as miss.
    small: fc.boolean(),
  });

describe('this_cpu op families (property)', () => {
  it('random op sequences on random CPUs agree with a map of per-CPU values', () => {
    const scenario = fc
      .constantFrom(...TYPES)
      .chain((type) =>
        fc.tuple(fc.constant(type), fc.array(step(type.size * 8), { minLength: 1, maxLength: 60 })),
      );
    fc.assert(
      fc.property(scenario, ([type, steps]) => {
        const bits = type.size * 8;
        const m = FakeModel.boot({ cpus: CPUS, vars: { v: [type] } });
        const ptr = new PerCpuPtr<number | bigint>(m.areas, m.areas.symbol('v').address, type);
        const expected = new Map<number, bigint>(Array.from({ length: CPUS }, (_, c) => [c, 0n]));
        const call = ptr as unknown as Record<string, (...args: unknown[]) => unknown>;
        for (const s of steps) {
          const a = s.small ? s.a % 3n : s.a;
          const b = s.b;
          m.cpu = s.cpu;
          const [next, result] = modelOp(s.op, bits, expected.get(s.cpu)!, a, b);
          expected.set(s.cpu, next);
          const args = type.size === 8 ? [a, b] : [Number(a), Number(b)];
          const name = `${METHOD_FAMILY[s.family]}${methodOp(s.op)}`;
          let got: unknown;
          if (s.withGuard) {
            using g = CpuGuard.enter(m);
            got = call[name].call(ptr, g, ...args);
          } else {
            got = call[name].call(ptr, m, ...args);
          }
          const returnsValue = ['read', 'xchg', 'cmpxchg', 'add_return'].includes(s.op);
          if (returnsValue) {
            expect(typeof got).toBe(type.size === 8 ? 'bigint' : 'number');
            expect(BigInt.asUintN(bits, BigInt(got as number | bigint))).toBe(result);
          }
        }
        for (let cpu = 0; cpu < CPUS; cpu++) {
          const got = ptr.remote(cpu).read();
          expect(BigInt.asUintN(bits, BigInt(got))).toBe(expected.get(cpu));
        }
        expect(m.preemptCount).toEqual([0, 0, 0, 0]);
      }),
      { numRuns: 300 },
    );
  });
});
