/**
 * A deliberately wrong solution of lab stale-pointer: part A guards the
 * write, but the pointer was computed before the loop, outside any guard,
 * so it is still the CPU the task started on. Part B is right.
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
  const hits = user.hits.rawCpuPtr(k);
  for (let i = 0; i < user.events; i++) {
    yield;
    using _g = CpuGuard.enter(k);
    k.memory.write64(hits, k.memory.read64(hits) + 1n);
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
