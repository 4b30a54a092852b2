/**
 * Sleeping for a number of timer ticks (msleep: schedule_timeout_uninterruptible
 * of msecs_to_jiffies(ms) + 1, so the sleep is never shorter than asked even
 * when it starts mid-tick): the task leaves the run queue in
 * TASK_UNINTERRUPTIBLE, and the timer interrupt of its CPU wakes it.
 *
 * Context: the caller runs on `c` as its current task.
 *
 * @example
 * sleepFor(k, c, 5); // the current task sleeps 5 ticks
 */

import type { CpuState } from './cpu-state.ts';
import type { Kernel } from './kernel.ts';
import type { ResolvedMachineOptions } from './machine-options.ts';
import { wakeUpProcess } from './scheduler.ts';
import { TASK_UNINTERRUPTIBLE } from './task.ts';

/** msecs_to_jiffies(): `ms` of emulated time in whole ticks, at least one. */
export function msecsToTicks(opts: ResolvedMachineOptions, ms: number): number {
  return Math.max(1, Math.ceil((ms * 1e6) / (opts.tickInterval * opts.nsPerInsn)));
}

export function sleepFor(k: Kernel, c: CpuState, ticks: number): void {
  const task = c.curr;
  task.state = TASK_UNINTERRUPTIBLE;
  k.sleepers.push({ task, cpu: c.id, wakeAt: c.ticks + ticks + 1 });
  c.reschedRequested = true;
}

/** Wakes the tasks that slept on `c` until this tick. */
export function wakeSleepers(k: Kernel, c: CpuState): void {
  const sleepers = k.sleepers;
  for (let i = 0; i < sleepers.length; ) {
    const s = sleepers[i];
    if (s.cpu === c.id && s.wakeAt <= c.ticks) {
      sleepers.splice(i, 1);
      wakeUpProcess(k, s.task, s.cpu);
    } else {
      i++;
    }
  }
}
