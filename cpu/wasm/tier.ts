/**
 * Which tier runs a program, and the cache of its translations. A
 * translation (translate.ts) is made once per program and thread and kept
 * beside the program; each CPU makes its own instance of the module, bound
 * to its helpers (instance.ts).
 *
 * `auto` interprets a program until it has run `JIT_THRESHOLD` instructions
 * on this thread, then compiles it; `jit` compiles it before its first
 * instruction; `interp` never compiles. A program the translator refuses
 * (too many blocks) or a memory without a WebAssembly memory behind it stays
 * with the interpreter.
 *
 * @example
 * const cpu = new Cpu({ memory, tier: 'jit' });
 */

import type { LoadedProgram } from '../program.ts';
import { type Translation, translate } from './translate.ts';

export type Tier = 'interp' | 'jit' | 'auto';

export const TIERS: readonly Tier[] = ['interp', 'jit', 'auto'];

/**
 * Instructions a program runs in the interpreter before `auto` compiles it.
 * Measured (bench `cpu` prints the compile cost): translating and compiling
 * costs about as much as interpreting 20 instructions per instruction of
 * the program, so a program that has run 20,000 instructions has paid for
 * a 1,000-instruction translation in the interpreter already.
 */
export const JIT_THRESHOLD = 20_000;

interface ProgramState {
  /** Instructions interpreted so far, under `auto`. */
  executed: number;
  /** The translation; null when it was refused. */
  translation: Translation | null | undefined;
}

const states = new WeakMap<LoadedProgram, ProgramState>();

function state(prog: LoadedProgram): ProgramState {
  let s = states.get(prog);
  if (s === undefined) {
    s = { executed: 0, translation: undefined };
    states.set(prog, s);
  }
  return s;
}

/** The translation of `prog`, compiling it now; null if the translator refuses it. */
export function translationOf(prog: LoadedProgram): Translation | null {
  const s = state(prog);
  if (s.translation === undefined) {
    try {
      s.translation = translate(prog);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      s.translation = null;
    }
  }
  return s.translation;
}

/**
 * Under `auto`: counts `executed` interpreted instructions of `prog` and says
 * whether it is time to compile it.
 */
export function hot(prog: LoadedProgram, executed: number): boolean {
  const s = state(prog);
  if (s.translation !== undefined) return true;
  s.executed += executed;
  return s.executed >= JIT_THRESHOLD;
}
