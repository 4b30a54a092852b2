/**
 * `npm start`: one eBPF program, four CPUs, one per-CPU variable. Each CPU
 * runs the same instructions; `this_cpu_ptr` adds that CPU's GS-style base,
 * so every CPU increments its own copy and no atomic is needed.
 *
 * @example
 * // npm start
 */

import { asmWith } from '../../cpu/asm/template.ts';
import { CpuContext, STACK_BYTES } from '../../cpu/context.ts';
import { Cpu, StopReason } from '../../cpu/cpu.ts';
import { disassemble } from '../../cpu/disasm.ts';
import { HelperTable } from '../../cpu/helpers.ts';
import { loadProgram } from '../../cpu/program.ts';
import { definePercpuCoreSymbols, setupPerCpuAreas } from '../../percpu/per-cpu-areas.ts';
import { AddressMap } from '../../segments/address-map.ts';
import { u64 } from '../../segments/ctype.ts';
import { linkAndLoad } from '../../segments/image-loader.ts';
import { Linker } from '../../segments/linker.ts';
import { PhysicalMemory } from '../../segments/memory.ts';

const NR_CPUS = 4;
const RUNS_PER_CPU = 1000;

export async function main(_args: string[]): Promise<number> {
  const memory = new PhysicalMemory(4 << 20);
  const map = new AddressMap(memory.size);
  const linker = new Linker();
  definePercpuCoreSymbols(linker);
  linker.definePerCpu('hits', u64, 0n);
  const image = linkAndLoad(linker, memory, map);
  const areas = setupPerCpuAreas(memory, map, image, NR_CPUS);
  const hits = areas.symbol('hits').address;

  const helpers = new HelperTable('helper').register(8, 'bpf_get_smp_processor_id', (ctx, cpu) =>
    ctx.setRegNumber(0, cpu.id),
  );
  const asm = asmWith({ symbols: { hits: { kind: 'value', value: BigInt(hits) } } });
  const { insns } = asm`
    r6 = hits ll                 # per-CPU pointer: an offset in .data..percpu
    r6 = this_cpu_ptr(r6)        # + gsBase: this CPU's copy
    call bpf_get_smp_processor_id
    r0 += 1
    r1 = *(u64 *)(r6 + 0)
    r1 += r0                     # plain read-modify-write: nobody else owns this copy
    *(u64 *)(r6 + 0) = r1
    exit
  `;
  const program = loadProgram(insns, { name: 'count_hits' });

  console.log('percpu-emu demo: the same program on 4 CPUs, each with its own per-CPU unit\n');
  for (const line of disassemble(insns, { helperNames: true })) console.log(`    ${line}`);
  console.log(
    `\nfirst chunk at 0x${areas.base.toString(16)}, unit size ${areas.firstChunk.unitSize}`,
  );
  const stack = map.reserve('demo stacks', NR_CPUS * STACK_BYTES);
  for (let id = 0; id < NR_CPUS; id++) {
    const cpu = new Cpu({ memory, id, helpers, gsBase: areas.offsets[id] });
    const ctx = new CpuContext(program, stack.start + (id + 1) * STACK_BYTES);
    for (let k = 0; k < RUNS_PER_CPU; k++) {
      ctx.reset();
      if (cpu.run(ctx, 100) !== StopReason.Exit) throw cpu.fault ?? new Error('did not exit');
    }
  }
  console.log(`\nafter ${RUNS_PER_CPU} runs on each CPU (CPU n adds n+1):`);
  let sum = 0n;
  for (let cpu = 0; cpu < NR_CPUS; cpu++) {
    const addr = areas.perCpuPtr(hits, cpu);
    const value = memory.read64(addr);
    sum += value;
    console.log(`    per_cpu(hits, ${cpu}) @ 0x${addr.toString(16)} = ${value}`);
  }
  console.log(`    sum over CPUs = ${sum}`);
  return 0;
}
