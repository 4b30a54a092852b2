/**
 * `percpu-emu lab list | start | grade | run`: the OS-course labs (labs/).
 * The options are declared here so that `--help` explains them; the labs
 * themselves sit on top of the package and are loaded only when a lab
 * command runs (labs/commands.ts), so nothing below them imports them.
 *
 * @example
 * // npx percpu-emu lab start counters my-counters && cd my-counters && npx percpu-emu lab grade counters
 */

import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { formatReport } from '../report.ts';
import type { StrategyName } from '../run-scenario.ts';
import { EXIT_STATUS_HELP, errnoAsInput } from './exit-status.ts';
import { refuse } from './option-values.ts';
import {
  checkWritable,
  exitStatus,
  refuseForStrategy,
  replayOption,
  scheduleOptions,
} from './run.ts';

const labs = () => import('../../labs/commands.ts');

interface LabRunFlags {
  cpus?: number;
  strategy?: StrategyName;
  seed?: number;
  depth?: number;
  steps?: number;
  quantum?: number;
  replay?: string;
  trace?: string;
}

export function register(program: Command, finish: (status: number) => void): void {
  const lab = program
    .command('lab')
    .summary('the OS-course labs: list, start, grade and run them')
    .description(
      'Labs on per-CPU memory in the style of the xv6 labs: `lab start` makes a folder ' +
        'with the handout and the starter code, `lab grade` grades it like `make grade` ' +
        '(each test OK or FAIL with its points and time, then the score), `lab run` runs ' +
        'one of the lab scenarios with your code, for instance a failing schedule the ' +
        'grader printed.',
    )
    .addHelpText(
      'after',
      `
Examples:
  percpu-emu lab list
  percpu-emu lab start counters my-counters
  cd my-counters && npm install && npx percpu-emu lab grade counters
  percpu-emu lab run counters two-tasks --strategy pct --seed 1
`,
    );
  lab
    .command('list')
    .summary('the labs, in course order')
    .action(async () => {
      process.stdout.write((await labs()).labList());
      finish(0);
    });
  lab
    .command('start')
    .summary("make a student's folder from a lab's starter")
    .argument('<name>', 'the lab (see `percpu-emu lab list`)')
    .argument('[dir]', 'the folder to make (default ./<name>)')
    .option('--force', 'write into a folder that already has files, replacing the starter files')
    .action(async (name: string, dir: string | undefined, flags: { force?: boolean }) => {
      const { labStart } = await labs();
      process.stdout.write(errnoAsInput(() => labStart(name, dir, flags.force === true)));
      finish(0);
    });
  lab
    .command('grade')
    .summary('grade a folder: every test OK or FAIL, then the score')
    .description(
      'Runs the lab tests on the code in <dir> over many schedules (PCT, random, and where ' +
        'it fits every schedule up to a bound), prints each test with OK or FAIL, its ' +
        'points and its time, a replay command for every failing schedule, and the score. ' +
        'Exit status 0 only at full marks, 1 below.',
    )
    .argument('<name>', 'the lab (see `percpu-emu lab list`)')
    .argument('[dir]', "the student's folder (default .)", '.')
    .option('--json', "print Gradescope's results.json instead of the text")
    .addOption(
      new Option(
        '--mode <mode>',
        'run only the tests of one engine: deterministic or parallel (default both)',
      ).choices(['deterministic', 'parallel']),
    )
    .action(
      async (
        name: string,
        dir: string,
        flags: { json?: boolean; mode?: 'deterministic' | 'parallel' },
      ) => {
        const { labGrade } = await labs();
        finish(
          await errnoAsInput(() =>
            labGrade(name, dir, { json: flags.json === true, mode: flags.mode }),
          ),
        );
      },
    );
  const run = lab
    .command('run')
    .summary('one run of a lab scenario with your code, and its report')
    .description(
      "Runs one of a lab's scenarios with the code in [dir] under the deterministic engine " +
        'and prints its report, like `percpu-emu run`; the grader prints such a command ' +
        'for every schedule that failed.',
    )
    .argument('<name>', 'the lab (see `percpu-emu lab list`)')
    .argument('<scenario>', "one of the lab's scenarios (its handout names them)")
    .argument('[dir]', "the student's folder (default .)", '.');
  for (const opt of scheduleOptions('run')) {
    if (opt.long !== '--max-steps' && opt.long !== '--timeout') run.addOption(opt);
  }
  run
    .addOption(replayOption())
    .option('--trace <file>', 'write the per-CPU trace rings to <file> (ftrace text) after the run')
    .addHelpText('after', EXIT_STATUS_HELP)
    .action(async (name: string, scenario: string, dir: string, flags: LabRunFlags) => {
      if (flags.replay === undefined) refuseForStrategy(run, flags.strategy ?? 'pct');
      else {
        refuse(
          run,
          ['seed', 'strategy', 'depth', 'steps', 'quantum'],
          'means nothing with --replay: the replay string fixes the whole schedule',
        );
      }
      if (flags.trace !== undefined) checkWritable(flags.trace);
      const { labRun } = await labs();
      const { trace, ...opts } = flags;
      const r = await errnoAsInput(() => labRun(name, scenario, dir, opts));
      process.stdout.write(`${formatReport(r, `lab ${name} ${scenario}`)}\n`);
      if (trace !== undefined && r.machine.tracer !== null) {
        writeFileSync(trace, r.machine.tracer.toFtrace());
        process.stdout.write(`trace:    ${trace} (ftrace)\n`);
      }
      finish(exitStatus(r));
    });
}
