/**
 * Random(seed): a random CPU runs for a random quantum; now and then a
 * reschedule interrupt lands on a random CPU, or a random waiting task
 * migrates to a random CPU it may run on. All choices come from the seed.
 *
 * @example
 * runDeterministic(k, random({ seed: 42 }));
 */

import type { Strategy } from '../engine.ts';
import type { Kernel } from '../kernel.ts';
import { Rng } from '../rng.ts';
import type { Decision } from '../schedule-log.ts';
import { cannotMigrate } from '../scheduler.ts';
import { tickJitter } from './tick-jitter.ts';

export interface RandomOptions {
  seed: number;
  /** Quanta are uniform in 1..maxQuantum. Default 50. */
  maxQuantum?: number;
  /** Probability of a reschedule interrupt per decision. Default 0.05. */
  kickRate?: number;
  /** Probability of a migration attempt per decision. Default 0.05. */
  migrateRate?: number;
  /** Timer interrupts arrive 0..tickJitter instructions late (tick-jitter.ts). Default: half the tick interval. */
  tickJitter?: number;
}

export function random(opts: RandomOptions): Strategy {
  const rng = new Rng(opts.seed);
  const maxQuantum = opts.maxQuantum ?? 50;
  const kickRate = opts.kickRate ?? 0.05;
  const migrateRate = opts.migrateRate ?? 0.05;
  const tickDelay = tickJitter(opts.seed, opts.tickJitter);
  return {
    name: `random(seed=${opts.seed})`,
    tickDelay,
    decide(k: Kernel): Decision {
      if (rng.chance(kickRate)) return { kind: 'kick', cpu: rng.below(k.nrCpus) };
      if (rng.chance(migrateRate)) {
        const moves = migrations(k);
        if (moves.length > 0) return rng.pick(moves);
      }
      return { kind: 'run', cpu: rng.below(k.nrCpus), quantum: 1 + rng.below(maxQuantum) };
    },
  };
}

/** Every migration possible now: waiting, migratable tasks to each allowed CPU. */
export function migrations(k: Kernel): Decision[] {
  const out: Decision[] = [];
  for (const c of k.cpus) {
    for (const pid of c.rq.pids()) {
      // A pid a stray store left names no task: the scheduler reports it when it picks.
      const task = k.tasks.get(pid);
      if (task === undefined) continue;
      for (const dest of k.cpus) {
        if (cannotMigrate(k, task, dest.id) === undefined)
          out.push({ kind: 'migrate', pid, cpu: dest.id });
      }
    }
  }
  return out;
}
