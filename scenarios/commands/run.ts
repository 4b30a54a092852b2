/**
 * `percpu-emu run <scenario> [options]`: runs one scenario, prints its report
 * and writes the trace if asked. The deterministic engine (the default) runs
 * the CPUs one at a time under a strategy, reproducibly; `--mode parallel`
 * runs one worker thread per CPU (scenarios/run-parallel.ts), without a
 * strategy or replay. Options that mean nothing in the chosen mode are
 * refused, not ignored: `--quantum` with pct, `--seed` with `--replay`.
 *
 * @example
 * // npx percpu-emu run lost-update-racy --strategy pct --seed 3 --trace out.txt
 */

import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { NR_CPUS } from '../../percpu/first-chunk.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { loadScenario } from '../load-scenario.ts';
import { formatReport, reportCount } from '../report.ts';
import {
  type RunScenarioOptions,
  runScenario,
  type ScenarioResult,
  type StrategyName,
} from '../run-scenario.ts';
import { timelineRunOptions } from '../timeline-run.ts';
import {
  asInput,
  EXIT_EMULATOR_BUG,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_STATUS_HELP,
  EXIT_USAGE,
  InputError,
} from './exit-status.ts';
import { integerIn, refuse, SEED_MAX } from './option-values.ts';
import {
  checkWritable as checkOutputWritable,
  checkTraceFlags,
  type TraceFlags,
  traceOptions,
  writeTimeline,
} from './trace-options.ts';

/** Largest setTimeout delay Node honours (2^31 - 1 ms, about 24.8 days). */
const TIMEOUT_MAX = 0x7fff_ffff;

interface RunFlags extends TraceFlags {
  cpus?: number;
  strategy?: StrategyName;
  seed?: number;
  depth?: number;
  steps?: number;
  quantum?: number;
  replay?: string;
  maxSteps?: number;
  trace?: string;
  format?: 'ftrace' | 'json';
  mode?: 'deterministic' | 'parallel';
  timeout?: number;
}

/**
 * The options of the machine and the strategy, with what each one means:
 * `run` takes them all, `explore` all but `--seed` (it has --first-seed)
 * and `--quantum` (rr, the only strategy with one, draws no random numbers).
 */
export function scheduleOptions(command: 'run' | 'explore'): Option[] {
  const all = [
    new Option(
      '--cpus <n>',
      `number of emulated CPUs, 1..${NR_CPUS} (default: the scenario's machine.cpus, else 4)`,
    ).argParser(integerIn(1, NR_CPUS)),
    new Option(
      '--strategy <name>',
      'how the deterministic engine picks what runs next: pct gives tasks random ' +
        'priorities and changes them at --depth - 1 random points (PCT, finds ' +
        'shallow bugs with a known probability); random runs a random CPU for a ' +
        'random quantum and now and then migrates a task; rr runs CPU 0, 1, ... in ' +
        'turn for --quantum instructions each, no randomness (default pct)',
    ).choices(['pct', 'random', 'rr']),
    new Option(
      '--seed <n>',
      `seed of the random and pct strategies, 0..${SEED_MAX} (default 1): the same ` +
        'scenario, options and seed give the same run, byte for byte',
    ).argParser(integerIn(0, SEED_MAX)),
    new Option(
      '--depth <d>',
      'pct only: the bug depth d, how many ordering constraints the bug needs; ' +
        "PCT puts d - 1 priority change points into the run, 1..1000 (default: the scenario's pct.depth, else 3)",
    ).argParser(integerIn(1, 1000)),
    new Option(
      '--steps <k>',
      "pct only: PCT's estimate k of the scheduling steps a run takes; the change " +
        `points fall at random in 1..k, 1..${SEED_MAX} (default: the scenario's pct.steps, else 20000)`,
    ).argParser(integerIn(1, SEED_MAX)),
    new Option(
      '--quantum <q>',
      'rr only: instructions each CPU runs before the next CPU gets its turn, 1..1000000000 (default 100)',
    ).argParser(integerIn(1, 1_000_000_000)),
    new Option(
      '--max-steps <n>',
      'stop once all CPUs together executed this many instructions, even with tasks ' +
        "still running (which fails 'every task ran to completion'), 1..2^53-1 (default 10000000)",
    ).argParser(integerIn(1, Number.MAX_SAFE_INTEGER)),
    new Option(
      '--timeout <ms>',
      'wall-clock limit of a run in ms, in both modes: the run stops and reports ' +
        `what it gathered, 1..${TIMEOUT_MAX} (default: none, 60000 in parallel mode)`,
    ).argParser(integerIn(1, TIMEOUT_MAX)),
  ];
  if (command === 'run') return all;
  return all.filter((o) => o.long !== '--seed' && o.long !== '--quantum');
}

