import { describe, expect, it } from 'vitest';
import { expectedOn, packetStats, packetsOn } from '../../../scenarios/maps/packet-stats.ts';
import { runScenario } from '../../../scenarios/run-scenario.ts';

describe('per-CPU packet statistics in a PERCPU_ARRAY', () => {
  const s = packetStats();

  it('every CPU counts its own packets exactly and the sums are the totals, under every strategy', () => {
    for (const [strategy, seed] of [
      ['rr', 0],
      ['random', 3],
      ['pct', 7],
    ] as const) {
      const r = runScenario(s, { strategy, seed });
      expect(r.verdicts.map((v) => [v.name, v.ok])).toEqual(r.verdicts.map((v) => [v.name, true]));
      expect(r.reports).toEqual([]);
    }
  });

  it('holds over 20 PCT seeds and on 1 to 4 CPUs', () => {
    for (let seed = 1; seed <= 20; seed++)
      expect(runScenario(s, { strategy: 'pct', seed }).ok).toBe(true);
    for (const cpus of [1, 2, 3]) expect(runScenario(s, { cpus }).ok).toBe(true);
  });

  it('reports the per-protocol totals read from every CPU’s copy', () => {
    const detail = runScenario(s, {}).verdicts[2].detail;
    const tcpPackets = [0, 1, 2, 3].reduce((a, cpu) => a + expectedOn(cpu)[0].packets, 0n);
    expect(detail).toContain(`tcp ${tcpPackets} pkts`);
    expect(packetsOn(3)).toBe(350);
  });
});
