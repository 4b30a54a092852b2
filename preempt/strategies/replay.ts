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
  const { cpus, list } = ScheduleLog.decode(schedule);
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
  };
}
