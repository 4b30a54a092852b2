/**
 * Which tier runs a program, and the cache of its translations. A
 * translation (translate.ts) is made once per program and thread and kept
 * beside the program; each CPU makes its own instance of the module, bound
 * to its helpers (instance.ts).
 *
 * `auto` interprets a program until it has run `JIT_THRESHOLD` instructions
 * per instruction of its length on this thread, then compiles it; `jit` compiles it before its first
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
 * Instructions a program runs in the interpreter, per instruction of its
 * length, before `auto` compiles it: the rent-or-buy rule, compile once
 * interpreting has cost what compiling costs. Measured with `npm run bench
 * -- cpu` (its `jit_compile` row): translating and compiling one
 * instruction takes as long as the interpreter takes for about 1,000
 * (17-27 us against 25-40 M insn/s on the loaded 2-core CI machine).
 */
export const JIT_THRESHOLD = 1000;

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
  return s.executed >= JIT_THRESHOLD * prog.length;
}