/** `--replay <string>`: `run` and `lab run` take it. */
export function replayOption(): Option {
  return new Option(
    '--replay <string>',
    'rerun a recorded run exactly, from the replay string its report printed (v2....); ' +
      'it belongs to that scenario and CPU count, and fixes the whole schedule, so it ' +
      'takes no --strategy, --seed, --depth, --steps or --quantum',
  );
}

/**
 * Refuses strategy options that mean nothing with the strategy chosen
 * (`--quantum` with pct, `--depth` with rr, `--seed` with rr).
 */
export function refuseForStrategy(cmd: Command, strategy: StrategyName): void {
  if (strategy !== 'pct') {
    refuse(cmd, ['depth', 'steps'], `is for --strategy pct; it means nothing with ${strategy}`);
  }
  if (strategy !== 'rr') {
    refuse(cmd, ['quantum'], `is for --strategy rr; it means nothing with ${strategy}`);
  }
  if (strategy === 'rr') {
    refuse(
      cmd,
      ['seed', 'firstSeed'],
      'means nothing with --strategy rr, which draws no random numbers',
    );
  }
}

export function register(program: Command, finish: (status: number) => void): void {
  const cmd = program
    .command('run')
    .summary('run a scenario once and print its report')
    .description(
      'Runs one scenario (a .ts or .js file, or the name of a shipped one: see `percpu-emu list`), ' +
        'judges its invariants and prints the report: the machine, the strategy, each ' +
        "invariant's verdict, the kernel's reports (DEBUG_PREEMPT, oops, KASAN, ...) " +
        'and the command that replays the run exactly.',
    )
    .argument('<scenario>', 'a scenario file, or the name of a shipped scenario');
  for (const opt of scheduleOptions('run')) cmd.addOption(opt);
  cmd
    .addOption(replayOption())
    .addOption(
      new Option(
        '--trace <file>',
        'write the per-CPU trace rings to <file> after the run (its folder must be writable: checked before the run)',
      ),
    )
    .addOption(
      new Option(
        '--format <format>',
        'format of --trace: ftrace (text in the trace-cmd report shape; Perfetto opens it) ' +
          'or json (Chrome trace, one track per CPU); default ftrace',
      ).choices(['ftrace', 'json']),
    );
  for (const opt of traceOptions('run')) cmd.addOption(opt);
  cmd
    .addOption(
      new Option(
        '--mode <mode>',
        'deterministic: one CPU at a time under --strategy, every run reproducible; ' +
          'parallel: one worker thread per CPU, truly concurrent, not reproducible, ' +
          "no strategy or replay (default: the scenario's mode, else deterministic)",
      ).choices(['deterministic', 'parallel']),
    )
    .addHelpText(
      'after',
      `${EXIT_STATUS_HELP}
Examples:
  percpu-emu run lost-update-racy --strategy pct --seed 3
  percpu-emu run ./my-scenario.ts --cpus 4 --trace out.txt
  percpu-emu run lost-update-fixed --mode parallel --timeout 5000
  percpu-emu run stale-pointer-racy --seed 2 --timeline out.html
  percpu-emu run lost-update-racy --seed 3 --events sched,preemptirq,percpu --trace-percpu counter --trace out.txt
`,
    )
    .action(async (spec: string, flags: RunFlags) => finish(await run(cmd, spec, flags)));
}

