import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli as percpuEmu } from '../cli-process.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'percpu-emu-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI, expects exit status 2 with `message` on standard error and no report printed. */
function refused(args: string[], message: string) {
  const r = percpuEmu(args);
  expect(r.stderr).toContain(message);
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
}

describe('percpu-emu option values', () => {
  it('refuses values out of range, exactly as given, never wrapped or rounded', () => {
    refused(
      ['run', 'lost-update-racy', '--strategy', 'rr', '--quantum', '0'],
      "option '--quantum <q>' argument '0' is invalid. 0 is out of range: use 1..1000000000.",
    );
    refused(
      ['run', 'lost-update-racy', '--seed', '4294967296'],
      '4294967296 is out of range: use 0..4294967295.',
    );
    refused(
      ['run', 'lost-update-racy', '--seed', '9007199254740993'],
      '9007199254740993 is out of range: use 0..4294967295.',
    );
    refused(['run', 'lost-update-racy', '--depth', '0'], '0 is out of range: use 1..1000.');
    refused(['run', 'lost-update-racy', '--cpus', '0'], '0 is out of range: use 1..64.');
    refused(['run', 'lost-update-racy', '--cpus', '65'], '65 is out of range: use 1..64.');
    refused(
      ['explore', 'lost-update-racy', '--runs', '0'],
      '0 is out of range: use 1..1000000000.',
    );
    refused(
      ['run', 'lost-update-racy', '--max-steps', '9007199254740993'],
      '9007199254740993 is out of range: use 1..9007199254740991.',
    );
    refused(['run', 'lost-update-racy', '--timeout', '0'], '0 is out of range: use 1..2147483647.');
  });

  it('refuses what is not a decimal integer', () => {
    refused(['run', 'lost-update-racy', '--seed', 'abc'], "'abc' is not an integer.");
    refused(['run', 'lost-update-racy', '--seed', '1e3'], "'1e3' is not an integer.");
    refused(['run', 'lost-update-racy', '--steps', '0x10'], "'0x10' is not an integer.");
  });

  it('refuses a scenario that does not exist', () => {
    refused(['run', 'no-such-scenario'], "ENOENT: no scenario 'no-such-scenario'");
    refused(['explore', path.join(dir, 'missing.ts')], 'ENOENT: no scenario');
  });

  it('refuses options that mean nothing in the mode chosen', () => {
    refused(
      ['run', 'lost-update-racy', '--quantum', '5'],
      '--quantum is for --strategy rr; it means nothing with pct',
    );
    refused(
      ['run', 'lost-update-racy', '--strategy', 'random', '--depth', '2'],
      '--depth is for --strategy pct; it means nothing with random',
    );
    refused(
      ['run', 'lost-update-racy', '--strategy', 'rr', '--seed', '3'],
      '--seed means nothing with --strategy rr, which draws no random numbers',
    );
    refused(
      ['run', 'lost-update-racy', '--replay', 'v2.0000000000000000.AA', '--seed', '3'],
      '--seed means nothing with --replay: the replay string fixes the whole schedule',
    );
    refused(
      ['run', 'lost-update-racy', '--replay', 'v2.0000000000000000.AA', '--strategy', 'pct'],
      '--strategy means nothing with --replay',
    );
    refused(
      ['run', 'lost-update-fixed', '--mode', 'parallel', '--quantum', '5'],
      '--quantum chooses or replays a deterministic schedule: it means nothing in parallel mode',
    );
    refused(
      ['run', 'lost-update-racy', '--format', 'json'],
      '--format chooses the format of --trace: give --trace <file> too',
    );
    refused(
      ['explore', 'lost-update-racy', '--first-seed', '4294967295', '--runs', '2'],
      '--first-seed 4294967295 --runs 2 would go past seed 4294967295',
    );
  });

  it('takes --timeout in deterministic mode and passes it to the run', () => {
    const r = percpuEmu(['run', 'lost-update-fixed', '--timeout', '600000']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('all tasks finished');
  });

  it('refuses a --trace file that cannot be written before the run, not after it', () => {
    refused(
      ['run', 'lost-update-racy', '--trace', path.join(dir, 'no-such-dir', 'out.txt')],
      `--trace ${path.join(dir, 'no-such-dir', 'out.txt')}: cannot write there: ENOENT`,
    );
    refused(['run', 'lost-update-racy', '--trace', dir], 'cannot write there: EISDIR');
  });

  it('exits 0 when every invariant held, 1 when one failed', () => {
    expect(percpuEmu(['run', 'lost-update-fixed']).status).toBe(0);
    expect(percpuEmu(['run', 'lost-update-racy']).status).toBe(1);
  });
});
