import { describe, expect, it } from 'vitest';
import {
  firstChunkLayout,
  PCPU_MIN_UNIT_SIZE,
  PERCPU_DYNAMIC_RESERVE,
  PERCPU_MODULE_RESERVE,
} from '../../percpu/first-chunk.ts';
import { definePercpuCoreSymbols, setupPerCpuAreas } from '../../percpu/per-cpu-areas.ts';
import { AddressMap } from '../../segments/address-map.ts';
import { u64 } from '../../segments/ctype.ts';
import { linkAndLoad } from '../../segments/image-loader.ts';
import { Linker } from '../../segments/linker.ts';
import { PAGE_SIZE, PhysicalMemory } from '../../segments/memory.ts';

describe('first chunk sizes (pcpu_build_alloc_info)', () => {
  it('is <static | reserved | dynamic>, page-aligned, at least PCPU_MIN_UNIT_SIZE', () => {
    const fc = firstChunkLayout(4096 + 100, 4);
    const sum =
      Math.ceil((4196 + PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE) / PAGE_SIZE) * PAGE_SIZE;
    expect(fc.unitSize).toBe(Math.max(sum, PCPU_MIN_UNIT_SIZE));
    expect(fc.reservedSize).toBe(PERCPU_MODULE_RESERVE);
    expect(fc.staticSize + fc.reservedSize + fc.dynSize).toBe(sum);
    expect(fc.unitSize % PAGE_SIZE).toBe(0);
    expect(fc.unitAddress(0x10000, 3)).toBe(0x10000 + 3 * fc.unitSize);
  });

  it('gives a unit of at least 32 KiB even for a tiny template', () => {
    expect(firstChunkLayout(8, 1, 0, 0).unitSize).toBe(PCPU_MIN_UNIT_SIZE);
  });

  it('refuses CPU counts outside 1..64', () => {
    expect(() => firstChunkLayout(0, 0)).toThrow('EINVAL: nr_cpus 0 is not between 1 and 64');
    expect(() => firstChunkLayout(0, 65)).toThrow('nr_cpus 65');
  });
});

describe('setup_per_cpu_areas', () => {
  function boot(cpus: number) {
    const memory = new PhysicalMemory(4 << 20);
    const map = new AddressMap(memory.size);
    const linker = new Linker();
    definePercpuCoreSymbols(linker);
    linker.definePerCpu('counter', u64, 41n);
    const image = linkAndLoad(linker, memory, map);
    return { memory, image, areas: setupPerCpuAreas(memory, map, image, cpus) };
  }

  it('copies the template into every unit and sets __per_cpu_offset[]', () => {
    const { memory, image, areas } = boot(4);
    const counter = areas.symbol('counter').address;
    const offsets = image.symbols.get('__per_cpu_offset')!.address;
    for (let cpu = 0; cpu < 4; cpu++) {
      const off = Number(memory.read64(offsets + 8 * cpu));
      expect(off).toBe(areas.base + cpu * areas.firstChunk.unitSize);
      expect(areas.perCpuPtr(counter, cpu)).toBe(counter + off);
      expect(memory.read64(counter + off)).toBe(41n);
    }
  });

  it("sets each unit's this_cpu_off and cpu_number", () => {
    const { memory, areas } = boot(3);
    const thisCpuOff = areas.symbol('this_cpu_off').address;
    const cpuNumber = areas.symbol('cpu_number').address;
    for (let cpu = 0; cpu < 3; cpu++) {
      expect(Number(memory.read64(areas.perCpuPtr(thisCpuOff, cpu)))).toBe(areas.offsets[cpu]);
      expect(memory.read32(areas.perCpuPtr(cpuNumber, cpu))).toBe(cpu);
    }
  });

  it('maps addresses back to their CPU and refuses impossible CPUs', () => {
    const { areas } = boot(2);
    const p = areas.symbol('counter').address;
    expect(areas.addrToPcpu(areas.perCpuPtr(p, 1))).toEqual({ cpu: 1, ptr: p });
    expect(() => areas.perCpuPtr(p, 2)).toThrow('EINVAL: cpu 2 is not a possible CPU (0..1)');
    expect(() => areas.symbol('nope')).toThrow("ENOENT: no per-CPU variable 'nope'");
  });
});
