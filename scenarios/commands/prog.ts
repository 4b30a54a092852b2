/**
 * `percpu-emu prog`: compiled BPF objects (a `.o`, or a `.c` compiled on
 * the spot with clang) on the machine.
 *
 *   prog show <obj>         sections, programs with their instruction counts,
 *                           maps with their attributes, globals with values
 *                           (what bpftool prog/map/btf would tell)
 *   prog dump <obj> [--prog NAME]
 *                           the linked programs disassembled, with the C
 *                           source line before the instructions it became
 *   prog run <obj> --prog NAME [--prog NAME ...] [--cpu N] [--cpus N]
 *            [--set VAR=VALUE ...] [--data-in FILE] [--repeat N] [--json]
 *                           loads once, test-runs the named programs in order
 *                           on one machine, prints each retval and its
 *                           bpf_trace_printk output, then every map and global
 *
 * Exit status as for every command (commands/exit-status.ts): 2 for an
 * object, program name or global the loader refuses (its errno sentence is
 * printed), 1 when a run made a kernel report (an oops, KASAN, ...).
 *
 * @example
 * // npx percpu-emu prog run counter.bpf.o --prog count --cpu 1 --set step=5 --json
 */

import { type Command, InvalidArgumentError, Option } from 'commander';
import { NR_CPUS } from '../../percpu/first-chunk.ts';
import { EXIT_STATUS_HELP, errnoAsInput, InputError } from './exit-status.ts';
import { integerIn } from './option-values.ts';
import type { ProgRunFlags } from './prog-actions.ts';

/** The loader is loaded when a prog command runs, not for every command. */
const actions = () => import('./prog-actions.ts');

const OBJECT_ARGUMENT = [
  '<object>',
  'a BPF object compiled by clang -target bpf (.o), or a .c file to compile with clang now',
] as const;

export function register(program: Command, finish: (status: number) => void): void {
  const prog = program
    .command('prog')
    .summary('compiled BPF objects: show, dump or test-run their programs')
    .description(
      'Opens a BPF object as libbpf does (ELF, BTF, .BTF.ext, .maps, global data) and shows ' +
        'what it holds, disassembles its programs with their C source lines, or loads it on ' +
        'a machine and test-runs programs (BPF_PROG_TEST_RUN) on a chosen CPU.',
    )
    .addHelpText(
      'after',
      `${EXIT_STATUS_HELP}
Examples:
  percpu-emu prog show counter.bpf.o
  percpu-emu prog dump counter.bpf.c --prog count
  percpu-emu prog run counter.bpf.o --prog count --cpu 1 --set step=5 --json
`,
    );
  prog
    .command('show')
    .summary('sections, programs, maps and globals of an object')
    .description(
      "Prints an object's sections, its programs with their types and instruction counts, " +
        'its maps with their attributes and its globals with their initial values.',
    )
    .argument(...OBJECT_ARGUMENT)
    .action(async (file: string) => {
      const { openObject, show } = await actions();
      finish(errnoAsInput(() => show(openObject(file))));
    });
  prog
    .command('dump')
    .summary('the linked programs disassembled, with their C source lines')
    .description(
      'Loads the object on a one-CPU machine (relocations applied) and disassembles each ' +
        'program, printing the C source line before the instructions it became.',
    )
    .argument(...OBJECT_ARGUMENT)
    .option('--prog <name>', 'only this program (default: every program of the object)')
    .action(async (file: string, flags: { prog?: string }) => {
      const { openObject, dump } = await actions();
      finish(errnoAsInput(() => dump(openObject(file), flags.prog)));
    });
  const run = prog
    .command('run')
    .summary('load an object and test-run programs on one machine')
    .description(
      'Loads the object once on a machine of --cpus CPUs, runs each --prog in the order ' +
        'given with BPF_PROG_TEST_RUN on --cpu, and prints each retval and its ' +
        'bpf_trace_printk output, then every global and map.',
    )
    .argument(...OBJECT_ARGUMENT)
    .addOption(
      new Option('--prog <name>', 'a program to run; repeat it to run several in order')
        .argParser((v: string, prev: string[] = []) => [...prev, v])
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--cpu <n>', 'the CPU the programs run on (default 0)')
        .argParser(integerIn(0, NR_CPUS - 1))
        .default(0),
    )
    .addOption(
      new Option('--cpus <n>', `CPUs of the machine, 1..${NR_CPUS} (default 2)`)
        .argParser(integerIn(1, NR_CPUS))
        .default(2),
    )
    .addOption(
      new Option(
        '--set <var=value>',
        'set an integer global (a const volatile in .rodata too) before the load; repeatable',
      )
        .argParser((v: string, prev: [string, string][]) => [...prev, assignment(v)])
        .default([]),
    )
    .option(
      '--data-in <file>',
      "the packet or context bytes given to each run (test_run's data_in)",
    )
    .addOption(
      new Option('--repeat <n>', 'runs of each program, 1..1000000 (default 1)')
        .argParser(integerIn(1, 1_000_000))
        .default(1),
    )
    .option('--json', 'print programs, globals and maps as one JSON object');
  run.action(async (file: string, flags: ProgRunFlags) => {
    if (flags.cpu >= flags.cpus) {
      throw new InputError(`--cpu ${flags.cpu}: the machine has CPUs 0..${flags.cpus - 1}`);
    }
    const { runPrograms } = await actions();
    finish(errnoAsInput(() => runPrograms(file, flags)));
  });
}

function assignment(text: string): [string, string] {
  const m = /^([A-Za-z_]\w*)=(.+)$/.exec(text);
  if (m === null) throw new InvalidArgumentError(`'${text}' is not VAR=VALUE.`);
  return [m[1], m[2]];
}
