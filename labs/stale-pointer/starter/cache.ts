/**
 * cache.ts: lab stale-pointer. Edit this file.
 *
 * Every task of the lab counts the events it handles in its own counter of
 * a per-CPU cache, `DEFINE_PER_CPU(u64 [SLOTS], cache_hits)`: `user.hits`
 * is a PerCpuPtr to this task's slot. After counting an event, it calls
 * `user.counted()`, the harness's books (one `this_cpu_add`, which always
 * lands on the CPU the task is on). The grader checks that, in every CPU's
 * copy, each slot of cache_hits equals the books: every event was counted
 * on the CPU that handled it.
 *
 * The tasks are free to migrate. Between two events a task waits (the
 * `yield`): it can be preempted there and moved to another CPU.
 */

import type { ExclusiveGuard, Kernel, PerCpuPtr, PerCpuToken } from 'percpu-emu';

/** What the harness gives each task (part A). */
export interface CacheUser {
  /** This task's slot of cache_hits. */
  readonly hits: PerCpuPtr<bigint>;
  /** Events to handle. */
  readonly events: number;
  /** The books: call once per event counted. */
  counted(): void;
}

/** What the harness gives each task in part B: the counter only through a token. */
export interface TokenCacheUser {
  readonly hits: { token(guard: ExclusiveGuard): PerCpuToken<bigint> };
  readonly events: number;
  counted(): void;
}

/**
 * Part A. This version computes its CPU's counter once, before the loop:
 * after a migration it keeps writing into the unit of the CPU it left.
 * Find the race (`npx percpu-emu lab run stale-pointer migrate --strategy
 * pct --seed N --trace out.txt`), then fix it.
 */
export function* countEvents(k: Kernel, user: CacheUser): Generator<void, void, void> {
  const hits = user.hits.thisCpuPtr(k); // this CPU's counter... for now
  for (let i = 0; i < user.events; i++) {
    yield; // wait for the next event: a preemption point
    k.memory.write64(hits, k.memory.read64(hits) + 1n);
    user.counted();
  }
}

/**
 * Part B. The same loop where the counter can only be reached through a
 * PerCpuToken, which needs a live CpuGuard. Count each event with it.
 */
export function* countEventsWithTokens(
  _k: Kernel,
  user: TokenCacheUser,
): Generator<void, void, void> {
  for (let i = 0; i < user.events; i++) {
    yield;
    // Part B: count the event through user.hits.token(guard).with(...)
    user.counted();
  }
}