async function run(cmd: Command, spec: string, flags: RunFlags): Promise<number> {
  const scenario = await asInput(() => loadScenario(spec));
  const mode = flags.mode ?? scenario.mode ?? 'deterministic';
  if (flags.format !== undefined && flags.trace === undefined) {
    throw new InputError('--format chooses the format of --trace: give --trace <file> too');
  }
  if (mode === 'parallel') {
    refuse(
      cmd,
      ['seed', 'strategy', 'depth', 'steps', 'quantum', 'replay'],
      'chooses or replays a deterministic schedule: it means nothing in parallel mode',
    );
    refuse(
      cmd,
      ['events', 'tracePercpu', 'timeline'],
      "is for the deterministic engine: parallel mode's workers trace the default events only",
    );
  } else if (flags.replay !== undefined) {
    refuse(
      cmd,
      ['seed', 'strategy', 'depth', 'steps', 'quantum'],
      'means nothing with --replay: the replay string fixes the whole schedule',
    );
  } else {
    refuseForStrategy(cmd, flags.strategy ?? 'pct');
  }
  checkTraceFlags(scenario, flags, 'run');

  let result: ScenarioResult;
  if (mode === 'parallel') {
    const { runScenarioParallel } = await import('../run-parallel.ts');
    result = await runScenarioParallel(spec, {
      cpus: flags.cpus,
      maxSteps: flags.maxSteps,
      timeoutMs: flags.timeout,
    });
  } else {
    const opts: RunScenarioOptions = {
      cpus: flags.cpus,
      strategy: flags.strategy,
      seed: flags.seed,
      depth: flags.depth,
      steps: flags.steps,
      quantum: flags.quantum,
      replay: flags.replay,
      maxSteps: flags.maxSteps,
      timeoutMs: flags.timeout,
      traceEvents: flags.events,
      tracePercpu: flags.tracePercpu,
    };
    // runScenario turns what goes wrong in the run into reports; what it throws is
    // about its input (the machine options, a replay string of another scenario).
    try {
      result = runScenario(
        scenario,
        flags.timeline === undefined ? opts : timelineRunOptions(scenario, opts),
      );
    } catch (e) {
      if (e instanceof ErrnoError) throw new InputError(e.message);
      throw e;
    }
  }
  process.stdout.write(`${formatReport(result, spec)}\n`);
  if (flags.trace !== undefined) {
    const tracer = result.machine.tracer;
    if (tracer === null)
      throw new InputError(`--trace: the scenario '${scenario.name}' turns tracing off`);
    const format = flags.format ?? 'ftrace';
    writeFileSync(flags.trace, format === 'json' ? tracer.toChromeJson() : tracer.toFtrace());
    process.stdout.write(`trace:    ${flags.trace} (${format})\n`);
  }
  if (flags.timeline !== undefined) {
    process.stdout.write(writeTimeline(result, spec, flags.timeline));
  }
  return exitStatus(result);
}

/** Refuses a `--trace` file that cannot be written, before a run that may take minutes. */
export function checkWritable(path: string): void {
  checkOutputWritable('--trace', path);
}

/**
 * The exit status of a run (commands/exit-status.ts): 3 for an emulator
 * exception, 2 when the scenario's own code threw (its setup or an
 * invariant: the scenario file is broken), 1 for a failed invariant or a
 * kernel report, 0 otherwise.
 */
export function exitStatus(result: ScenarioResult): number {
  if (result.crash !== undefined) return EXIT_EMULATOR_BUG;
  if (result.errors.length > 0) return EXIT_USAGE;
  return result.ok && reportCount(result) === 0 ? EXIT_OK : EXIT_FAILED;
}
