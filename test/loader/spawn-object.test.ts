/**
 * `k.spawn({ object, program, cpu })`: a task running a program of a
 * compiled object, named by a BpfObject (loaded on first spawn) or by the
 * path of its C source (opened once per kernel, so tasks naming the same
 * file share its maps), with clear errors for a program it lacks and an
 * object loaded into another machine.
 */

import { describe, expect, it } from 'vitest';
import { BpfObject } from '../../loader/bpf-object.ts';
import { bpfMapByName } from '../../maps/syscall.ts';
import { typedPercpuMap } from '../../maps/typed-map.ts';
import { runDeterministic } from '../../preempt/engine.ts';
import { Machine } from '../../preempt/machine.ts';
import { roundRobin } from '../../preempt/strategies/round-robin.ts';
import { u32, u64 } from '../../segments/ctype.ts';
import { availableBuilds, compileFixture, fixtureSource } from './compile.ts';

const { builds, skipped } = availableBuilds();
for (const why of skipped) console.log(`spawn of objects skipped for one compiler: ${why}`);

const hitsSum = (k: ReturnType<Machine['boot']>) =>
  (typedPercpuMap<number, bigint>(bpfMapByName(k, 'hits'), u32, u64).get(0) ?? []).reduce(
    (a, b) => a + b,
    0n,
  );

describe.skipIf(builds.length === 0)('k.spawn({ object, program })', () => {
  it('a BpfObject is loaded by the first spawn; both tasks count into its one map', () => {
    const k = new Machine({ cpus: 2 }).boot();
    const obj = BpfObject.openFile(compileFixture('lost_update', builds[0]));
    obj.rodata.loops = 7;
    const t0 = k.spawn({ object: obj, program: 'count_fixed', cpu: 0 });
    const t1 = k.spawn({ object: obj, program: 'count_fixed', cpu: 1, comm: 'second' });
    expect(obj.machine).toBe(k);
    expect([t0.comm, t1.comm]).toEqual(['count_fixed', 'second']);
    expect(runDeterministic(k, roundRobin({ quantum: 20 })).finished).toBe(true);
    expect([t0.exitCode, t1.exitCode]).toEqual([0n, 0n]);
    expect(hitsSum(k)).toBe(14n);
  });

  it('a path to a .bpf.c is compiled and opened once per kernel: tasks naming it share its maps', () => {
    const k = new Machine({ cpus: 2 }).boot();
    const source = fixtureSource('lost_update');
    for (const cpu of [0, 1, 1]) k.spawn({ object: source, program: 'count_fixed', cpu });
    expect(k.maps.entries().filter(([, m]) => m.describe.includes("'hits'"))).toHaveLength(1);
    expect(runDeterministic(k, roundRobin({ quantum: 20 })).finished).toBe(true);
    expect(hitsSum(k)).toBe(150n); // loops = 50, the source's default
    const other = new Machine({ cpus: 1 }).boot();
    other.spawn({ object: source, program: 'count_fixed' });
    expect(runDeterministic(other, roundRobin({ quantum: 20 })).finished).toBe(true);
    expect(hitsSum(other)).toBe(50n);
  });

  it('errors: a program the object lacks, an object loaded elsewhere, no program name', () => {
    const k = new Machine({ cpus: 1 }).boot();
    const obj = BpfObject.openFile(compileFixture('lost_update', builds[0]));
    expect(() => k.spawn({ object: obj, program: 'nope' })).toThrow(
      "ENOENT: no program 'nope' in 'lost_update' (it has count_racy, count_fixed)",
    );
    const other = new Machine({ cpus: 1 }).boot();
    expect(() => other.spawn({ object: obj, program: 'count_racy' })).toThrow(
      "EBUSY: object 'lost_update' is loaded into another machine: open it again for this one",
    );
    expect(() => k.spawn({ object: obj, program: '' })).toThrow(
      'EINVAL: spawn of an object needs the name of one of its programs',
    );
  });
});
