/**
 * `npm run bench -- loader`: the object loader and compiled C code.
 *
 * - `load_ms_<fixture>`: BpfObject open + load of each C fixture (compiled
 *   once with clang, outside the timing) into a freshly booted 2-CPU
 *   machine, boot excluded; median of 10.
 * - `c_counter_minsn`: million instructions per second of the C per-CPU
 *   counter (scenarios/c/lost_update.bpf.c's count_racy: per iteration a
 *   bpf_map_lookup_elem of a PERCPU_ARRAY slot and a read-add-write),
 *   test-run on CPU 0, beside `asm_counter_minsn`, the same loop written
 *   in our assembly and run as a task on the same machine in the same run;
 *   median of 5 after a warm-up.
 *
 * Needs clang and libbpf-dev; says so in one line and exits 2 without.
 *
 * @example
 * // npm run bench -- loader --json
 */

import path from 'node:path';
import { BpfObject } from '../loader/bpf-object.ts';
import { compileBpfC } from '../loader/clang.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { Machine } from '../preempt/machine.ts';
import { type BenchReport, type BenchResult, median } from './report.ts';

const ROOT = path.join(import.meta.dirname, '..');
const FIXTURES: [string, string][] = [
  ['percpu_counter', 'test/loader/fixtures/percpu_counter.bpf.c'],
  ['lost_update', 'scenarios/c/lost_update.bpf.c'],
  ['percpu_kptr', 'scenarios/c/percpu_kptr.bpf.c'],
  ['variants', 'test/loader/fixtures/variants.bpf.c'],
];
const LOOPS = 200_000;

function loadMs(bytes: Uint8Array, name: string): number {
  const times: number[] = [];
  for (let run = 0; run < 11; run++) {
    const k = new Machine({ cpus: 2 }).boot();
    const t0 = performance.now();
    const obj = BpfObject.open(bytes, { name });
    for (const p of obj.programs) p.autoload = true;
    obj.load(k);
    if (run > 0) times.push(performance.now() - t0);
  }
  return median(times);
}

/** M insn/s of `runOnce` (which returns the instructions it ran). */
function minsn(runOnce: () => number): number {
  runOnce();
  const rates: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    const insns = runOnce();
    rates.push(insns / ((performance.now() - t0) * 1000));
  }
  return median(rates);
}

function asmCounter(k: Kernel): () => number {
  const program = k.assemble(`
      r6 = 0
      r1 = 0
      *(u32 *)(r10 - 4) = r1
    loop:
      r2 = r10
      r2 += -4
      r1 = hits ll
      call bpf_map_lookup_elem
      if r0 == 0 goto out
      r1 = *(u64 *)(r0 + 0)
      r1 += 1
      *(u64 *)(r0 + 0) = r1
      r6 += 1
      if r6 < ${LOOPS} goto loop
    out:
      r0 = 0
      exit
  `);
  return () => {
    const c = k.cpus[0].cpu;
    const before = c.totalExecuted;
    const task = k.spawn({ comm: 'asm_counter', cpu: 0, allowed: [0], program });
    while (!task.exited) k.runCpu(0, 100_000);
    return c.totalExecuted - before;
  };
}

export async function run(): Promise<BenchReport> {
  const results: BenchResult[] = [];
  for (const [name, file] of FIXTURES) {
    const bytes = compileBpfC(path.join(ROOT, file));
    results.push({ name: `load_ms_${name}`, value: loadMs(bytes, name), unit: 'ms' });
  }
  const obj = BpfObject.open(compileBpfC(path.join(ROOT, 'scenarios/c/lost_update.bpf.c')), {
    name: 'lost_update',
  });
  obj.rodata.loops = LOOPS;
  const k = new Machine({ cpus: 2 }).boot();
  obj.load(k);
  const prog = obj.program('count_racy');
  const asmRun = asmCounter(k);
  const asm = minsn(asmRun);
  const asmPerIter = asmRun() / LOOPS;
  const cPerIter = prog.testRun({ cpu: 0 }).duration / LOOPS;
  const c = minsn(() => prog.testRun({ cpu: 0 }).duration);
  results.push({
    name: 'asm_counter_minsn',
    value: asm,
    unit: 'M insn/s',
    note: `${asmPerIter.toFixed(1)} insns per iteration`,
  });
  results.push({
    name: 'c_counter_minsn',
    value: c,
    unit: 'M insn/s',
    ratio: c / asm,
    baseline: 'the same loop in our assembly',
    // clang's loop spends more (cheap) instructions per helper call than ours,
    // so compare iterations too: (c / cPerIter) / (asm / asmPerIter).
    note: `${cPerIter.toFixed(1)} insns per iteration; iterations/s ${((c / cPerIter / (asm / asmPerIter)) * 100).toFixed(0)}% of asm`,
  });
  return { suite: 'loader', results };
}
