/**
 * The labs that ship with percpu-emu, in course order, and the grader's
 * entry points: `percpu-emu lab list|start|grade|run` call these.
 *
 * @example
 * const lab = findLab('kalloc');
 * process.stdout.write(formatGrade(await gradeLab(lab, process.cwd())));
 */

import { ErrnoError } from 'percpu-emu';
import { countersLab } from './counters/lab.ts';
import type { Lab } from './grader/lab.ts';
import { kallocLab } from './kalloc/lab.ts';
import { rssCpumapLab } from './rss-cpumap/lab.ts';
import { stalePointerLab } from './stale-pointer/lab.ts';

export const LABS: readonly Lab[] = [countersLab, kallocLab, stalePointerLab, rssCpumapLab];

/** The lab called `name`; ENOENT listing the labs there are. */
export function findLab(name: string): Lab {
  const lab = LABS.find((l) => l.name === name);
  if (lab === undefined) {
    throw new ErrnoError(
      'ENOENT',
      `no lab '${name}': the labs are ${LABS.map((l) => l.name).join(', ')}`,
    );
  }
  return lab;
}
