/**
 * The exit statuses of `percpu-emu`, the same for every command, so that CI
 * can tell a caught race from a typo from a bug in the emulator:
 *
 *   0  every invariant held (and no report was made)
 *   1  an invariant failed, or the kernel made a report (oops, KASAN,
 *      DEBUG_PREEMPT, soft lockup, warning, kmemleak), or the time limit
 *      stopped the run before a verdict; a failed test for `conformance`
 *   2  a usage or input error: a bad option or value, a missing or broken
 *      scenario file (its setup or an invariant threw), a replay string of
 *      another scenario, bad bytes
 *   3  an emulator bug: an exception that is not the guest's fault
 *
 * A command throws InputError for status 2; the front door (scenarios/cli.ts)
 * turns any other exception into status 3.
 *
 * @example
 * throw new InputError('--seed abc is not an integer');   // exit status 2
 */

import { ErrnoError } from '../../segments/errno.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_EMULATOR_BUG = 3;

/** The exit-status section of every command's --help. */
export const EXIT_STATUS_HELP = `
Exit status:
  0  every invariant held and the kernel made no report
  1  an invariant failed, or a report was made (oops, KASAN, DEBUG_PREEMPT,
     soft lockup, warning, kmemleak), or --timeout stopped the run before
     a verdict
  2  usage or input error (a bad option or value, a missing scenario, a
     scenario whose own code threw, a replay string of another scenario)
  3  emulator bug: an exception that is not the guest's fault
`;

/** A usage or input error: printed as its message, exit status 2. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * Runs `work` (reading input: a scenario file, bytes, a replay string) and
 * turns whatever it throws into an InputError with the same message.
 *
 * @example
 * const scenario = await asInput(() => loadScenario(spec));
 */
export async function asInput<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(e instanceof Error ? e.message : String(e));
  }
}

/**
 * Runs `work`, in which an ErrnoError is about the command's input (a
 * refused object, machine options, a replay string of another scenario):
 * it becomes an InputError with the same message, also when `work` returns
 * a promise that rejects; anything else passes.
 *
 * @example
 * const result = errnoAsInput(() => runScenario(scenario, opts));
 */
export function errnoAsInput<T>(work: () => T): T {
  const toInput = (e: unknown): never => {
    if (e instanceof ErrnoError) throw new InputError(e.message);
    throw e;
  };
  try {
    const result = work();
    return (result instanceof Promise ? result.catch(toInput) : result) as T;
  } catch (e) {
    return toInput(e);
  }
}
