/**
 * `percpu-emu explore <scenario> [options]`: runs the scenario under seeds
 * S, S+1, ... with a progress line, stops at the first run where an
 * invariant fails or the kernel makes a report, and prints its report with
 * the replay command; exit status 1 then. `--jobs N` runs seeds on N
 * worker threads (explore-pool.ts) with the same answer as one.
 *
 * @example
 * // npx percpu-emu explore stale-pointer-racy --runs 50
 */

import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import type { Tier } from '../../cpu/wasm/tier.ts';
import { ErrnoError } from '../../segments/errno.ts';
import type { ExploreResult } from '../explore.ts';
import { explorePool } from '../explore-pool.ts';
import { loadScenario } from '../load-scenario.ts';
import { minimize, type ScheduleCost } from '../minimize.ts';
import { formatReport } from '../report.ts';
import { runScenario, type ScenarioResult, type StrategyName } from '../run-scenario.ts';
import { timelineRunOptions } from '../timeline-run.ts';
import { asInput, EXIT_OK, EXIT_STATUS_HELP, InputError } from './exit-status.ts';
import { integerIn, SEED_MAX } from './option-values.ts';
import { exitStatus, refuseForStrategy, scheduleOptions } from './run.ts';
import { checkTraceFlags, type TraceFlags, traceOptions, writeTimeline } from './trace-options.ts';

interface ExploreFlags extends TraceFlags {
  runs?: number;
  firstSeed?: number;
  cpus?: number;
  strategy?: StrategyName;
  depth?: number;
  steps?: number;
  maxSteps?: number;
  timeout?: number;
  jobs?: number;
  tier?: Tier;
}

const RUNS_MAX = 1_000_000_000;
const JOBS_MAX = 256;

export function register(program: Command, finish: (status: number) => void): void {
  const cmd = program
    .command('explore')
    .summary('run a scenario under many seeds until one breaks')
    .description(
      'Runs the scenario under seeds S, S+1, ... (on --jobs threads), stops at the first ' +
        'run where an invariant fails or the kernel makes a report (oops, KASAN, ' +
        'DEBUG_PREEMPT, ...), and prints that run with the command that replays it. ' +
        'Says so when every seed held.',
    )
    .argument('<scenario>', 'a scenario file, or the name of a shipped scenario')
    .addOption(
      new Option('--runs <n>', `how many seeds to try, 1..${RUNS_MAX} (default 100)`).argParser(
        integerIn(1, RUNS_MAX),
      ),
    )
    .addOption(
      new Option(
        '--jobs <n>',
        `worker threads running seeds at once, 1..${JOBS_MAX} (default: the number of cores, ${availableParallelism()} here); the answer is the same as with 1: the lowest failing seed`,
      ).argParser(integerIn(1, JOBS_MAX)),
    )
    .addOption(
      new Option(
        '--first-seed <s>',
        `the first seed, 0..${SEED_MAX} (default 1); seeds S..S+runs-1 must stay within 32 bits`,
      ).argParser(integerIn(0, SEED_MAX)),
    );
  for (const opt of scheduleOptions('explore')) {
    if (opt.attributeName() === 'strategy') {
      opt.description =
        'pct (default): random priorities changed at --depth - 1 random points; ' +
        'random: a random CPU for a random quantum, random migrations; ' +
        '(rr draws no random numbers, so every seed would run the same schedule: use run)';
      opt.choices(['pct', 'random']);
    }
    if (opt.attributeName() === 'timeout') {
      opt.description = `wall-clock limit of each run in ms, 1..${0x7fff_ffff}: a run that reaches it stops and is judged as it is (default: none)`;
    }
    cmd.addOption(opt);
  }
  for (const opt of traceOptions('explore')) cmd.addOption(opt);
  cmd
    .addHelpText(
      'after',
      `${EXIT_STATUS_HELP}
Examples:
  percpu-emu explore stale-pointer-racy --runs 50
  percpu-emu explore ./my-scenario.ts --strategy random --first-seed 1000 --runs 500
  percpu-emu explore stale-pointer-racy --timeline first-failure.html
`,
    )
    .action(async (spec: string, flags: ExploreFlags) => finish(await run(cmd, spec, flags)));
}

