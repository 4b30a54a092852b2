/**
 * PCT, probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi,
 * Nagarakatte, ASPLOS 2010): a bug of depth d among n threads in k steps is
 * found with probability at least 1/(n·k^(d-1)) per run.
 *
 * Mapped onto this machine:
 *  - every task gets a random initial priority, all above d;
 *  - d-1 change points are drawn uniformly in 1..k (`steps`);
 *  - each step, the CPU whose task has the highest priority runs one
 *    instruction (a CPU's priority is its running task's, or the head of its
 *    run queue when it idles); as long as no task starts or stops running
 *    or waiting the choice stays the same, so the steps up to the next
 *    change point are one stepwise run that the engine ends early at such
 *    a change (sched-watch.ts): the same run as one decision per step;
 *  - when a waiting task outranks the task running on its CPU, that CPU
 *    gets a reschedule interrupt (which preempts it if it is preemptible);
 *  - at the i-th change point the running task's priority drops to d-1-i,
 *    below every other, its CPU is interrupted, and once it waits on a run
 *    queue it is migrated to the allowed CPU running the lowest-priority
 *    task: the move that turns a stale per-CPU pointer into a race.
 * When no CPU has work (everything sleeps), the CPU with the earliest clock
 * runs to its next timer tick. Where each timer interrupt lands is drawn
 * from the seed too (tick-jitter.ts), from a stream of its own.
 *
 * @example
 * runDeterministic(m, pct({ seed: 3, depth: 2, steps: 5000 }));
 */

import type { CpuState } from '../cpu-state.ts';
import type { Strategy } from '../engine.ts';
import type { Kernel } from '../kernel.ts';
import { Rng } from '../rng.ts';
import type { Decision } from '../schedule-log.ts';
import { cannotMigrate } from '../scheduler.ts';
import { tickJitter } from './tick-jitter.ts';

export interface PctOptions {
  seed: number;
  /** Bug depth d. Default 3. */
  depth?: number;
  /** k, the expected number of steps of a run; change points fall in 1..k. Default 20000. */
  steps?: number;
  /**
   * Stepwise runs up to the next change point (default true); false makes
   * one decision per instruction, the same run more slowly (a reference).
   */
  stepwise?: boolean;
  /** Timer interrupts arrive 0..tickJitter instructions late (tick-jitter.ts). Default: half the tick interval. */
  tickJitter?: number;
}

export function pct(opts: PctOptions): Strategy {
  const depth = opts.depth ?? 3;
  const k = opts.steps ?? 20_000;
  const rng = new Rng(opts.seed);
  const changePoints = Array.from({ length: Math.max(0, depth - 1) }, () => 1 + rng.below(k)).sort(
    (a, b) => a - b,
  );
  const prio = new Map<number, number>();
  const kicked = new Set<string>();
  let step = 0;
  let nextChange = 0;
  let demoted: number | null = null;

  const priorityOf = (pid: number): number => {
    let p = prio.get(pid);
    if (p === undefined) {
      p = depth + rng.next() / 0x1_0000_0000;
      prio.set(pid, p);
    }
    return p;
  };
  /**
   * The priority of what a CPU would run: its task, or the head of its
   * queue; -Infinity for nothing. A CPU spinning on a lock ranks below every
   * task (but above nothing), so the holder runs and releases it: without
   * that, the highest-priority spinner would spin until the run's end.
   */
  const cpuPriority = (c: CpuState): number => {
    if (!c.isIdle) return c.spinning ? -1 : priorityOf(c.curr.pid);
    const head = c.rq.head();
    return head < 0 ? Number.NEGATIVE_INFINITY : priorityOf(head);
  };

  return {
    name: `pct(seed=${opts.seed}, depth=${depth}, steps=${k})`,
    tickDelay: tickJitter(opts.seed, opts.tickJitter),
    decide(m: Kernel): Decision {
      if (demoted !== null) {
        const move = migrationOf(m, demoted, cpuPriority);
        if (move !== undefined || m.tasks.get(demoted)?.exited) demoted = null;
        if (move !== undefined) return move;
      }
      for (const c of m.cpus) {
        if (c.isIdle) continue;
        const mine = priorityOf(c.curr.pid);
        for (let q = 0, n = c.rq.length; q < n; q++) {
          const pid = c.rq.at(q);
          if (priorityOf(pid) <= mine) continue;
          const key = `${c.id}:${pid}:${c.curr.pid}`;
          if (!kicked.has(key)) {
            kicked.add(key);
            return { kind: 'kick', cpu: c.id };
          }
        }
      }
      let best: CpuState | undefined;
      let bestPriority = Number.NEGATIVE_INFINITY;
      for (const c of m.cpus) {
        const p = cpuPriority(c);
        if (p > bestPriority) {
          best = c;
          bestPriority = p;
        }
      }
      if (best === undefined) {
        const earliest = m.cpus.reduce((a, b) => (b.clock < a.clock ? b : a));
        return {
          kind: 'run',
          cpu: earliest.id,
          quantum: Math.max(1, earliest.nextTick - earliest.clock),
        };
      }
      step++;
      if (nextChange < changePoints.length && step >= changePoints[nextChange] && !best.isIdle) {
        prio.set(best.curr.pid, depth - 1 - nextChange);
        nextChange++;
        demoted = best.curr.pid;
        return { kind: 'kick', cpu: best.id };
      }
      // Until the next change point nothing but a change the watch sees
      // alters this choice: the steps up to it are one stepwise run.
      const room =
        nextChange < changePoints.length ? changePoints[nextChange] - step : MAX_STEPS_PER_RUN;
      if (room <= 1 || opts.stepwise === false) return { kind: 'run', cpu: best.id, quantum: 1 };
      return {
        kind: 'run',
        cpu: best.id,
        quantum: Math.min(room, MAX_STEPS_PER_RUN),
        stepwise: true,
      };
    },
    ranSteps(steps: number): void {
      step += steps - 1;
    },
  };
}

/** Steps of one stepwise run at most, so that the engine looks at the clock now and then. */
const MAX_STEPS_PER_RUN = 1 << 14;

/** Moves a waiting task to the allowed CPU whose work has the lowest priority. */
function migrationOf(
  m: Kernel,
  pid: number,
  cpuPriority: (c: CpuState) => number,
): Decision | undefined {
  const task = m.tasks.get(pid);
  if (task === undefined || !task.onRq) return undefined;
  let dest: CpuState | undefined;
  for (const c of m.cpus) {
    if (cannotMigrate(m, task, c.id) !== undefined) continue;
    if (dest === undefined || cpuPriority(c) < cpuPriority(dest)) dest = c;
  }
  return dest === undefined ? undefined : { kind: 'migrate', pid, cpu: dest.id };
}
