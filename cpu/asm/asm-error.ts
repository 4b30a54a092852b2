/**
 * An assembly error: where (1-based line and column) and what was expected.
 *
 * @example
 * new AsmError(3, 7, "expected a register, found 'r11'").message;
 * // "EINVAL: line 3, column 7: expected a register, found 'r11'"
 */

import { ErrnoError } from '../../segments/errno.ts';
import type { Insn } from '../insn.ts';
import { InsnError, validate } from '../validate.ts';

export class AsmError extends ErrnoError {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super('EINVAL', `line ${line}, column ${column}: ${reason}`);
    this.name = 'AsmError';
  }
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
