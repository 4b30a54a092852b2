/**
 * The machines `npm run bench -- parallel` runs, as recipes that each CPU's
 * worker rebuilds by importing this module (preempt/parallel/attach.ts).
 *
 * @example
 * await runner.run({ module: import.meta.resolve('./parallel-recipes.ts'), exportName: 'aluPerCpu' });
 */

import type { Insn } from '../cpu/insn.ts';
import type { MachineRecipe } from '../preempt/machine.ts';
import { readBenchProgram } from './cpu.ts';

/** Iterations of alu_loop per CPU: about 20 million instructions each. */
export const ALU_ITERATIONS = 2_000_000;
/** Short tasks moved (or not) by the migration benchmark. */
export const HOPPERS = 60;

/** alu_loop with its iteration count (the `r2 = N` immediate) set to `n`. */
export function aluLoop(n: number): Insn[] {
  const insns = readBenchProgram('alu_loop').insns.map((i) => ({ ...i }));
  const count = insns.find((i) => i.code === 0xb7 && i.dst === 2);
  if (count === undefined) throw new Error('alu_loop has no r2 = N');
  count.imm = n;
  return insns;
}

/** Independent per-CPU work: alu_loop on every CPU, each task bound to its CPU. */
export const aluPerCpu: MachineRecipe = {
  machine: { memorySize: 16 << 20 },
  setup(m) {
    const program = aluLoop(ALU_ITERATIONS);
    for (const c of m.cpus) m.spawn({ comm: `alu${c.id}`, cpu: c.id, allowed: [c.id], program });
  },
};

/** CPU 0 runs a guest loop until stopped; CPU 1 has nothing to do and halts. */
export const secondCpuIdle: MachineRecipe = {
  machine: { cpus: 2, memorySize: 16 << 20 },
  setup(m) {
    const program = m.assemble('  r6 = 0\nloop:\n  r6 += 1\n  goto loop');
    m.spawn({ comm: 'spin0', cpu: 0, allowed: [0], program });
  },
};

/**
 * CPU 0 is held by a kthread that is never preempted (a time slice that
 * never runs out, no periodic balancing); short tasks wait behind it on CPU
 * 0 (`pulled`, so idle CPU 1 pulls each one over: a migration apiece) or on
 * CPU 1 itself (`local`, the same work without migrations).
 */
function hoppers(where: 'pulled' | 'local'): MachineRecipe {
  return {
    machine: { cpus: 2, memorySize: 16 << 20, timeSlice: 1e9, balanceInterval: 1e9 },
    setup(m) {
      const hog = m.assemble('  r6 = 0\nloop:\n  r6 += 1\n  goto loop');
      m.spawn({ comm: 'hog0', cpu: 0, kthread: true, program: hog });
      const short = m.assemble('  r0 = 0\n  r1 = 1\n  r1 += 1\n  r1 += 1\n  exit');
      for (let k = 0; k < HOPPERS; k++) {
        if (where === 'pulled') m.spawn({ comm: `hop${k}`, cpu: 0, program: short });
        else m.spawn({ comm: `hop${k}`, cpu: 1, allowed: [1], program: short });
      }
    },
  };
}

export const hoppersPulled = hoppers('pulled');
export const hoppersLocal = hoppers('local');
