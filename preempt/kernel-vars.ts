/**
 * The per-CPU variables the emulated kernel itself keeps, defined in the
 * `.data..percpu` template like any other, so each CPU's copy lives in its
 * unit and a guest program could read them through %gs the way x86 does:
 *
 *   __preempt_count     the preempt count (preempt-count.ts)
 *   current_task        address of the running task_struct
 *   __irq_flags         this CPU's interrupt flag, EFLAGS.IF (0x200) when enabled
 *   __softirq_pending   pending softirq vectors (irq_stat.__softirq_pending)
 *   runqueues           the run queue (runqueue.ts)
 *
 * @example
 * defineKernelVars(linker);
 * const v = kernelVarAddrs(areas, cpu); // per-CPU addresses for one CPU
 */

import type { PerCpuAreas } from '../percpu/per-cpu-areas.ts';
import { u32, u64 } from '../segments/ctype.ts';
import type { Linker } from '../segments/linker.ts';
import { PREEMPT_ENABLED } from './preempt-count.ts';
import { rqStruct } from './runqueue.ts';

/** EFLAGS.IF. */
export const X86_EFLAGS_IF = 0x200;

export function defineKernelVars(linker: Linker): void {
  linker.definePerCpu('__preempt_count', u32, PREEMPT_ENABLED, { subsection: 'first' });
  linker.definePerCpu('current_task', u64, 0n, { subsection: 'first' });
  linker.definePerCpu('__irq_flags', u32, X86_EFLAGS_IF, { subsection: 'first' });
  linker.definePerCpu('__softirq_pending', u32, 0);
  linker.definePerCpu('runqueues', rqStruct, undefined, { subsection: 'shared_aligned' });
}

export interface KernelVarAddrs {
  preemptCount: number;
  currentTask: number;
  irqFlags: number;
  softirqPending: number;
  runqueue: number;
}

/** The addresses of one CPU's copies of the kernel's per-CPU variables. */
export function kernelVarAddrs(areas: PerCpuAreas, cpu: number): KernelVarAddrs {
  const at = (name: string) => areas.perCpuPtr(areas.symbol(name).address, cpu);
  return {
    preemptCount: at('__preempt_count'),
    currentTask: at('current_task'),
    irqFlags: at('__irq_flags'),
    softirqPending: at('__softirq_pending'),
    runqueue: at('runqueues'),
  };
}
