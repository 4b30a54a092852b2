/**
 * The per-CPU areas after boot: the first chunk in physical memory, the
 * `__per_cpu_offset[]` array, and the pointer arithmetic every per-CPU
 * access is built on:
 *
 *     per_cpu_ptr(p, cpu) = p + __per_cpu_offset[cpu]
 *     this_cpu_ptr(p)     = p + gsBase        (gsBase = __per_cpu_offset[this cpu])
 *
 * `definePercpuCoreSymbols` adds what boot needs to an image before it is
 * linked; `setupPerCpuAreas` then builds the areas from the linked image
 * (see first-chunk.ts for the layout). The dynamic part of the first chunk is
 * described by `firstChunk` and `dynamicStart` for the allocator to take over.
 *
 * @example
 * definePercpuCoreSymbols(linker);
 * const image = linker.link(dataBase);
 * const areas = setupPerCpuAreas(memory, addressMap, image, 4);
 * areas.perCpuPtr(image.symbols.get('cpu_number')!.address, 2); // CPU 2's copy
 */

import type { AddressMap } from '../segments/address-map.ts';
import { array, s32, u64 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { LinkedImage, Linker } from '../segments/linker.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import type { ImageSymbol } from '../segments/symbol-table.ts';
import { type FirstChunkLayout, firstChunkLayout, NR_CPUS } from './first-chunk.ts';

/** Defines `__per_cpu_offset[NR_CPUS]`, and the per-CPU `this_cpu_off` and `cpu_number`. */
export function definePercpuCoreSymbols(linker: Linker): void {
  linker.defineData('__per_cpu_offset', array(u64, NR_CPUS), undefined, 8);
  linker.definePerCpu('this_cpu_off', u64, 0n, { subsection: 'read_mostly' });
  linker.definePerCpu('cpu_number', s32, 0, { subsection: 'read_mostly' });
}

export class PerCpuAreas {
  /** `__per_cpu_offset[cpu]`, as numbers (addresses fit in 32 bits). */
  readonly offsets: readonly number[];

  constructor(
    readonly memory: PhysicalMemory,
    readonly image: LinkedImage,
    readonly nrCpus: number,
    readonly firstChunk: FirstChunkLayout,
    /** Address of the first chunk (CPU 0's unit). */
    readonly base: number,
  ) {
    this.offsets = Array.from({ length: nrCpus }, (_, cpu) => firstChunk.unitAddress(base, cpu));
  }

  /** Size of the static part: `__per_cpu_end - __per_cpu_start`. */
  get staticSize(): number {
    return this.image.percpuTemplate.length;
  }

  /** Offset in each unit where the dynamic area of the first chunk starts. */
  get dynamicStart(): number {
    return this.firstChunk.staticSize + this.firstChunk.reservedSize;
  }

  /** `per_cpu_ptr(p, cpu)`: CPU `cpu`'s copy of the per-CPU object at `p`. */
  perCpuPtr(p: number, cpu: number): number {
    this.checkCpu(cpu);
    return p + this.offsets[cpu];
  }

  /** The inverse of perCpuPtr for addresses in the first chunk: which CPU's unit, and `p`. */
  addrToPcpu(addr: number): { cpu: number; ptr: number } | undefined {
    const rel = addr - this.base;
    if (rel < 0 || rel >= this.nrCpus * this.firstChunk.unitSize) return undefined;
    const cpu = Math.floor(rel / this.firstChunk.unitSize);
    return { cpu, ptr: addr - this.offsets[cpu] };
  }

  /** A per-CPU symbol of the image, or ENOENT naming it. */
  symbol(name: string): ImageSymbol {
    const s = this.image.symbols.get(name);
    if (s === undefined || s.section !== '.data..percpu') {
      throw new ErrnoError('ENOENT', `no per-CPU variable '${name}'`);
    }
    return s;
  }

  checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.nrCpus) {
      throw new ErrnoError('EINVAL', `cpu ${cpu} is not a possible CPU (0..${this.nrCpus - 1})`);
    }
  }
}

/**
 * setup_per_cpu_areas: reserves the first chunk, copies the template into
 * every unit, fills `__per_cpu_offset[]` and each unit's `this_cpu_off` and
 * `cpu_number`. The image must have been linked with definePercpuCoreSymbols.
 */
export function setupPerCpuAreas(
  memory: PhysicalMemory,
  map: AddressMap,
  image: LinkedImage,
  nrCpus: number,
): PerCpuAreas {
  const layout = firstChunkLayout(image.percpuTemplate.length, nrCpus);
  const chunk = map.reserve('percpu first chunk', layout.unitSize * nrCpus);
  const areas = new PerCpuAreas(memory, image, nrCpus, layout, chunk.start);
  const offsetArray = image.symbols.get('__per_cpu_offset');
  if (offsetArray === undefined) {
    throw new ErrnoError(
      'ENOENT',
      'image has no __per_cpu_offset: call definePercpuCoreSymbols before linking',
    );
  }
  const thisCpuOff = areas.symbol('this_cpu_off').address;
  const cpuNumber = areas.symbol('cpu_number').address;
  for (let cpu = 0; cpu < nrCpus; cpu++) {
    const unit = areas.offsets[cpu];
    memory.writeBytes(unit, image.percpuTemplate);
    memory.write64(offsetArray.address + 8 * cpu, BigInt(unit));
    memory.write64(unit + thisCpuOff, BigInt(unit));
    memory.write32(unit + cpuNumber, cpu);
  }
  return areas;
}
