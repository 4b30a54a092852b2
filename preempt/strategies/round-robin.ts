/**
 * Round-robin: CPU 0, 1, ..., n-1, each for the same quantum, again and
 * again. Every CPU's clock advances evenly, as on real parallel hardware.
 *
 * @example
 * runDeterministic(k, roundRobin({ quantum: 100 }));
 */

import type { Strategy } from '../engine.ts';
import type { Kernel } from '../kernel.ts';
import type { Decision } from '../schedule-log.ts';

export function roundRobin(opts: { quantum?: number } = {}): Strategy {
  const quantum = opts.quantum ?? 100;
  let next = 0;
  return {
    name: `rr(quantum=${quantum})`,
    decide(k: Kernel): Decision {
      const cpu = next;
      next = (next + 1) % k.nrCpus;
      return { kind: 'run', cpu, quantum };
    },
  };
}
