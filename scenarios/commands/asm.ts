/**
 * `percpu-emu asm [file] [--hex] [-o out] [--syntax pseudo-c|conformance]`:
 * assembles a source file (standard input when there is none, or `-`) to
 * eBPF bytes. `--hex` prints the bytes as hex text, one instruction slot
 * (8 bytes) per line; `-o out` writes them to a file (raw, or hex with
 * `--hex`). Without either, raw bytes go to standard output, or hex text if
 * standard output is a terminal. The default syntax is pseudo-C
 * (cpu/asm/pseudo-c.ts); `--syntax conformance` reads the conformance
 * suite's (`mov32 %r0, 0`). An assembly error is printed as
 * `file:line:column: reason`, exit status 2.
 *
 * @example
 * // echo 'r0 = 1
 * // exit' | npx percpu-emu asm --hex
 * // b7 00 00 00 01 00 00 00
 * // 95 00 00 00 00 00 00 00
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { AsmError, printableReason } from '../../cpu/asm/asm-error.ts';
import { assembleConformance } from '../../cpu/asm/conformance-syntax.ts';
import { assemble } from '../../cpu/asm/pseudo-c.ts';
import { encode, INSN_SIZE } from '../../cpu/insn.ts';
import { EXIT_OK, InputError } from './exit-status.ts';

interface AsmFlags {
  hex?: boolean;
  output?: string;
  syntax?: 'pseudo-c' | 'conformance';
}

export function register(program: Command, finish: (status: number) => void): void {
  program
    .command('asm')
    .summary('assemble eBPF source to bytes')
    .description(
      'Assembles pseudo-C eBPF source (the syntax of llvm-objdump and the kernel docs: ' +
        '`r0 = 1`, `*(u64 *)(r1 + 0) = r2`) to eBPF instruction bytes, 8 per slot.',
    )
    .argument('[file]', 'the source file; standard input when absent or -')
    .option(
      '--hex',
      'print hex text, one 8-byte instruction slot per line (the default when standard output is a terminal)',
    )
    .option('-o, --output <file>', 'write the bytes to <file> (raw, or hex text with --hex)')
    .addOption(
      new Option(
        '--syntax <syntax>',
        "the source syntax: pseudo-c (default) or conformance, the bpf_conformance suite's (`mov32 %r0, 0`)",
      ).choices(['pseudo-c', 'conformance']),
    )
    .addHelpText(
      'after',
      `
Exit status:
  0  assembled
  2  usage or input error: an assembly error (printed as file:line:column: reason),
     a file that cannot be read or written
  3  emulator bug

Example:
  printf 'r0 = 1\\nexit\\n' | percpu-emu asm --hex
`,
    )
    .action((file: string | undefined, flags: AsmFlags) => finish(run(file, flags)));
}

function run(file: string | undefined, flags: AsmFlags): number {
  const input = file === '-' ? undefined : file;
  const name = input ?? '<stdin>';
  let bytes: Uint8Array;
  try {
    const source = readFileSync(input ?? 0, 'utf8');
    const program = flags.syntax === 'conformance' ? assembleConformance(source) : assemble(source);
    bytes = encode(program.insns);
  } catch (err) {
    throw new InputError(describeError(name, err));
  }
  const hex = flags.hex === true || (flags.output === undefined && process.stdout.isTTY === true);
  const output = hex ? hexLines(bytes) : bytes;
  try {
    if (flags.output !== undefined) writeFileSync(flags.output, output);
    else process.stdout.write(output);
  } catch (err) {
    throw new InputError(describeError(flags.output ?? '<stdout>', err));
  }
  return EXIT_OK;
}

/** Hex text, one 8-byte instruction slot per line: `b7 00 00 00 01 00 00 00`. */
function hexLines(bytes: Uint8Array): string {
  let text = '';
  for (let at = 0; at < bytes.length; at += INSN_SIZE) {
    const slot = Array.from(bytes.subarray(at, at + INSN_SIZE), (b) =>
      b.toString(16).padStart(2, '0'),
    );
    text += `${slot.join(' ')}\n`;
  }
  return text;
}

function describeError(name: string, err: unknown): string {
  if (err instanceof AsmError) return `${name}:${err.line}:${err.column}: ${err.reason}`;
  return `${name}: ${printableReason(err instanceof Error ? err.message : String(err))}`;
}
