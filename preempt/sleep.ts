/**
 * Sleeping for a number of timer ticks (msleep: schedule_timeout_uninterruptible
 * of msecs_to_jiffies(ms) + 1, so the sleep is never shorter than asked even
 * when it starts mid-tick): the task leaves the run queue in
 * TASK_UNINTERRUPTIBLE, and the timer interrupt of its CPU wakes it.
 *
 * Context: the caller runs on `c` as its current task.
 *
 * @example
 * sleepFor(m, c, 5); // the current task sleeps 5 ticks
 */

import type { CpuState } from './cpu-state.ts';
import type { Machine } from './machine.ts';
import { wakeUpProcess } from './scheduler.ts';
import { TASK_UNINTERRUPTIBLE } from './task.ts';

export function sleepFor(m: Machine, c: CpuState, ticks: number): void {
  const task = c.curr;
  task.state = TASK_UNINTERRUPTIBLE;
  m.sleepers.push({ task, cpu: c.id, wakeAt: c.ticks + ticks + 1 });
  c.reschedRequested = true;
}

/** Wakes the tasks that slept on `c` until this tick. */
export function wakeSleepers(m: Machine, c: CpuState): void {
  for (let k = 0; k < m.sleepers.length; ) {
    const s = m.sleepers[k];
    if (s.cpu === c.id && s.wakeAt <= c.ticks) {
      m.sleepers.splice(k, 1);
      wakeUpProcess(m, s.task, s.cpu);
    } else {
      k++;
    }
  }
}
