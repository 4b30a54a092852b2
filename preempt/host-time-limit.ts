/**
 * A wall-clock limit on host code that may never return: a scenario's setup
 * or invariant that loops, a native task step that never yields, a kernel
 * walk over corrupted memory. JS cannot interrupt a synchronous loop from
 * the same thread, but V8 can terminate it: `vm`'s `timeout` runs the call
 * under a watchdog that ends the execution, whatever function it is in.
 * Termination skips `finally` blocks, so the machine is left as it was at
 * that instant (its current CPU still set), which is what the time-out
 * report reads to say where it was.
 *
 * Cooperative limits (the engine's `timeoutMs`, checked between decisions)
 * end ordinary runs cleanly; this is the backstop behind them.
 *
 * @example
 * const r = withHostTimeLimit(500, () => scenario.setup(k));
 * if (!r.done) console.log('setup did not return within 500 ms');
 */

import vm from 'node:vm';

export type HostTimeLimited<T> =
  | { readonly done: true; readonly value: T }
  | { readonly done: false };

/**
 * Calls `fn`, terminating it after `ms` ms of wall time (no limit when
 * `ms` is undefined). Returns its value, or `done: false` when terminated;
 * an exception `fn` throws is rethrown.
 */
export function withHostTimeLimit<T>(ms: number | undefined, fn: () => T): HostTimeLimited<T> {
  if (ms === undefined) return { done: true, value: fn() };
  const sandbox = vm.createContext({ fn });
  try {
    const value = vm.runInContext('fn()', sandbox, { timeout: Math.max(1, Math.ceil(ms)) }) as T;
    return { done: true, value };
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      return { done: false };
    }
    throw e;
  }
}
