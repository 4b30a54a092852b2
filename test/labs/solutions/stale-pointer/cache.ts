/**
 * cache.ts, the reference solution of lab stale-pointer (the instructor's;
 * not shipped). Part A takes the counter inside a CpuGuard for each event:
 * no preemption, so no migration, between this_cpu_ptr and the write. Part
 * B can only reach the counter through a token made from that guard.
 */

import {
  CpuGuard,
  type ExclusiveGuard,
  type Kernel,
  type PerCpuPtr,
  type PerCpuToken,
} from 'percpu-emu';

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

export function* countEvents(k: Kernel, user: CacheUser): Generator<void, void, void> {
  for (let i = 0; i < user.events; i++) {
    yield;
    using g = CpuGuard.enter(k); // preempt_disable() until the end of this iteration
    user.hits.get(g).update((n) => n + 1n);
    user.counted();
  }
}

export function* countEventsWithTokens(
  k: Kernel,
  user: TokenCacheUser,
): Generator<void, void, void> {
  for (let i = 0; i < user.events; i++) {
    yield;
    using g = CpuGuard.enter(k);
    user.hits.token(g).with((hits) => hits.update((n) => n + 1n));
    user.counted();
  }
}
