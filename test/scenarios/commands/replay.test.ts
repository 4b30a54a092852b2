import { describe, expect, it } from 'vitest';
import { spawnCli as percpuEmu } from '../cli-process.ts';

const replayOf = (out: string) => /--replay (v2\.\S+)/.exec(out)?.[1] ?? '';

describe('percpu-emu run --replay', () => {
  it('prints the replay string once, in the command that replays the run', () => {
    const r = percpuEmu(['run', 'lost-update-racy', '--seed', '3']);
    const replay = replayOf(r.stdout);
    expect(replay).toMatch(/^v2\.[0-9a-f]{16}\.[A-Za-z0-9_-]+$/);
    expect(r.stdout.split(replay).length - 1).toBe(1);
    expect(r.stdout).toContain(
      `replay:   npx percpu-emu run lost-update-racy --cpus 2 --replay ${replay}`,
    );
    const again = percpuEmu(['run', 'lost-update-racy', '--replay', replay]);
    expect(again.status).toBe(1);
    expect(replayOf(again.stdout)).toBe(replay);
  });

  it('refuses a replay string on another scenario, naming both', () => {
    const racy = replayOf(percpuEmu(['run', 'lost-update-racy', '--seed', '3']).stdout);
    const r = percpuEmu(['run', 'lost-update-fixed', '--replay', racy]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      "replay string belongs to scenario 'lost-update-racy', not to 'lost-update-fixed'",
    );
    expect(r.stdout).toBe('');
  });

  it('refuses it on another CPU count, and a v1 string that names no scenario', () => {
    const racy = replayOf(percpuEmu(['run', 'lost-update-racy', '--seed', '3']).stdout);
    const cpus = percpuEmu(['run', 'lost-update-racy', '--replay', racy, '--cpus', '3']);
    expect(cpus.status).toBe(2);
    expect(cpus.stderr).toContain('replay string is for 2 CPUs, the machine has 3');
    const v1 = percpuEmu(['run', 'lost-update-racy', '--replay', 'v1.2.AGQ']);
    expect(v1.status).toBe(2);
    expect(v1.stderr).toContain('is a v1 replay string, which does not say what scenario');
  });
});
