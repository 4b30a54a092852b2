/**
 * `percpu-emu demo` (`npm start`): the race this project exists to show,
 * caught and fixed. Tasks compute `this_cpu_ptr`, get preempted and
 * migrated, and write into the per-CPU unit of the CPU they left; PCT finds
 * the schedule, DEBUG_PREEMPT flags the code, and the replay string
 * reproduces the run. Then the same tasks inside a CpuGuard hold their
 * invariant over many seeds.
 *
 * @example
 * // npm start
 */

import type { Command } from 'commander';
import { formatReport } from '../report.ts';
import { runScenario } from '../run-scenario.ts';
import { EXIT_FAILED, EXIT_OK } from './exit-status.ts';

const SEEDS = 200;

export function register(program: Command, finish: (status: number) => void): void {
  program
    .command('demo')
    .summary('show a per-CPU race caught, then fixed')
    .description(
      'Runs stale-pointer-racy under PCT (a task computes this_cpu_ptr, is migrated, and ' +
        'writes into the CPU it left: the invariant fails, DEBUG_PREEMPT reports it), then ' +
        `the fixed version (inside a CpuGuard) over ${SEEDS} PCT seeds.`,
    )
    .addHelpText(
      'after',
      `
Exit status:
  0  the race was caught and the fix held on every seed, as it should
  1  it was not (the demo did not show what it is for)
  2  usage error (an unknown option or argument)
  3  emulator bug
`,
    )
    .action(async () => finish(await run()));
}

async function run(): Promise<number> {
  // Loaded when the demo runs: the shipped scenario imports the whole package entry.
  const { stalePointer } = await import('../races/stale-pointer.ts');
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
  console.log(`${rule}\nmore: percpu-emu list, percpu-emu run <scenario>, docs/scenarios.md`);
  return racy.ok || held !== SEEDS ? EXIT_FAILED : EXIT_OK;
}
