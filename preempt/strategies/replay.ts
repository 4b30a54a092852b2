/**
 * Replay: applies the decisions of a schedule string, in order, and stops
 * when they run out. On the same scenario and machine options it reproduces
 * the recorded run exactly.
 *
 * @example
 * runDeterministic(k, replay('v1.2.AGQ'));
 */

import { ErrnoError } from '../../segments/errno.ts';
import type { Strategy } from '../engine.ts';
import type { Kernel } from '../kernel.ts';
import { type Decision, ScheduleLog } from '../schedule-log.ts';

export function replay(schedule: string): Strategy {
  const { cpus, list: all } = ScheduleLog.decode(schedule);
  const list = all.filter((d) => d.kind !== 'tick');
  // Each CPU's tick delays, in the order its ticks were programmed.
  const ticks = Array.from({ length: cpus }, (): number[] => []);
  for (const d of all) if (d.kind === 'tick') ticks[d.cpu].push(d.delay);
  const tickAt = new Array<number>(cpus).fill(0);
  let at = 0;
  return {
    name: `replay(${list.length} decisions)`,
    decide(k: Kernel): Decision | null {
      if (cpus !== k.nrCpus) {
        throw new ErrnoError(
          'EINVAL',
          `replay string is for ${cpus} CPUs, the machine has ${k.nrCpus}`,
        );
      }
      return at < list.length ? list[at++] : null;
    },
    ...(all.length === list.length
      ? {}
      : {
          tickDelay(_k: Kernel, cpu: number): number {
            const mine = ticks[cpu] ?? [];
            return tickAt[cpu] < mine.length ? mine[tickAt[cpu]++] : 0;
          },
        }),
  };
}
