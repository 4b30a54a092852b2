/**
 * An assembly error: where (1-based line and column) and what was expected.
 *
 * @example
 * new AsmError(3, 7, "expected a register, found 'r11'").message;
 * // "EINVAL: line 3, column 7: expected a register, found 'r11'"
 */

import { ErrnoError } from '../../segments/errno.ts';

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