async function run(cmd: Command, spec: string, flags: ExploreFlags): Promise<number> {
  const strategy = flags.strategy ?? 'pct';
  refuseForStrategy(cmd, strategy);
  const runs = flags.runs ?? 100;
  const firstSeed = flags.firstSeed ?? 1;
  if (firstSeed + runs - 1 > SEED_MAX) {
    throw new InputError(
      `--first-seed ${firstSeed} --runs ${runs} would go past seed ${SEED_MAX}: seeds are 32 bits`,
    );
  }
  const scenario = await asInput(() => loadScenario(spec));
  checkTraceFlags(scenario, flags, 'explore');
  const opts = {
    cpus: flags.cpus,
    strategy,
    depth: flags.depth,
    steps: flags.steps,
    maxSteps: flags.maxSteps,
    timeoutMs: flags.timeout,
    tier: flags.tier,
  };
  const tty = process.stderr.isTTY === true;
  let result: ExploreResult;
  try {
    result = await explorePool(spec, {
      ...opts,
      runs,
      firstSeed,
      jobs: flags.jobs,
      failOnReports: true,
      onProgress: (done, failures) => {
        if (tty)
          process.stderr.write(
            `\r${done}/${runs} seeds from ${firstSeed}${failures > 0 ? `, ${failures} failing` : ''}`,
          );
      },
    });
  } catch (e) {
    // What runScenario throws is about its input, as for `run`.
    if (e instanceof ErrnoError) throw new InputError(e.message);
    throw e;
  }
  if (tty) process.stderr.write('\n');
  if (result.failure === undefined) {
    process.stdout.write(
      `${scenario.name}: every invariant held on ${result.runs} seeds (${firstSeed}..${firstSeed + result.runs - 1}), and the kernel made no report\n`,
    );
    if (flags.timeline !== undefined)
      process.stdout.write('timeline: none written: no seed failed\n');
    return EXIT_OK;
  }
  const f = result.failure;
  const what =
    f.crash !== undefined
      ? 'hit an emulator bug'
      : f.errors.length > 0
        ? "made the scenario's own code throw"
        : f.timedOut !== undefined
          ? `was stopped by the time limit in ${f.timedOut.where}`
          : f.ok
            ? 'made the kernel report'
            : 'broke an invariant';
  process.stdout.write(
    `${scenario.name}: seed ${f.seed} ${what} (run ${result.runs} of ${runs})\n`,
  );
  process.stdout.write(`${formatReport(f, spec)}\n`);
  if (f.crash === undefined && f.errors.length === 0 && f.verdicts.some((v) => !v.ok)) {
    const m = minimize(scenario, f, { cpus: flags.cpus, maxSteps: flags.maxSteps });
    const cost = (c: ScheduleCost) =>
      `${c.preemptions} forced preemptions, ${c.migrations} migrations, ${c.switches} context switches`;
    process.stdout.write(
      `minimized: ${cost(m)} (the schedule found: ${cost(m.original)}), breaking '${m.invariant}' still\n` +
        `minimized replay: npx percpu-emu run ${spec} --cpus ${f.machine.nrCpus} --replay ${m.replay}\n`,
    );
  }
  if (flags.timeline !== undefined) writeFailureTimeline(f, spec, flags);
  return exitStatus(f);
}

/**
 * The timeline of the failing run: replayed from its replay string with the
 * timeline's tracing (the explored runs trace only the default events, into
 * rings too small for a picture of the whole run), checked to fail the
 * same way.
 */
function writeFailureTimeline(
  f: ScenarioResult & { seed: number },
  spec: string,
  flags: ExploreFlags,
): void {
  const file = flags.timeline!;
  if (f.replay === '') {
    process.stdout.write(`timeline: none: the run was stopped inside host code, no replay\n`);
    return;
  }
  const again = runScenario(
    f.scenario,
    timelineRunOptions(f.scenario, {
      cpus: f.machine.nrCpus,
      replay: f.replay,
      maxSteps: flags.maxSteps,
      timeoutMs: flags.timeout,
      traceEvents: flags.events,
      tracePercpu: flags.tracePercpu,
    }),
  );
  const verdicts = (r: ScenarioResult) => r.verdicts.map((v) => v.ok).join();
  if (verdicts(again) !== verdicts(f)) {
    process.stdout.write(
      `timeline: warning: the replay of seed ${f.seed} did not judge the invariants as the run did\n`,
    );
  }
  process.stdout.write(writeTimeline(again, spec, file));
}
