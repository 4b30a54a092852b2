/**
 * The WebAssembly tier changes nothing a scenario can see: every shipped
 * scenario, under PCT and random schedules, gives the same ftrace byte for
 * byte, the same replay string and the same report with `tier: 'jit'` as
 * with `tier: 'interp'` (and `auto`, the default, is the golden traces'
 * tier: test/scenarios/golden-trace.test.ts).
 */

import { describe, expect, it } from 'vitest';
import { loadScenario, shippedScenarios } from '../../scenarios/load-scenario.ts';
import { formatReport } from '../../scenarios/report.ts';
import { type RunScenarioOptions, runScenario } from '../../scenarios/run-scenario.ts';
import { spawnCli } from './cli-process.ts';

const schedules: RunScenarioOptions[] = [
  { strategy: 'pct', seed: 3 },
  { strategy: 'random', seed: 5 },
];

describe('tiers', () => {
  it('every shipped scenario: the same trace, replay string and report on jit as on interp', async () => {
    const names = shippedScenarios();
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) {
      const s = await loadScenario(name);
      for (const opts of schedules) {
        const interp = runScenario(s, { ...opts, tier: 'interp' });
        const jit = runScenario(s, { ...opts, tier: 'jit' });
        const label = `${name} ${opts.strategy}`;
        expect(jit.machine.tracer?.toFtrace(), label).toBe(interp.machine.tracer?.toFtrace());
        expect(jit.replay, label).toBe(interp.replay);
        expect(formatReport(jit, name), label).toBe(formatReport(interp, name));
        expect(
          jit.machine.cpus.map((c) => c.cpu.totalExecuted),
          label,
        ).toEqual(interp.machine.cpus.map((c) => c.cpu.totalExecuted));
      }
    }
  });

  it('--tier: the same report from the CLI on each tier; an unknown tier is a usage error', () => {
    const args = ['run', 'lost-update-racy', '--seed', '2'];
    const interp = spawnCli([...args, '--tier', 'interp']);
    const jit = spawnCli([...args, '--tier', 'jit']);
    expect(interp.status).toBe(1);
    expect(jit.status).toBe(1);
    expect(jit.stdout).toBe(interp.stdout);
    const bad = spawnCli([...args, '--tier', 'fast']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--tier');
  });
});
