/**
 * The `percpu-emu` command line, on commander: every command, option and
 * exit status is declared once and explained by `--help`. Each command
 * lives in scenarios/commands/ and registers itself on the program; this
 * front door maps what went wrong to the exit status (commands/exit-status.ts):
 * commander's usage errors and InputError to 2, any other exception, which is
 * not the guest's fault, to 3 with its stack.
 *
 * @example
 * // npx percpu-emu run --help
 * // npx percpu-emu list
 */

import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { register as asm } from './commands/asm.ts';
import { register as conformance } from './commands/conformance.ts';
import { register as demo } from './commands/demo.ts';
import { register as disasm } from './commands/disasm.ts';
import {
  EXIT_EMULATOR_BUG,
  EXIT_OK,
  EXIT_STATUS_HELP,
  EXIT_USAGE,
  InputError,
} from './commands/exit-status.ts';
import { register as explore } from './commands/explore.ts';
import { register as lab } from './commands/lab.ts';
import { register as list } from './commands/list.ts';
import { register as prog } from './commands/prog.ts';
import { register as run } from './commands/run.ts';
import { register as xdpBench } from './commands/xdp-bench.ts';

const COMMANDS = [run, explore, list, demo, prog, xdpBench, lab, asm, disasm, conformance];

/** The version in percpu-emu's package.json: beside the sources, or two folders up from dist/. */
function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    const file = new URL(up, import.meta.url);
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'percpu-emu' && pkg.version !== undefined) return pkg.version;
  }
  return 'unknown';
}

/** Runs the command line `argv` (without node and the script) and returns the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  let status: number = EXIT_OK;
  let commandName = '';
  const program = new Command('percpu-emu')
    .description(
      'A multi-core eBPF machine emulator for studying per-CPU memory, preemption races ' +
        'and per-CPU BPF maps: run scenarios, explore schedules, assemble and disassemble eBPF.',
    )
    .version(packageVersion(), '-V, --version', 'print the version of percpu-emu')
    .exitOverride()
    .showHelpAfterError('(percpu-emu <command> --help explains every option)')
    .addHelpText(
      'after',
      `${EXIT_STATUS_HELP}
Examples:
  percpu-emu list
  percpu-emu run lost-update-racy
  percpu-emu explore stale-pointer-racy --runs 50
  percpu-emu run --help
`,
    )
    .hook('preAction', (_program, action) => {
      // `prog run`, not `run`: the path from the top, for the error messages.
      const names: string[] = [];
      for (let c: Command | null = action; c !== null && c !== program; c = c.parent) {
        names.unshift(c.name());
      }
      commandName = names.join(' ');
    });
  const finish = (s: number) => {
    status = s;
  };
  for (const register of COMMANDS) register(program, finish);
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (e instanceof InputError) {
      process.stderr.write(`percpu-emu ${commandName}: ${e.message}\n`);
      return EXIT_USAGE;
    }
    const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(
      `percpu-emu ${commandName}: emulator bug (not the guest's fault), exit status 3:\n${detail}\n`,
    );
    return EXIT_EMULATOR_BUG;
  }
  return status;
}

// `percpu-emu list | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? EXIT_OK);
});

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    process.stderr.write(`percpu-emu: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = EXIT_EMULATOR_BUG;
  },
);
