/**
 * The `percpu-emu` command line. Each subcommand lives in its own module
 * under scenarios/commands/ and returns the process exit status.
 *
 * @example
 * // npx percpu-emu conformance ../shared/conformance
 */

type Command = { summary: string; load: () => Promise<{ main(args: string[]): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  demo: { summary: 'run the demo', load: () => import('./commands/demo.ts') },
  run: {
    summary: 'run a scenario: run <scenario> [--cpus N] [--seed S] [--strategy rr|random|pct] ...',
    load: () => import('./commands/run.ts'),
  },
  explore: {
    summary: 'run a scenario under many seeds until one breaks: explore <scenario> [--runs N] ...',
    load: () => import('./commands/explore.ts'),
  },
  conformance: {
    summary: 'run eBPF conformance .data files: conformance <files or folders...>',
    load: () => import('./commands/conformance.ts'),
  },
  asm: {
    summary: 'assemble pseudo-C (or --syntax conformance) to bytes: asm [file] [--hex]',
    load: () => import('./commands/asm.ts'),
  },
  prog: {
    summary: 'compiled BPF objects: prog show|dump|run <obj.o|x.bpf.c> [--prog NAME] ...',
    load: () => import('./commands/prog.ts'),
  },
  'xdp-bench': {
    summary:
      'xdp-bench statistics of an XDP scenario: xdp-bench redirect-cpu <scenario> [--interval T] [-e] ...',
    load: () => import('./commands/xdp-bench.ts'),
  },
  disasm: {
    summary: 'disassemble bytes (raw file, or --hex text) to pseudo-C: disasm [file]',
    load: () => import('./commands/disasm.ts'),
  },
  // The labs sit above every layer (they use only the package entry): loaded from labs/.
  lab: {
    summary:
      'the OS-course labs: lab list | start <name> [dir] | grade <name> [dir] [--json] | run ...',
    load: async () => ({ main: (await import('../labs/cli.ts')).labMain }),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: percpu-emu <command> [args]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`percpu-emu: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  return (await command.load()).main(args);
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    process.stderr.write(`percpu-emu: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
