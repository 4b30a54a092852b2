/**
 * `npm start`: the race this project exists to show, caught and fixed. Tasks
 * compute `this_cpu_ptr`, get preempted and migrated, and write into the
 * per-CPU unit of the CPU they left; PCT finds the schedule, DEBUG_PREEMPT
 * flags the code, and the replay string reproduces the run. Then the same
 * tasks inside a CpuGuard hold their invariant over many seeds.
 *
 * @example
 * // npm start
 */

import { stalePointer } from '../races/stale-pointer.ts';
import { formatReport } from '../report.ts';
import { runScenario } from '../run-scenario.ts';

const SEEDS = 200;

export async function main(_args: string[]): Promise<number> {
  const rule = '-'.repeat(78);
  console.log('percpu-emu demo: a stale per-CPU pointer after migration, and its fix\n');

  const racy = runScenario(stalePointer('racy'), { strategy: 'pct', seed: 1 });
  console.log(`${rule}\n${formatReport(racy, 'stale-pointer-racy')}\n`);

  const fixed = stalePointer('fixed-guard');
  let held = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    if (runScenario(fixed, { strategy: 'pct', seed }).ok) held++;
  }
  console.log(
    `${rule}\n${formatReport(runScenario(fixed, { strategy: 'pct', seed: 1 }), 'stale-pointer-fixed-guard')}`,
  );
  console.log(`\nthe fixed version held its invariants on ${held} of ${SEEDS} PCT seeds.`);
  console.log(
    `${rule}\nmore: npx percpu-emu run <scenario> (see scenarios/examples/), docs/scenarios.md`,
  );
  return racy.ok || held !== SEEDS ? 1 : 0;
}
