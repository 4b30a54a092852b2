/**
 * Loading and running our C fixtures: global data as libbpf makes it,
 * `const volatile` globals set before load, per-CPU counters exact after
 * runs on every CPU, the percpu kptr flow of libbpf's documentation (the
 * kernel selftest percpu_alloc_array.c's test_array_map_1..4 and _10)
 * on 2, 4 and 8 CPUs, and the same results from every compiler build.
 */

import { describe, expect, it } from 'vitest';
import { BpfObject } from '../../loader/bpf-object.ts';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG } from '../../maps/bpf-uapi.ts';
import { typedPercpuMap } from '../../maps/typed-map.ts';
import { runDeterministic } from '../../preempt/engine.ts';
import { Machine } from '../../preempt/machine.ts';
import { roundRobin } from '../../preempt/strategies/round-robin.ts';
import { u32, u64 } from '../../segments/ctype.ts';
import { availableBuilds, compileFixture } from './compile.ts';

const { builds, skipped } = availableBuilds();
for (const why of skipped) console.log(`loader tests skipped for one compiler: ${why}`);

/** Runs `count` (cpu + 1) times on each CPU with `step`; returns what it left. */
function counterRun(build: (typeof builds)[number], cpus: number, step?: bigint) {
  const obj = BpfObject.openFile(compileFixture('percpu_counter', build));
  if (step !== undefined) obj.rodata.step = step;
  obj.rodata.nr_cpus = cpus;
  const k = new Machine({ cpus }).boot();
  obj.load(k);
  const retvals: number[] = [];
  for (let cpu = 0; cpu < cpus; cpu++)
    for (let n = 0; n <= cpu; n++) retvals.push(obj.program('count').testRun({ cpu }).retval);
  const counters = typedPercpuMap<number, bigint>(obj.map('counters').loaded(), u32, u64);
  return {
    obj,
    retvals,
    perCpu: counters.get(0),
    runs: obj.bss.runs,
    /** base + this CPU's copies of every slot, on the last CPU. */
    total: obj.program('total').testRun({ cpu: cpus - 1 }).retval,
  };
}

describe.skipIf(builds.length === 0)('BpfObject on compiled fixtures', () => {
  const build = builds[0];

  it('global data: one ARRAY map per section, named and flagged as libbpf does, .rodata frozen', () => {
    const obj = BpfObject.openFile(compileFixture('percpu_counter', build));
    expect(obj.name).toBe('percpu_counter');
    expect(obj.maps.map((m) => [m.name, m.spec.def.mapFlags])).toEqual([
      ['counters', 0],
      ['percpu_c.rodata', BPF_F_RDONLY_PROG | BPF_F_MMAPABLE],
      ['percpu_c.data', BPF_F_MMAPABLE],
      ['percpu_c.bss', BPF_F_MMAPABLE],
    ]);
    expect(Object.keys(obj.rodata)).toEqual(['step', 'nr_cpus']);
    expect(obj.rodata.step).toBe(1n);
    expect(obj.data.base).toBe(100n);
    const k = new Machine({ cpus: 2 }).boot();
    obj.load(k);
    const rodata = obj.map('percpu_c.rodata').loaded();
    expect(rodata.map.frozen).toBe(true);
    expect(() => rodata.updateElem(new Uint8Array(4), new Uint8Array(12))).toThrow(/EPERM/);
    expect(() => {
      obj.rodata.step = 2n;
    }).toThrow(/EPERM: .rodata is frozen/);
    obj.data.base = 7n;
    expect(obj.program('total').testRun().retval).toBe(7);
  });

  it('a per-CPU counter holds exact per-CPU values after N runs on each CPU', () => {
    const r = counterRun(build, 4);
    expect(r.retvals.every((v) => v === 0)).toBe(true);
    expect(r.perCpu).toEqual([1n, 2n, 3n, 4n]);
    expect(r.runs).toBe(10n);
    expect(r.total).toBe(100 + 4);
    expect(r.obj.bss.last_cpu).toBe(3);
  });

  it('setting the const volatile step to 5 before load changes the result', () => {
    const r = counterRun(build, 4, 5n);
    expect(r.perCpu).toEqual([5n, 10n, 15n, 20n]);
    expect(r.total).toBe(100 + 20);
  });

  it('a global is typed by BTF: out-of-range and wrongly typed values are refused', () => {
    const obj = BpfObject.openFile(compileFixture('percpu_counter', build));
    expect(() => {
      obj.rodata.nr_cpus = 2 ** 32;
    }).toThrow(/ERANGE/);
    expect(() => {
      obj.rodata.step = 'x' as never;
    }).toThrow(/EINVAL/);
  });

  for (const cpus of [2, 4, 8]) {
    it(`percpu kptr flow (test_array_map_1..4, 10) on ${cpus} CPUs: cpu0 d == 2, sum of c == 1, no KASAN, no leak`, () => {
      const obj = BpfObject.openFile(compileFixture('percpu_kptr', build));
      for (const name of [
        'test_array_map_1',
        'test_array_map_2',
        'test_array_map_3',
        'test_array_map_4',
        'test_array_map_10',
      ])
        obj.program(name).autoload = true;
      obj.rodata.nr_cpus = cpus;
      const k = new Machine({ cpus }).boot();
      const liveAtBoot = k.sanitizer!.liveAllocations().length;
      obj.load(k);
      expect(obj.program('replace_no_rcu').autoload).toBe(false);
      const run = (name: string, cpu: number) =>
        expect(obj.program(name).testRun({ cpu }).retval).toBe(0);
      run('test_array_map_1', 0);
      run('test_array_map_2', cpus - 1);
      run('test_array_map_3', 1);
      expect(obj.bss.cpu0_field_d).toBe(2);
      expect(obj.bss.sum_field_c).toBe(1);
      run('test_array_map_10', 1);
      run('test_array_map_4', 0);
      run('test_array_map_10', 0);
      run('test_array_map_4', cpus - 1);
      obj.close();
      k.spawn({
        comm: 'barrier',
        *body() {
          yield* k.rcuBarrier();
          return 0;
        },
      });
      expect(runDeterministic(k, roundRobin()).finished).toBe(true);
      expect(k.reports.filter((r) => r.kind === 'kasan' || r.kind === 'leak')).toEqual([]);
      expect(k.sanitizer!.liveAllocations().length).toBe(liveAtBoot);
    });
  }

  it('clang 14 (v1, v3) and clang 19 -mcpu=v4 builds give identical results', () => {
    const results = builds.map((b) => {
      const r = counterRun(b, 3, 3n);
      return { perCpu: r.perCpu, runs: r.runs, total: r.total, retvals: r.retvals };
    });
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
  });
});
