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
import type { Machine } from '../machine.ts';
import { type Decision, ScheduleLog } from '../schedule-log.ts';

export function replay(schedule: string): Strategy {
  const log = ScheduleLog.decode(schedule);
  let at = 0;
  return {
    name: `replay(${log.decisions.length} decisions)`,
    decide(m: Machine): Decision | null {
      if (log.cpus !== m.nrCpus) {
        throw new ErrnoError(
          'EINVAL',
          `replay string is for ${log.cpus} CPUs, the machine has ${m.nrCpus}`,
        );
      }
      return at < log.decisions.length ? log.decisions[at++] : null;
    },
  };
}
