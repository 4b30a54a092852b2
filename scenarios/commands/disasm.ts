/**
 * `percpu-emu disasm [file] [--hex] [--labels] [--alu32] [--helper-names]`:
 * disassembles eBPF bytes to pseudo-C, one instruction per line. The input
 * (a file, or standard input when there is none or `-`) is raw bytes, or
 * with `--hex` hex text such as `percpu-emu asm --hex` prints (whitespace and
 * commas between bytes, optional `0x`, `#` comments). `--labels` names jump
 * targets (`goto LBB0_4`) so the output reassembles with labels;
 * `--alu32` prints 32-bit loads and stores with `wN` as
 * `llvm-objdump --mattr=+alu32` does; `--helper-names` prints
 * `call bpf_map_lookup_elem` instead of `call 1`.
 *
 * Exit status: 0 on success, 1 on a bad input (printed with its line and
 * column for hex text), 2 on a usage error.
 *
 * @example
 * // printf 'b7 00 00 00 01 00 00 00\n95 00 00 00 00 00 00 00\n' | npx percpu-emu disasm --hex
 * // r0 = 1
 * // exit
 */

import { readFileSync } from 'node:fs';
import { type DisasmOptions, disassemble } from '../../cpu/disasm.ts';
import { decode } from '../../cpu/insn.ts';

const USAGE = 'usage: percpu-emu disasm [file] [--hex] [--labels] [--alu32] [--helper-names]\n';

interface DisasmArgs {
  file?: string;
  hex: boolean;
  options: DisasmOptions;
}

export async function main(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    process.stderr.write(`percpu-emu disasm: ${parsed}\n${USAGE}`);
    return 2;
  }
  const name = parsed.file ?? '<stdin>';
  try {
    const input = readFileSync(parsed.file ?? 0);
    const bytes = parsed.hex ? parseHex(input.toString('utf8'), name) : new Uint8Array(input);
    const lines = disassemble(decode(bytes), parsed.options);
    process.stdout.write(lines.map((l) => `${l}\n`).join(''));
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      `percpu-emu disasm: ${err instanceof HexError ? message : `${name}: ${message}`}\n`,
    );
    return 1;
  }
}

function parseArgs(args: string[]): DisasmArgs | string {
  const parsed: DisasmArgs = { hex: false, options: {} };
  for (const arg of args) {
    if (arg === '--hex') parsed.hex = true;
    else if (arg === '--labels') parsed.options.labels = true;
    else if (arg === '--alu32') parsed.options.alu32 = true;
    else if (arg === '--helper-names') parsed.options.helperNames = true;
    else if (arg.startsWith('-') && arg !== '-') return `unknown option '${arg}'`;
    else if (parsed.file !== undefined)
      return `only one input file is allowed, got '${parsed.file}' and '${arg}'`;
    else if (arg !== '-') parsed.file = arg;
  }
  return parsed;
}

class HexError extends Error {}

/** Bytes from hex text: pairs of digits, whitespace or commas between groups, `#` comments. */
function parseHex(text: string, name: string): Uint8Array {
  const bytes: number[] = [];
  text.split(/\r?\n/).forEach((lineText, index) => {
    const code = lineText.split('#')[0];
    for (const m of code.matchAll(/[^\s,]+/g)) {
      const word = m[0].replace(/^0[xX]/, '');
      if (!/^([0-9a-fA-F]{2})+$/.test(word)) {
        const col = (m.index ?? 0) + 1;
        throw new HexError(`${name}:${index + 1}:${col}: '${m[0]}' is not whole bytes of hex`);
      }
      for (let k = 0; k < word.length; k += 2)
        bytes.push(Number.parseInt(word.slice(k, k + 2), 16));
    }
  });
  return Uint8Array.from(bytes);
}
