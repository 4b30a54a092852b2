/**
 * `percpu-emu asm [file] [--hex] [-o out] [--syntax pseudo-c|conformance]`:
 * assembles a source file (standard input when there is none, or `-`) to
 * eBPF bytes. `--hex` prints the bytes as hex text, one instruction slot
 * (8 bytes) per line; `-o out` writes them to a file (raw, or hex with
 * `--hex`). Without either, raw bytes go to standard output, or hex text if
 * standard output is a terminal. The default syntax is pseudo-C
 * (cpu/asm/pseudo-c.ts); `--syntax conformance` reads the conformance
 * suite's (`mov32 %r0, 0`).
 *
 * Exit status: 0 on success, 1 on an assembly or I/O error (printed as
 * `file:line:column: reason`), 2 on a usage error.
 *
 * @example
 * // echo 'r0 = 1
 * // exit' | npx percpu-emu asm --hex
 * // b7 00 00 00 01 00 00 00
 * // 95 00 00 00 00 00 00 00
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { AsmError } from '../../cpu/asm/asm-error.ts';
import { assembleConformance } from '../../cpu/asm/conformance-syntax.ts';
import { assemble } from '../../cpu/asm/pseudo-c.ts';
import { encode, INSN_SIZE } from '../../cpu/insn.ts';

const USAGE = 'usage: percpu-emu asm [file] [--hex] [-o out] [--syntax pseudo-c|conformance]\n';

interface AsmArgs {
  file?: string;
  hex: boolean;
  out?: string;
  syntax: 'pseudo-c' | 'conformance';
}

export async function main(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    process.stderr.write(`percpu-emu asm: ${parsed}\n${USAGE}`);
    return 2;
  }
  const name = parsed.file ?? '<stdin>';
  let bytes: Uint8Array;
  try {
    const source = readFileSync(parsed.file ?? 0, 'utf8');
    const program =
      parsed.syntax === 'conformance' ? assembleConformance(source) : assemble(source);
    bytes = encode(program.insns);
  } catch (err) {
    process.stderr.write(`percpu-emu asm: ${describeError(name, err)}\n`);
    return 1;
  }
  const hex = parsed.hex || (parsed.out === undefined && process.stdout.isTTY === true);
  const output = hex ? hexLines(bytes) : bytes;
  try {
    if (parsed.out !== undefined) writeFileSync(parsed.out, output);
    else process.stdout.write(output);
  } catch (err) {
    process.stderr.write(`percpu-emu asm: ${describeError(parsed.out ?? '<stdout>', err)}\n`);
    return 1;
  }
  return 0;
}

function parseArgs(args: string[]): AsmArgs | string {
  const parsed: AsmArgs = { hex: false, syntax: 'pseudo-c' };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--hex') {
      parsed.hex = true;
    } else if (arg === '-o' || arg === '--output') {
      if (i + 1 >= args.length) return `${arg} needs a file name`;
      parsed.out = args[++i];
    } else if (arg === '--syntax') {
      const syntax = args[++i];
      if (syntax !== 'pseudo-c' && syntax !== 'conformance') {
        return `--syntax must be pseudo-c or conformance, not '${syntax ?? ''}'`;
      }
      parsed.syntax = syntax;
    } else if (arg.startsWith('-') && arg !== '-') {
      return `unknown option '${arg}'`;
    } else if (parsed.file !== undefined) {
      return `only one input file is allowed, got '${parsed.file}' and '${arg}'`;
    } else if (arg !== '-') {
      parsed.file = arg;
    }
  }
  return parsed;
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
  return `${name}: ${err instanceof Error ? err.message : String(err)}`;
}
