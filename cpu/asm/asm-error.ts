/**
 * An assembly error: where (1-based line and column) and what was expected.
 * The reason quotes the source, so it is made printable first: control
 * characters are escaped (`\x00`) and a word longer than 48 characters (a
 * million-digit immediate) is cut to its start and its length.
 *
 * @example
 * new AsmError(3, 7, "expected a register, found 'r11'").message;
 * // "EINVAL: line 3, column 7: expected a register, found 'r11'"
 */

import { ErrnoError } from '../../segments/errno.ts';
import type { Insn } from '../insn.ts';
import { InsnError, validate } from '../validate.ts';

export class AsmError extends ErrnoError {
  /** The reason, printable (see the file comment). */
  readonly reason: string;

  constructor(
    readonly line: number,
    readonly column: number,
    reason: string,
    /**
     * Which program: a name (`inc:3:7: reason`, as the CLI names a file), or
     * the call site that assembled it (`my.ts:20:23: program line 3, column 7: reason`).
     */
    readonly program?: { readonly name: string } | { readonly site: string },
  ) {
    const printable = printableReason(reason);
    const where =
      program === undefined
        ? `line ${line}, column ${column}`
        : 'name' in program
          ? `${program.name}:${line}:${column}`
          : `${program.site}: program line ${line}, column ${column}`;
    super('EINVAL', `${where}: ${printable}`);
    this.reason = printable;
    this.name = 'AsmError';
  }

  /** The same error, saying which program it is in. */
  inProgram(program: { readonly name: string } | { readonly site: string }): AsmError {
    return new AsmError(this.line, this.column, this.reason, program);
  }
}

const LONGEST_WORD = 48;

/** `reason` with control characters escaped and overlong words cut. */
export function printableReason(reason: string): string {
  const escaped = reason.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping them is the point
    /[\x00-\x1f\x7f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return escaped.replace(
    new RegExp(`[^\\s'"]{${LONGEST_WORD + 1},}`, 'g'),
    (w) => `${w.slice(0, 24)}... (${w.length} characters)`,
  );
}

/**
 * Runs validate() and reports its complaint as an AsmError at the source
 * position of the instruction slot it names.
 *
 * @example
 * validateAtSource(insns, (slot) => positions[slot], lastLine);
 */
export function validateAtSource(
  insns: readonly Insn[],
  positionOf: (slot: number) => { line: number; column: number } | undefined,
  lastLine: number,
): void {
  try {
    validate(insns);
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    const at = e instanceof InsnError ? positionOf(e.index) : undefined;
    if (at === undefined) throw new AsmError(lastLine, 1, e.detail);
    throw new AsmError(at.line, at.column, (e as InsnError).reason);
  }
}
