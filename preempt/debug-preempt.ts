/**
 * DEBUG_PREEMPT (lib/smp_processor_id.c, check_preemption_disabled): code
 * that asks which CPU it runs on, or uses this_cpu_ptr or a __this_cpu op,
 * while it could be preempted or migrated gets the kernel's report:
 *
 *     BUG: using smp_processor_id() in preemptible [00000000] code: comm/pid
 *     caller is sym+0xoff/0xsize
 *
 * Not reported: a nonzero preempt count, interrupts off, a kthread bound to
 * its CPU, migration disabled. Rate-limited like printk_ratelimit(): a burst
 * of DEBUG_PREEMPT_BURST reports, then only counted. In `fatal` mode the
 * offending task is killed; `off` checks nothing.
 *
 * @example
 * debugPreempt.check(c, '__this_cpu_', 'add', pc);
 */

import { ErrnoError } from '../segments/errno.ts';
import type { CpuState } from './cpu-state.ts';
import type { DebugPreemptMode } from './machine-options.ts';
import { symbolizePc } from './oops.ts';
import type { ReportKind } from './reports.ts';

/** What DEBUG_PREEMPT uses of the kernel (kernel.ts's Kernel is one). */
export interface DebugPreemptHost {
  readonly opts: { readonly debugPreempt: DebugPreemptMode };
  report(kind: ReportKind, c: CpuState, lines: string[]): void;
}

/** printk_ratelimit()'s burst: reports printed before the rest are only counted. */
export const DEBUG_PREEMPT_BURST = 10;

export class DebugPreempt {
  /** Reports made, including those the rate limit suppressed. */
  count = 0;

  constructor(private readonly m: DebugPreemptHost) {}

  /** `pc` is the guest instruction that asked (the kfunc call by default). */
  check(c: CpuState, what1: string, what2: string, pc?: number): void {
    const mode = this.m.opts.debugPreempt;
    if (mode === 'off') return;
    const task = c.curr;
    if (c.preemptCount !== 0 || !c.irqsEnabled) return;
    if (task.kthread || task.migrationDisabled > 0) return;
    const count = c.preemptCount.toString(16).padStart(8, '0');
    const line = `BUG: using ${what1}${what2}() in preemptible [${count}] code: ${task.comm}/${task.pid}`;
    this.count++;
    if (this.count <= DEBUG_PREEMPT_BURST) {
      this.m.report('debug_preempt', c, [line, `caller is ${callerOf(c, pc)}`]);
    }
    if (mode === 'fatal') throw new ErrnoError('EPERM', `DEBUG_PREEMPT: ${line}`);
  }
}

/** The guest instruction (or native task) that called into the kernel, as %pS prints it. */
function callerOf(c: CpuState, pc?: number): string {
  const ctx = c.cpu.current;
  if (ctx === null) return c.curr.comm;
  return symbolizePc(ctx.program, pc ?? Math.max(0, ctx.pc - 1));
}
