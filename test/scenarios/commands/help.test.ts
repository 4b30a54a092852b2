import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadScenario, shippedScenarios } from '../../../scenarios/load-scenario.ts';
import { spawnCli as percpuEmu, PROJECT_ROOT as ROOT } from '../cli-process.ts';

const COMMANDS = ['run', 'explore', 'list', 'demo', 'asm', 'disasm', 'conformance'];
/** Commands with subcommands: each subcommand explains itself. */
const SUBCOMMANDS = [
  'prog show',
  'prog dump',
  'prog run',
  'xdp-bench redirect-cpu',
  'lab list',
  'lab start',
  'lab grade',
  'lab run',
];

describe('percpu-emu --help, --version and list', () => {
  it.each(COMMANDS)('%s --help explains the command and its exit status, and exits 0', (cmd) => {
    const r = percpuEmu([cmd, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`Usage: percpu-emu ${cmd}`);
    expect(r.stdout).toContain('Exit status:');
    expect(r.stdout).toMatch(/\n {2}2 {2}usage/);
    expect(r.stderr).toBe('');
  });

  it.each(['prog', 'xdp-bench', 'lab'])('%s --help lists its subcommands and exits 0', (cmd) => {
    const r = percpuEmu([cmd, '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Usage: percpu-emu ${cmd} [options] [command]`);
    for (const sub of SUBCOMMANDS.filter((s) => s.startsWith(`${cmd} `))) {
      expect(r.stdout).toMatch(new RegExp(`\\n {2}${sub.split(' ')[1]} `));
    }
  });

  it.each(SUBCOMMANDS)('%s --help explains its arguments and exits 0', (sub) => {
    const r = percpuEmu([...sub.split(' '), '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Usage: percpu-emu ${sub}`);
    expect(r.stderr).toBe('');
  });

  it('prog run, xdp-bench and lab run --help say what their options mean', () => {
    const help = (args: string[]) => percpuEmu([...args, '--help']).stdout.replace(/\s+/g, ' ');
    const prog = help(['prog', 'run']);
    expect(prog).toContain('--prog <name> a program to run; repeat it to run several in order');
    expect(prog).toContain('--set <var=value> set an integer global');
    expect(prog).toContain('--cpus <n> CPUs of the machine, 1..64');
    const bench = help(['xdp-bench', 'redirect-cpu']);
    expect(bench).toContain('--qsize <q> queue size given to every CPUMAP entry');
    expect(bench).toContain('--interval <seconds> emulated seconds between two prints');
    expect(bench).toContain('-e, --extended print every line');
    const run = help(['lab', 'run']);
    expect(run).toContain('--replay <string> rerun a recorded run exactly');
    expect(run).toContain('--seed <n> seed of the random and pct strategies');
    expect(run).not.toContain('--max-steps');
  });

  it('bad values of prog, xdp-bench and lab are usage errors (2) naming the option', () => {
    const cases: [string[], RegExp][] = [
      [['prog', 'run', 'x.o'], /required option '--prog <name>' not specified/],
      [
        ['prog', 'run', 'x.o', '--prog', 'p', '--cpus', '0'],
        /--cpus.*0 is out of range: use 1\.\.64/,
      ],
      [['prog', 'run', 'x.o', '--prog', 'p', '--set', 'nope'], /'nope' is not VAR=VALUE/],
      [
        ['prog', 'run', 'x.o', '--prog', 'p', '--cpu', '2', '--cpus', '2'],
        /--cpu 2: the machine has CPUs 0\.\.1/,
      ],
      [['prog', 'show', '/nonexistent.o'], /\/nonexistent\.o: ENOENT/],
      [
        ['xdp-bench', 'redirect-cpu', 'rss-cpumap', '--interval', '0'],
        /'0' is not a positive number of seconds/,
      ],
      [
        ['xdp-bench', 'redirect-cpu', 'rss-cpumap', '--qsize', '99999'],
        /99999 is out of range: use 1\.\.16384/,
      ],
      [
        ['xdp-bench', 'redirect-cpu', 'rss-cpumap', '--seed', '3'],
        /--seed means nothing with --strategy rr/,
      ],
      [['xdp-bench', 'devmap', 'rss-cpumap'], /unknown command 'devmap'/],
      [['lab', 'start', 'nope'], /ENOENT: no lab 'nope': the labs are counters/],
      [['lab', 'grade', 'counters', '.', '--mode', 'both'], /argument 'both' is invalid/],
      [
        ['lab', 'run', 'counters', 'two-tasks', '--replay', 'v2.x', '--seed', '1'],
        /--seed means nothing with --replay/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = percpuEmu(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });

  it('run --help says what every option means, not only its name', () => {
    const help = percpuEmu(['run', '--help']).stdout.replace(/\s+/g, ' ');
    const explained: Record<string, string> = {
      '--cpus <n>': 'number of emulated CPUs, 1..64',
      '--strategy <name>': 'how the deterministic engine picks what runs next',
      '--seed <n>': 'seed of the random and pct strategies, 0..4294967295',
      '--depth <d>': 'the bug depth d, how many ordering constraints the bug needs',
      '--steps <k>': "PCT's estimate k of the scheduling steps a run takes",
      '--quantum <q>': 'instructions each CPU runs before the next CPU gets its turn',
      '--max-steps <n>': 'stop once all CPUs together executed this many instructions',
      '--timeout <ms>': 'wall-clock limit of a run in ms, in both modes',
      '--replay <string>': 'rerun a recorded run exactly',
      '--trace <file>': 'write the per-CPU trace rings to <file>',
      '--format <format>': 'ftrace (text in the trace-cmd report shape',
      '--mode <mode>': 'deterministic: one CPU at a time under --strategy',
      '--events <groups>': "what --trace and --timeline record, as trace-cmd's -e",
      '--trace-percpu <vars>':
        'record every load, store, atomic and this_cpu op on these per-CPU variables',
      '--timeline <file>': 'write the run as one self-contained HTML page',
    };
    for (const [option, meaning] of Object.entries(explained)) {
      expect(help).toContain(`${option} `);
      expect(help).toContain(meaning);
    }
    expect(help).toContain('3 emulator bug');
  });

  it('explore --help explains its own options', () => {
    const help = percpuEmu(['explore', '--help']).stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--runs <n> how many seeds to try');
    expect(help).toContain('--first-seed <s> the first seed');
    expect(help).toContain('--depth <d> pct only: the bug depth d');
    expect(help).not.toContain('--quantum');
  });

  it('--version prints the version of package.json', () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string };
    const r = percpuEmu(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });

  it('without a command it prints the usage to standard error and exits 2', () => {
    const r = percpuEmu([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Usage: percpu-emu [options] [command]');
    for (const cmd of COMMANDS) expect(r.stderr).toContain(`  ${cmd}`);
    expect(percpuEmu(['fly']).status).toBe(2);
    expect(percpuEmu(['--help']).status).toBe(0);
  });

  it('list prints every shipped scenario with the description from its definition', async () => {
    const r = percpuEmu(['list']);
    expect(r.status).toBe(0);
    const names = shippedScenarios();
    expect(names).toContain('lost-update-racy');
    expect(names).toContain('packet-stats');
    for (const name of names) {
      const { description } = await loadScenario(name);
      expect(r.stdout).toMatch(new RegExp(`^${name} +${regExpQuote(description)}$`, 'm'));
    }
  });
});

const regExpQuote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
