import { describe, expect, it } from 'vitest';
import {
  Machine,
  pct,
  random,
  roundRobin,
  runDeterministic,
  type Strategy,
  u64,
} from '../../index.ts';
import { spinlockStats, spinlockType } from '../../segments/spinlock.ts';

/** Two tasks, one per CPU, each adding 1 to a shared u64 200 times under the spinlock `lk`. */
function lockedCounter(strategy: Strategy) {
  const m = new Machine({ cpus: 2, tickInterval: 50 });
  m.defineData('lk', spinlockType, undefined);
  m.defineData('total', u64, 0n);
  const k = m.boot();
  const program = k.assemble(`
      r6 = 0
    loop:
      r1 = lk ll
      call spin_lock
      call preemptible
      r7 = r0                    # 0: preemption is off while the lock is held
      r1 = total ll
      r2 = *(u64 *)(r1 + 0)
      r2 += 1
      *(u64 *)(r1 + 0) = r2
      r1 = lk ll
      call spin_unlock
      r0 = r7
      if r7 != 0 goto out
      r6 += 1
      if r6 < 200 goto loop
    out:
      exit
  `);
  for (const cpu of [0, 1]) k.spawn({ comm: `t${cpu}`, cpu, allowed: [cpu], program });
  const r = runDeterministic(k, strategy);
  return { k, r, stats: spinlockStats(k.memory, k.symbol('lk')) };
}

describe('the spin_lock / spin_unlock kfuncs', () => {
  it('make a read-add-write on two CPUs exact, with preemption off inside', () => {
    for (const s of [
      roundRobin({ quantum: 3 }),
      pct({ seed: 2, steps: 3000 }),
      random({ seed: 5 }),
    ]) {
      const { k, r, stats } = lockedCounter(s);
      expect(r.finished).toBe(true);
      expect([...k.tasks.values()].every((t) => t.exitCode === 0n)).toBe(true);
      expect(k.memory.read64(k.symbol('total'))).toBe(400n);
      expect(stats.acquisitions).toBe(400);
    }
  });

  it('count the spins of a CPU that waits: one per re-executed call', () => {
    // Round robin by 3 instructions always finds the other CPU inside its section.
    const { stats } = lockedCounter(roundRobin({ quantum: 3 }));
    expect(stats.spins).toBeGreaterThan(100);
  });

  it('let PCT run the holder while another CPU spins (no livelock)', () => {
    const { r } = lockedCounter(pct({ seed: 7, depth: 3, steps: 3000 }));
    expect(r.finished).toBe(true);
    expect(r.steps).toBeLessThan(20_000);
  });

  it('fault a task that takes a lock its CPU holds (EBUSY)', () => {
    const m = new Machine({ cpus: 1 });
    m.defineData('lk', spinlockType, undefined);
    const k = m.boot();
    k.spawn({
      comm: 'twice',
      program: k.assemble('r1 = lk ll\ncall spin_lock\nr1 = lk ll\ncall spin_lock\nr0 = 0\nexit'),
    });
    runDeterministic(k, roundRobin());
    const oops = k.reports.find((x) => x.kind === 'oops');
    expect(oops?.lines.join('\n')).toMatch(/EBUSY: spinlock recursion on CPU#0/);
  });
});
