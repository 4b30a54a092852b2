/**
 * Replay: applies the decisions of a schedule string, in order, and stops
 * when they run out. On the same scenario and machine options it reproduces
 * the recorded run exactly.
 *
 * @example
 * runDeterministic(m, replay('v1.2.AGQ'));
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
    decide(m: Kernel): Decision | null {
      if (cpus !== m.nrCpus) {
        throw new ErrnoError(
          'EINVAL',
          `replay string is for ${cpus} CPUs, the machine has ${m.nrCpus}`,
        );
      }
      return at < list.length ? list[at++] : null;
    },
  };
}
