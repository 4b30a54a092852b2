/**
 * Hostile guests for parallel mode, one recipe per named export: an
 * attacker on CPU 1 stores garbage, zero or all-ones over the parallel
 * control block or another worker's state (CPU 0's run queue, the
 * bystander's task_struct), while a bystander on CPU 0 counts to 2000 in
 * `hits`. Every worker rebuilds the same machine, so the target address
 * computed in setup is the same in all of them.
 */

import type { Kernel } from '../../../preempt/kernel.ts';
import type { MachineRecipe } from '../../../preempt/machine.ts';
import { u64 } from '../../../segments/ctype.ts';

const BYSTANDER = `
    r6 = 0
  loop:
    r1 = hits ll
    r2 = 1
    call this_cpu_add
    r6 += 1
    if r6 < 2000 goto loop
    r0 = 0
    exit
`;

/** Stores the 32-bit `value` over `words` words from the address in r1, then exits 0. */
const smash = (words: number, value: number) => `
    r2 = ${value}
    r3 = 0
  fill:
    *(u32 *)(r1 + 0) = r2
    r1 += 4
    r3 += 1
    if r3 < ${words} goto fill
    r0 = 0
    exit
`;

/** The control block is reserved right after setup, 64-aligned (mailbox.ts). */
const controlBlock = (k: Kernel) => k.map.peek(64);

function hostile(
  value: number,
  words: number,
  target: (k: Kernel, bystanderAddr: number) => number,
): MachineRecipe {
  return {
    machine: { cpus: 2, tickInterval: 200 },
    define(m) {
      m.definePerCpu('hits', u64, 0n);
    },
    setup(k) {
      const bystander = k.spawn({
        comm: 'bystander',
        cpu: 0,
        allowed: [0],
        program: k.assemble(BYSTANDER),
      });
      const at = target(k, bystander.addr);
      k.spawn({
        comm: 'attacker',
        cpu: 1,
        allowed: [1],
        program: k.assemble(smash(words, value)),
        args: [at],
      });
    },
  };
}

const VALUES = { Garbage: 0x5a5a5a5a, Zero: 0, Ones: -1 } as const;

export const controlGarbage = hostile(VALUES.Garbage, 48, controlBlock);
export const controlZero = hostile(VALUES.Zero, 48, controlBlock);
export const controlOnes = hostile(VALUES.Ones, 48, controlBlock);
export const runQueueGarbage = hostile(VALUES.Garbage, 70, (k) => k.cpus[0].rq.addr);
export const runQueueOnes = hostile(VALUES.Ones, 70, (k) => k.cpus[0].rq.addr);
export const taskStructGarbage = hostile(VALUES.Garbage, 64, (_k, addr) => addr);
export const taskStructZero = hostile(VALUES.Zero, 64, (_k, addr) => addr);
