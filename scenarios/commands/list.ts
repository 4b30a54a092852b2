/**
 * `percpu-emu list`: the shipped scenarios (scenarios/examples/), each with
 * the one-line description from its definition, in the form `run` and
 * `explore` take them by name.
 *
 * @example
 * // npx percpu-emu list
 * // lost-update-racy     2 tasks on CPU 0 increment a per-CPU counter ...
 */

import type { Command } from 'commander';
import { loadScenario, shippedScenarios } from '../load-scenario.ts';
import { EXIT_OK } from './exit-status.ts';

export function register(program: Command, finish: (status: number) => void): void {
  program
    .command('list')
    .summary('list the shipped scenarios with their descriptions')
    .description(
      'Lists the scenarios shipped with percpu-emu, by the name `run` and `explore` take, ' +
        'each with the description from its definition.',
    )
    .addHelpText(
      'after',
      `
Exit status:
  0  listed
  2  usage error (an unknown option or argument)
  3  emulator bug (a shipped scenario that does not load)
`,
    )
    .action(async () => finish(await run()));
}

async function run(): Promise<number> {
  const names = shippedScenarios();
  const width = Math.max(...names.map((n) => n.length)) + 2;
  for (const name of names) {
    const scenario = await loadScenario(name);
    process.stdout.write(`${name.padEnd(width)}${scenario.description}\n`);
  }
  process.stdout.write(`\nrun one: percpu-emu run <name>   (docs/scenarios.md writes your own)\n`);
  return EXIT_OK;
}
