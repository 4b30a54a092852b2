/**
 * Where timer interrupts land, as a strategy's choice: each tick arrives a
 * random 0..jitter instructions after its nominal time (a multiple of the
 * tick interval on the CPU's clock), as the kernel's timer is not
 * cycle-exact either. Without it a pinned task meets the tick at the same
 * instruction of its loop on every seed, and no seed explores an
 * interrupt race. The draws come from a stream of their own, so a
 * strategy's other choices for a seed do not depend on how many ticks
 * there were.
 *
 * @example
 * const strategy = { ...rest, tickDelay: tickJitter(seed) }; // up to half an interval late
 */

import { ErrnoError } from '../../segments/errno.ts';
import type { Kernel } from '../kernel.ts';
import { Rng } from '../rng.ts';

/** Separates the tick stream from a strategy's main stream of the same seed. */
const TICK_STREAM = 0x7469_636b;

/**
 * A `tickDelay` for a strategy of seed `seed`: delays uniform in
 * 0..`jitter` (default: half the machine's tick interval; 0 keeps ticks exact).
 */
export function tickJitter(seed: number, jitter?: number): (k: Kernel, cpu: number) => number {
  if (jitter !== undefined && (!Number.isSafeInteger(jitter) || jitter < 0))
    throw new ErrnoError('EINVAL', `tick jitter ${jitter} must be an integer >= 0`);
  const rng = new Rng((seed ^ TICK_STREAM) >>> 0);
  return (k) => {
    const j = jitter ?? k.opts.tickInterval >> 1;
    return j === 0 ? 0 : rng.below(j + 1);
  };
}
