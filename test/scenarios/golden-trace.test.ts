/**
 * Golden traces, pinned before the kernel-context refactor (issue 10) so that
 * refactors can be shown not to change behaviour: every shipped example under
 * every strategy gives the same ftrace (by SHA-256) and the same replay
 * schedule as when the golden file was written, and one scenario's whole
 * ftrace is kept as text to diff by eye when a hash moves.
 *
 * A change that alters behaviour on purpose regenerates them with
 * `UPDATE_GOLDEN=1 npx vitest run test/scenarios/golden-trace.test.ts` and
 * says why in its commit.
 */

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXAMPLES_DIR, loadScenario } from '../../scenarios/load-scenario.ts';
import { type RunScenarioOptions, runScenario } from '../../scenarios/run-scenario.ts';

const GOLDEN_DIR = new URL('./golden/', import.meta.url);
const HASHES = new URL('traces.json', GOLDEN_DIR);
const FULL = new URL('lost-update-racy.pct-seed-3.ftrace', GOLDEN_DIR);
const update = process.env.UPDATE_GOLDEN === '1';

const strategies: Record<string, RunScenarioOptions> = {
  'pct-seed-3': { strategy: 'pct', seed: 3 },
  'random-seed-5': { strategy: 'random', seed: 5 },
  rr: { strategy: 'rr' },
};

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const examples = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort();

/** The schedule part of a replay string: what follows its version and fingerprint fields. */
const scheduleOf = (replay: string) => replay.slice(replay.lastIndexOf('.') + 1);

describe('golden traces', () => {
  it('every example under every strategy gives the pinned ftrace and schedule', async () => {
    const got: Record<string, { ftrace: string; schedule: string }> = {};
    for (const name of examples) {
      const s = await loadScenario(name);
      for (const [label, opts] of Object.entries(strategies)) {
        const r = runScenario(s, opts);
        got[`${name} ${label}`] = {
          ftrace: sha256(r.machine.tracer!.toFtrace()),
          schedule: sha256(scheduleOf(r.replay)),
        };
      }
    }
    if (update || !existsSync(HASHES)) writeFileSync(HASHES, `${JSON.stringify(got, null, 2)}\n`);
    expect(got).toEqual(JSON.parse(readFileSync(HASHES, 'utf8')));
  });

  it('lost-update-racy under PCT seed 3 gives the pinned ftrace, line for line', async () => {
    const r = runScenario(await loadScenario('lost-update-racy'), strategies['pct-seed-3']);
    const ftrace = r.machine.tracer!.toFtrace();
    if (update || !existsSync(FULL)) writeFileSync(FULL, ftrace);
    expect(ftrace).toBe(readFileSync(FULL, 'utf8'));
  });
});
