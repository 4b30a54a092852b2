import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatGrade, gradeLab, gradescopeResults } from '../../labs/grader/grade.ts';
import type { Lab } from '../../labs/grader/lab.ts';
import { startLab } from '../../labs/grader/start.ts';
import { findLab, LABS } from '../../labs/index.ts';
import { spawnCli } from '../scenarios/cli-process.ts';

const toy: Lab = {
  name: 'toy',
  title: 'a lab of two tests',
  folder: '/nowhere/',
  studentFiles: [],
  scenarios: {},
  tests: [
    { name: 'passes', points: 30, mode: 'deterministic', run: () => ({ ok: true }) },
    {
      name: 'fails',
      points: 70,
      mode: 'deterministic',
      run: () => ({
        ok: false,
        detail: 'seed 3: 2 lost',
        replay: 'npx percpu-emu lab run toy x --replay v1.2.A',
      }),
    },
    {
      name: 'throws',
      points: 0,
      mode: 'parallel',
      run: () => {
        throw new Error('EINVAL: stats.s:3:1: bad');
      },
    },
  ],
};

describe('the grader', () => {
  it('prints each test as make grade does, then the score', async () => {
    const r = await gradeLab(toy, '/tmp', { mode: 'deterministic' });
    const text = formatGrade(r).replace(/\(\d+\.\ds\)/g, '(T)');
    expect(text).toBe(
      [
        '== Test passes (30 pts) == OK (T)',
        '== Test fails (70 pts) == FAIL (T)',
        '    seed 3: 2 lost',
        '    replay: npx percpu-emu lab run toy x --replay v1.2.A',
        'Score: 30/100',
        '',
      ].join('\n'),
    );
  });

  it('turns a test that throws into a FAIL with the message', async () => {
    const r = await gradeLab(toy, '/tmp');
    expect(r.tests[2]).toMatchObject({ ok: false, detail: 'EINVAL: stats.s:3:1: bad' });
  });

  it("writes Gradescope's results.json shape", async () => {
    const g = gradescopeResults(await gradeLab(toy, '/tmp', { mode: 'deterministic' }));
    expect(g.score).toBe(30);
    expect(g.tests[1]).toEqual({
      name: 'fails',
      score: 0,
      max_score: 70,
      status: 'failed',
      output: 'seed 3: 2 lost\nreplay: npx percpu-emu lab run toy x --replay v1.2.A',
    });
  });

  it('lists the four labs, and names them when asked for another', () => {
    expect(LABS.map((l) => l.name)).toEqual(['counters', 'kalloc', 'stale-pointer', 'rss-cpumap']);
    expect(() => findLab('rss')).toThrow(
      /^ENOENT: no lab 'rss': the labs are counters, kalloc, stale-pointer, rss-cpumap/,
    );
  });
});

describe('lab start', () => {
  it('copies the starter and the handout, with a package.json depending on percpu-emu', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lab-start-')), 'kalloc');
    startLab(findLab('kalloc'), dir);
    expect(readFileSync(join(dir, 'kalloc.s'), 'utf8')).toContain('kalloc:');
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/^# Lab kalloc/);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pkg.dependencies['percpu-emu']).toMatch(/^\^\d+\.\d+\.\d+$/);
    expect(pkg.scripts.grade).toBe('percpu-emu lab grade kalloc .');
    expect(() => startLab(findLab('kalloc'), dir)).toThrow(/^EEXIST: .* already has kalloc.s/);
  });

  it('every lab ships a handout and its starter files', () => {
    for (const lab of LABS) {
      expect(existsSync(join(lab.folder, 'README.md'))).toBe(true);
      for (const f of lab.studentFiles)
        expect(existsSync(join(lab.folder, 'starter', f))).toBe(true);
      const readme = readFileSync(join(lab.folder, 'README.md'), 'utf8');
      expect(readme).toContain('docs/cheatsheet.md');
      expect(readme).toContain('## Grading');
    }
  });
});

describe('a student folder', () => {
  it('names the assembler error in the student file and line', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lab-err-')), 'c');
    startLab(findLab('counters'), dir);
    const src = readFileSync(join(dir, 'stats.s'), 'utf8').replace('r2 += 1', 'r2 += r11');
    writeFileSync(join(dir, 'stats.s'), src);
    const r = await gradeLab(findLab('counters'), dir, { mode: 'deterministic' });
    expect(r.score).toBe(0);
    const line = src.split('\n').findIndex((l) => l.includes('r11')) + 1;
    expect(r.tests[0].detail).toMatch(new RegExp(`^EINVAL: stats.s:${line}:\\d+: `));
  });

  it('replays a failing schedule with lab run, and writes its trace', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lab-run-')), 's');
    startLab(findLab('stale-pointer'), dir);
    const trace = join(dir, 'out.txt');
    const r = spawnCli([
      'lab',
      'run',
      'stale-pointer',
      'migrate',
      dir,
      '--seed',
      '29',
      '--trace',
      trace,
    ]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}every event counted in the unit of the CPU that handled it/);
    expect(readFileSync(trace, 'utf8')).toContain('sched_migrate_task');
  });
});

describe('percpu-emu lab', () => {
  it('starts and grades a lab from the command line, exit 1 below full marks', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lab-cli-')), 'c');
    expect(spawnCli(['lab', 'list']).stdout).toMatch(/^counters {9}Per-CPU counters\nkalloc/);
    expect(spawnCli(['lab', 'start', 'counters', dir]).status).toBe(0);
    const src = readFileSync(join(dir, 'stats.s'), 'utf8').replace('r2 += 1', 'r2 += r11');
    writeFileSync(join(dir, 'stats.s'), src);
    const r = spawnCli(['lab', 'grade', 'counters', dir, '--mode', 'deterministic', '--json']);
    expect(r.status).toBe(1);
    const json = JSON.parse(r.stdout);
    expect(json.score).toBe(0);
    expect(json.tests[0].output).toMatch(/^EINVAL: stats.s:\d+:\d+: /);
  });
});
