/**
 * A per-CPU allocator booted without a machine, with a sanitizer attached
 * whose host records its reports, and a FakeModel over the same areas for
 * the TS API's this_cpu_* operations.
 */

import { PercpuAllocator } from '../../percpu/allocator.ts';
import { definePercpuCoreSymbols, setupPerCpuAreas } from '../../percpu/per-cpu-areas.ts';
import {
  PercpuSanitizer,
  type SanitizerHost,
  type SanitizerOptions,
} from '../../percpu/sanitizer.ts';
import { AddressMap } from '../../segments/address-map.ts';
import { u64 } from '../../segments/ctype.ts';
import { linkAndLoad } from '../../segments/image-loader.ts';
import { Linker } from '../../segments/linker.ts';
import { PhysicalMemory } from '../../segments/memory.ts';
import { FakeModel } from './fake-preemption-model.ts';

export interface Recorded {
  readonly kind: 'kasan' | 'leak';
  readonly lines: readonly string[];
}

export function sanitizedBoot(opts: { cpus?: number; sanitizer?: SanitizerOptions } = {}) {
  const memory = new PhysicalMemory(16 << 20);
  const map = new AddressMap(memory.size);
  const linker = new Linker();
  definePercpuCoreSymbols(linker);
  linker.definePerCpu('current_task', u64, 0n, { subsection: 'first' });
  linker.definePerCpu('counter', u64, 7n);
  const image = linkAndLoad(linker, memory, map);
  const areas = setupPerCpuAreas(memory, map, image, opts.cpus ?? 4);
  const model = new FakeModel(areas);
  const warnings: string[] = [];
  const pcpu = new PercpuAllocator({
    memory,
    map,
    areas,
    chunkRegionSize: 4 << 20,
    warn: (line) => warnings.push(line),
    currentCpu: () => model.cpu,
  });
  const reports: Recorded[] = [];
  const host: SanitizerHost = {
    who: () => ({ cpu: model.cpu, pid: 7, comm: 'tester' }),
    guestSite: () => null,
    report: (kind, lines) => reports.push({ kind, lines }),
    jiffies: () => 4294667296n,
  };
  const san = PercpuSanitizer.attach(pcpu, host, opts.sanitizer);
  /** The address of CPU `cpu`'s copy of per-CPU pointer `p`. */
  const addr = (p: number, cpu: number) => areas.perCpuPtr(p, cpu);
  /** First lines of the reports made so far. */
  const bugs = () => reports.map((r) => r.lines[0]);
  return { memory, areas, model, pcpu, san, sanitizer: san, reports, warnings, addr, bugs };
}

export type SanitizedBoot = ReturnType<typeof sanitizedBoot>;
