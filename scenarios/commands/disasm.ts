/**
 * `percpu-emu disasm [file] [--hex] [--labels] [--alu32] [--helper-names]`:
 * disassembles eBPF bytes to pseudo-C, one instruction per line. The input
 * (a file, or standard input when there is none or `-`) is raw bytes, or
 * with `--hex` hex text such as `percpu-emu asm --hex` prints (whitespace and
 * commas between bytes, optional `0x`, `#` comments). Raw input that is not a
 * whole number of 8-byte slots, or that looks like text (no NUL byte, only
 * printable characters: eBPF code always has zero bytes), is refused with
 * exit status 2.
 *
 * @example
 * // printf 'b7 00 00 00 01 00 00 00\n95 00 00 00 00 00 00 00\n' | npx percpu-emu disasm --hex
 * // r0 = 1
 * // exit
 */

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { printableReason } from '../../cpu/asm/asm-error.ts';
import { type DisasmOptions, disassemble } from '../../cpu/disasm.ts';
import { decode, INSN_SIZE } from '../../cpu/insn.ts';
import { EXIT_OK, InputError } from './exit-status.ts';

interface DisasmFlags {
  hex?: boolean;
  labels?: boolean;
  alu32?: boolean;
  helperNames?: boolean;
}

export function register(program: Command, finish: (status: number) => void): void {
  program
    .command('disasm')
    .summary('disassemble eBPF bytes to pseudo-C')
    .description(
      'Disassembles eBPF instruction bytes (raw, or hex text with --hex) to pseudo-C, ' +
        'one instruction per line; the output reassembles with `percpu-emu asm`.',
    )
    .argument('[file]', 'the bytes; standard input when absent or -')
    .option(
      '--hex',
      'the input is hex text as `asm --hex` prints it (whitespace or commas between bytes, optional 0x, # comments)',
    )
    .option(
      '--labels',
      'name jump targets (`goto LBB0_4`) so that the output reassembles with labels',
    )
    .option(
      '--alu32',
      'print 32-bit loads and stores with wN registers, as `llvm-objdump --mattr=+alu32` does',
    )
    .option('--helper-names', 'print `call bpf_map_lookup_elem` instead of `call 1`')
    .addHelpText(
      'after',
      `
Exit status:
  0  disassembled
  2  usage or input error: a file that cannot be read, bad hex text (with its
     line and column), bytes that are not a whole number of 8-byte slots, raw
     input that looks like text (give --hex, or assemble it with asm)
  3  emulator bug

Example:
  percpu-emu asm prog.s -o prog.bin && percpu-emu disasm prog.bin
`,
    )
    .action((file: string | undefined, flags: DisasmFlags) => finish(run(file, flags)));
}

function run(file: string | undefined, flags: DisasmFlags): number {
  const input = file === '-' ? undefined : file;
  const name = input ?? '<stdin>';
  let raw: Buffer;
  try {
    raw = readFileSync(input ?? 0);
  } catch (err) {
    throw new InputError(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const bytes = flags.hex === true ? parseHex(raw.toString('utf8'), name) : new Uint8Array(raw);
  if (flags.hex !== true && looksLikeText(bytes)) {
    throw new InputError(
      `${name} looks like text, not eBPF bytes: give --hex for hex text, or assemble source with \`percpu-emu asm\``,
    );
  }
  if (bytes.length % INSN_SIZE !== 0) {
    throw new InputError(
      `${name}: ${bytes.length} bytes is not a whole number of ${INSN_SIZE}-byte instructions`,
    );
  }
  const options: DisasmOptions = {
    labels: flags.labels,
    alu32: flags.alu32,
    helperNames: flags.helperNames,
  };
  let lines: string[];
  try {
    lines = disassemble(decode(bytes), options);
  } catch (err) {
    throw new InputError(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
  return EXIT_OK;
}

/**
 * Text rather than code: every eBPF instruction has zero bytes (an unused
 * register nibble, offset or immediate), text has none and is printable.
 */
function looksLikeText(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  for (const b of bytes) {
    const printable = (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d;
    if (!printable) return false;
  }
  return true;
}

/** Bytes from hex text: pairs of digits, whitespace or commas between groups, `#` comments. */
function parseHex(text: string, name: string): Uint8Array {
  const bytes: number[] = [];
  text.split(/\r?\n/).forEach((lineText, index) => {
    const code = lineText.split('#')[0];
    for (const m of code.matchAll(/[^\s,]+/g)) {
      const word = m[0].replace(/^0[xX]/, '');
      if (!/^([0-9a-fA-F]{2})+$/.test(word)) {
        const col = (m.index ?? 0) + 1;
        throw new InputError(
          `${name}:${index + 1}:${col}: '${printableReason(m[0])}' is not whole bytes of hex`,
        );
      }
      for (let k = 0; k < word.length; k += 2)
        bytes.push(Number.parseInt(word.slice(k, k + 2), 16));
    }
  });
  return Uint8Array.from(bytes);
}
