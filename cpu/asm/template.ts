/**
 * The `asm` tagged template: pseudo-C assembly written inline in a scenario,
 * with values spliced in. A spliced number or bigint becomes its decimal text
 * (an immediate, an offset, a jump distance); a spliced object implementing
 * AsmSplice becomes its `asmName`, resolved through the same symbol table as
 * `rX = name ll` (so `r1 = ${counter} ll` loads a per-CPU variable's offset
 * and `r1 = ${map} ll` a map's fd).
 *
 * Errors are AsmErrors whose line counts from the line of the opening
 * backtick; columns count each spliced value as the text it became.
 *
 * @example
 * const counter: AsmSplice = { asmName: 'counter', asmSymbol: { kind: 'value', value: 0x40n } };
 * const { insns } = asm`
 *   r1 = ${counter} ll
 *   r1 = this_cpu_ptr(r1)
 *   r2 = ${5}
 *   lock *(u64 *)(r1 + 0) += r2
 *   exit
 * `;
 */

import { AsmError } from './asm-error.ts';
import { type AsmOptions, type AsmSymbol, type AssembledProgram, assemble } from './pseudo-c.ts';

/** An object that can be spliced into `asm` as a named symbol. */
export interface AsmSplice {
  /** The name it takes in the source; an identifier such as `counter` or `my_map`. */
  readonly asmName: string;
  readonly asmSymbol: AsmSymbol;
}

/** What may appear in `${...}` inside `asm`. */
export type AsmValue = number | bigint | AsmSplice;

export type AsmTag = (strings: TemplateStringsArray, ...values: AsmValue[]) => AssembledProgram;

/**
 * Assembles a template literal; see the file comment.
 *
 * @example
 * asm`r0 = ${42}
 *     exit`.insns[0].imm; // 42
 */
export const asm: AsmTag = asmWith({});

/**
 * An `asm` tag that assembles with the given options (kfunc names, extra
 * symbols); spliced symbols are added to `options.symbols`.
 *
 * @example
 * const kasm = asmWith({ kfuncs: { preempt_disable: 1 } });
 * kasm`call preempt_disable
 *      exit`;
 */
export function asmWith(options: AsmOptions): AsmTag {
  return (strings, ...values) => {
    const symbols = new Map<string, AsmSymbol>(symbolEntries(options.symbols));
    const spliced = new Map<string, AsmSymbol>();
    // Cooked text, so that `\n` in a one-line template is a line break as in any JS string.
    const text = (k: number) => strings[k] ?? strings.raw[k];
    let source = text(0);
    values.forEach((value, k) => {
      source += renderSplice(value, source, spliced);
      source += text(k + 1);
    });
    for (const [name, symbol] of spliced) symbols.set(name, symbol);
    return assemble(source, { ...options, symbols });
  };
}

function symbolEntries(table: AsmOptions['symbols']): Iterable<[string, AsmSymbol]> {
  if (table === undefined) return [];
  return table instanceof Map ? table : Object.entries(table as Record<string, AsmSymbol>);
}

const NAME = /^[A-Za-z_][\w.$]*$/;
const REGISTER = /^[rw][0-9]+$/;

/** The text a spliced value becomes; `before` is the source so far, for error positions. */
function renderSplice(value: unknown, before: string, spliced: Map<string, AsmSymbol>): string {
  const lines = before.split(/\r?\n/);
  const fail = (reason: string) =>
    new AsmError(lines.length, lines[lines.length - 1].length + 1, reason);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw fail(`spliced number ${value} is not a safe integer`);
    return String(value);
  }
  if (isSplice(value)) {
    const name = value.asmName;
    if (!NAME.test(name) || REGISTER.test(name)) {
      throw fail(`spliced symbol name '${name}' is not an identifier (or is a register name)`);
    }
    const earlier = spliced.get(name);
    if (earlier !== undefined && !sameSymbol(earlier, value.asmSymbol)) {
      throw fail(`two different spliced symbols are named '${name}'`);
    }
    spliced.set(name, value.asmSymbol);
    return name;
  }
  const kind = value === null ? 'null' : typeof value;
  throw fail(`cannot splice a value of type ${kind}: expected a number, bigint or AsmSplice`);
}

function isSplice(value: unknown): value is AsmSplice {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AsmSplice).asmName === 'string' &&
    typeof (value as AsmSplice).asmSymbol === 'object'
  );
}

function sameSymbol(a: AsmSymbol, b: AsmSymbol): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'value':
      return String(a.value) === String((b as typeof a).value);
    case 'map':
      return a.fd === (b as typeof a).fd;
    case 'map_value':
      return a.fd === (b as typeof a).fd && (a.offset ?? 0) === ((b as typeof a).offset ?? 0);
  }
}
