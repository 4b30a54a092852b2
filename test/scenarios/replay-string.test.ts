import { describe, expect, it } from 'vitest';
import { packetStats } from '../../scenarios/maps/packet-stats.ts';
import { lostUpdate } from '../../scenarios/races/lost-update.ts';
import { runScenario } from '../../scenarios/run-scenario.ts';
import { defineScenario } from '../../scenarios/scenario.ts';

describe('replay strings', () => {
  it('are v2, carry the fingerprint, and replay the run they came from', () => {
    const r = runScenario(lostUpdate('racy'), { strategy: 'pct', seed: 3 });
    expect(r.replay).toMatch(/^v2\.[0-9a-f]{16}\.[A-Za-z0-9_-]+$/);
    const again = runScenario(lostUpdate('racy'), { replay: r.replay });
    expect(again.verdicts).toEqual(r.verdicts);
    expect(again.replay).toBe(r.replay);
  });

  it('are compressed: long schedules shrink, regular ones many times over', () => {
    const rr = runScenario(packetStats(), { strategy: 'rr' });
    expect(rr.engine.replay.length).toBeGreaterThan(1000);
    expect(rr.replay.length * 5).toBeLessThan(rr.engine.replay.length);
    const random = runScenario(packetStats(), { strategy: 'random', seed: 4 });
    expect(random.replay.length).toBeLessThan(random.engine.replay.length);
    expect(runScenario(packetStats(), { replay: rr.replay }).replay).toBe(rr.replay);
  });

  it('are refused on another scenario, naming both', () => {
    const r = runScenario(lostUpdate('racy'), { strategy: 'pct', seed: 3 });
    expect(() => runScenario(lostUpdate('fixed'), { replay: r.replay })).toThrow(
      "EINVAL: replay string belongs to scenario 'lost-update-racy', not to 'lost-update-fixed'",
    );
  });

  it('are refused on a scenario of the same name defined or configured differently', () => {
    const base = lostUpdate('racy');
    const r = runScenario(base, { strategy: 'pct', seed: 3 });
    const slower = defineScenario({ ...base, machine: { ...base.machine, tickInterval: 70 } });
    expect(() => runScenario(slower, { replay: r.replay })).toThrow(
      /replay string was recorded on another definition or machine options of scenario 'lost-update-racy' \(fingerprint [0-9a-f]{16}, this run [0-9a-f]{16}\)/,
    );
    const fixedBody = defineScenario({ ...lostUpdate('fixed'), name: base.name });
    expect(() => runScenario(fixedBody, { replay: r.replay })).toThrow(
      'recorded on another definition or machine options',
    );
  });

  it('are refused when corrupt, cut or from the old v1 format', () => {
    const r = runScenario(lostUpdate('racy'), { strategy: 'pct', seed: 3 });
    const s = lostUpdate('racy');
    const fingerprint = r.replay.split('.')[1];
    expect(() => runScenario(s, { replay: `v2.${fingerprint}.AAAAAAAA` })).toThrow(
      /EINVAL: replay string 'v2\.[^']*' is corrupt/,
    );
    expect(() => runScenario(s, { replay: 'v1.2.AGQ' })).toThrow('is a v1 replay string');
    expect(() => runScenario(s, { replay: 'v2.x' })).toThrow('is not a replay string');
  });
});
