/**
 * Boot-time per-CPU areas, after the kernel's `setup_per_cpu_areas` and
 * `pcpu_embed_first_chunk` (mm/percpu.c):
 *
 *  - The first chunk has one unit per possible CPU, each laid out as
 *    `<static | reserved | dynamic>`: the `.data..percpu` template, the
 *    reserved area (PERCPU_MODULE_RESERVE, for module per-CPU variables), and
 *    the dynamic area that `alloc_percpu` serves first.
 *  - Sizes follow `pcpu_build_alloc_info`: the sum is page-aligned with at
 *    least PERCPU_DYNAMIC_EARLY_SIZE of dynamic space, and a unit is at least
 *    PCPU_MIN_UNIT_SIZE. The atom is one page here (x86-64 uses 2 MiB pages
 *    for NUMA locality, which an emulator without TLBs has no use for), so
 *    units are consecutive and the unit size is the aligned sum.
 *  - Boot copies the template into every unit and sets
 *    `__per_cpu_offset[cpu] = unit address - __per_cpu_start`. The template is
 *    linked at 0, so the offset is the unit's address and a static variable's
 *    per-CPU pointer is its offset in the section.
 *  - Each unit's `this_cpu_off` holds its own offset and `cpu_number` its CPU,
 *    the per-CPU variables x86 reads through %gs.
 *
 * @example
 * const fc = firstChunkLayout(4096, 4);
 * fc.unitSize;                 // 40960: 4 KiB static + 8 KiB reserved + 28 KiB dynamic
 * fc.unitAddress(base, 2);     // base + 2 * fc.unitSize
 */

import { alignUp } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { PAGE_SIZE } from '../segments/memory.ts';

/** include/linux/percpu.h, 64-bit values. */
export const PCPU_MIN_UNIT_SIZE = 32 << 10;
export const PERCPU_MODULE_RESERVE = 8 << 10;
export const PERCPU_DYNAMIC_RESERVE = 28 << 10;
export const PERCPU_DYNAMIC_EARLY_SIZE = 20 << 10;
/** The emulator's NR_CPUS. */
export const NR_CPUS = 64;

export interface FirstChunkLayout {
  readonly nrUnits: number;
  readonly staticSize: number;
  readonly reservedSize: number;
  readonly dynSize: number;
  readonly unitSize: number;
  /** Start of `cpu`'s unit when the chunk begins at `base`. */
  unitAddress(base: number, cpu: number): number;
}

/** The first chunk's sizes for a static section of `staticSize` bytes and `nrCpus` units. */
export function firstChunkLayout(
  staticSize: number,
  nrCpus: number,
  reservedSize = PERCPU_MODULE_RESERVE,
  dynSize = PERCPU_DYNAMIC_RESERVE,
): FirstChunkLayout {
  if (!Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > NR_CPUS) {
    throw new ErrnoError('EINVAL', `nr_cpus ${nrCpus} is not between 1 and ${NR_CPUS}`);
  }
  const sizeSum = alignUp(
    staticSize + reservedSize + Math.max(dynSize, PERCPU_DYNAMIC_EARLY_SIZE),
    PAGE_SIZE,
  );
  const unitSize = Math.max(sizeSum, PCPU_MIN_UNIT_SIZE);
  return Object.freeze({
    nrUnits: nrCpus,
    staticSize,
    reservedSize,
    // The kernel frees the unit's tail beyond the sum; the dynamic area ends at the sum.
    dynSize: sizeSum - staticSize - reservedSize,
    unitSize,
    unitAddress: (base: number, cpu: number) => base + cpu * unitSize,
  });
}
