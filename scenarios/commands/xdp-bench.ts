/**
 * `percpu-emu xdp-bench redirect-cpu <scenario> [options]`: runs an XDP
 * scenario (one whose setup makes a device, a CPUMAP and traffic) and
 * prints xdp-bench's redirect-cpu statistics every --interval seconds of
 * emulated time, then the exit summary; `--help` explains every option.
 *
 * @example
 * // npx percpu-emu xdp-bench redirect-cpu rss-cpumap --interval 0.01 -e
 */

import { type Command, InvalidArgumentError, Option } from 'commander';
import { NR_CPUS } from '../../percpu/first-chunk.ts';
import { EXIT_STATUS_HELP } from './exit-status.ts';
import { integerIn, SEED_MAX, shorten } from './option-values.ts';
import { refuseForStrategy } from './run.ts';
import type { XdpBenchFlags } from './xdp-bench-run.ts';

/** ptr_ring sizes the kernel accepts for a cpumap entry (kernel/bpf/cpumap.c: 1..16384). */
const QSIZE_MAX = 16384;

export function register(program: Command, finish: (status: number) => void): void {
  const bench = program
    .command('xdp-bench')
    .summary("xdp-bench's statistics of an XDP scenario (redirect-cpu)")
    .description(
      'Runs an XDP scenario and prints the statistics xdp-bench (from xdp-tools) prints ' +
        'for the same setup, counted from the tracepoints the emulated kernel fires.',
    );
  const cmd = bench
    .command('redirect-cpu')
    .summary('receive, redirect to CPUMAP entries, and the cpumap kthreads')
    .description(
      'Runs a scenario whose setup makes a device, a CPUMAP and traffic, and prints ' +
        "xdp-bench redirect-cpu's lines every --interval emulated seconds (receive per CPU, " +
        'cpumap enqueue per source and target CPU, kthread, xdp_exception, drops), then ' +
        'the summary. Exit status 1 when an invariant of the scenario fails.',
    )
    .argument('<scenario>', 'a scenario file, or the name of a shipped XDP scenario')
    .addOption(
      new Option(
        '--cpus <n>',
        `number of emulated CPUs, 1..${NR_CPUS} (default: the scenario's)`,
      ).argParser(integerIn(1, NR_CPUS)),
    )
    .addOption(
      new Option(
        '--qsize <q>',
        `queue size given to every CPUMAP entry the scenario made, 1..${QSIZE_MAX} (default: the scenario's)`,
      ).argParser(integerIn(1, QSIZE_MAX)),
    )
    .addOption(
      new Option(
        '--interval <seconds>',
        'emulated seconds between two prints; the shipped scenarios last tens of ' +
          'milliseconds, so try 0.01 (default 2, as xdp-bench)',
      )
        .argParser(positiveSeconds)
        .default(2),
    )
    .option('-e, --extended', 'print every line, not only the summary and the lines with drops')
    .addOption(
      new Option('--strategy <name>', "the deterministic engine's strategy (default rr)")
        .choices(['rr', 'random', 'pct'])
        .default('rr'),
    )
    .addOption(
      new Option(
        '--seed <n>',
        `seed of the random and pct strategies, 0..${SEED_MAX} (default 1)`,
      ).argParser(integerIn(0, SEED_MAX)),
    )
    .addHelpText(
      'after',
      `${EXIT_STATUS_HELP}
Examples:
  percpu-emu xdp-bench redirect-cpu rss-cpumap --interval 0.01 -e
  percpu-emu xdp-bench redirect-cpu rss-cpumap --qsize 64 --cpus 4
`,
    );
  cmd.action(async (spec: string, flags: XdpBenchFlags) => {
    refuseForStrategy(cmd, flags.strategy);
    // The network stack is loaded when this command runs, not for every command.
    const { runXdpBench } = await import('./xdp-bench-run.ts');
    finish(await runXdpBench(spec, flags));
  });
}

function positiveSeconds(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`'${shorten(text)}' is not a positive number of seconds.`);
  }
  return n;
}
