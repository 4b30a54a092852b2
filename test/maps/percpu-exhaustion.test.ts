/**
 * Per-CPU maps against an exhausted per-CPU area (issue 11): creating them
 * until the allocator runs out fails with ENOMEM and leaves nothing behind;
 * closing them gives the space back at once, so the same number can be
 * created again, round after round, and once the balance worker has run the
 * allocator's statistics and metadata are what they were.
 */

import { describe, expect, it } from 'vitest';
import type { BpfMapTypeName } from '../../maps/bpf-uapi.ts';
import { type BpfMapHandle, bpfMapCreate } from '../../maps/index.ts';
import { percpuStats } from '../../percpu/percpu-stats.ts';
import { Machine } from '../../preempt/machine.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { allocatorViolations } from '../percpu/allocator-fixtures.ts';

const booted = () => new Machine({ cpus: 2, percpuChunkRegion: 512 << 10 }).boot();

/** Creates maps until one fails; returns them and the error of the one that failed. */
function exhaust(m: ReturnType<typeof booted>, type: BpfMapTypeName) {
  const maps: BpfMapHandle[] = [];
  for (;;) {
    const before = percpuStats(m.percpu).global.nrCurAlloc;
    try {
      maps.push(bpfMapCreate(m, type, `m${maps.length}`, 4, 256, 32));
    } catch (e) {
      // The failed creation freed whatever per-CPU memory it had taken.
      expect(percpuStats(m.percpu).global.nrCurAlloc).toBe(before);
      return { maps, error: e };
    }
  }
}

const state = (m: ReturnType<typeof booted>) => {
  const { nrCurAlloc, nrChunks, emptyPopPages } = percpuStats(m.percpu).global;
  return { nrCurAlloc, nrChunks, emptyPopPages, nrPopulated: m.percpu.nrPopulated };
};

describe('per-CPU map creation after the per-CPU area ran out', () => {
  for (const type of ['PERCPU_ARRAY', 'PERCPU_HASH', 'LRU_PERCPU_HASH'] as const) {
    it(`${type}: ENOMEM when exhausted, the same number again after closing, three rounds`, () => {
      const m = booted();
      const counts: number[] = [];
      const round = () => {
        const { maps, error } = exhaust(m, type);
        expect(error).toBeInstanceOf(ErrnoError);
        expect((error as ErrnoError).errno).toBe('ENOMEM');
        counts.push(maps.length);
        for (const h of maps) h.close();
        expect(allocatorViolations(m.percpu)).toEqual([]);
      };
      // Straight after closing, with no balance run in between: the space is back.
      for (let k = 0; k < 4; k++) round();
      expect(counts[0]).toBeGreaterThan(4);
      expect(new Set(counts).size).toBe(1);
      // The balance worker's deferred work, run here as a kworker would, then
      // leaves the same state after every round.
      m.percpu.balance();
      const rest = state(m);
      for (let k = 0; k < 3; k++) {
        round();
        m.percpu.balance();
        expect(allocatorViolations(m.percpu)).toEqual([]);
        expect(state(m)).toEqual(rest);
      }
      expect(new Set(counts).size).toBe(1);
    });
  }
});
