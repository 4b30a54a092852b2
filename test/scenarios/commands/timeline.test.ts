/**
 * The CLI's trace and timeline options as a user types them: `run
 * --timeline`, `explore --timeline` (the first failure, replayed from its
 * string), `--events` and `--trace-percpu`, and the input errors they give.
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TimelineData } from '../../../timeline/timeline-data.ts';
import { spawnCli } from '../cli-process.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'percpu-emu-timeline-'));

function cli(...args: string[]) {
  const r = spawnCli(args);
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** The data block a timeline page embeds. */
function pageData(file: string): TimelineData {
  const html = readFileSync(file, 'utf8');
  expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//);
  const json = /<script id="timeline-data" type="application\/json">(.*?)<\/script>/s.exec(html);
  expect(json, 'the page embeds its data').not.toBeNull();
  return JSON.parse(json![1]) as TimelineData;
}

const verdicts = (out: string) => out.split('\n').filter((l) => /^ {2}(PASS|FAIL)/.test(l));

describe('percpu-emu run --timeline', () => {
  it('writes the failing run of stale-pointer-racy as one page, the breaking access marked', () => {
    const file = join(tmp(), 'out.html');
    const r = cli('run', 'stale-pointer-racy', '--seed', '4', '--timeline', file);
    expect(r.status).toBe(1);
    expect(r.out).toContain('an invariant FAILED');
    expect(r.out).toMatch(
      /^timeline: .*out\.html \(2 CPU lanes, \d+ marks, \d+ per-CPU accesses, the breaking access marked\)$/m,
    );
    const data = pageData(file);
    expect(data.nrCpus).toBe(2);
    expect(data.breaking).toBeGreaterThanOrEqual(0);
    expect(data.vars.length).toBeGreaterThan(0);
    expect(data.report).toContain('an invariant FAILED');
    expect(data.command).toMatch(
      /^npx percpu-emu run stale-pointer-racy --cpus 2 --replay v2\.\S+ --timeline out\.html$/,
    );
  });

  it("draws a run replayed from a plain run's string, and the page's own replay command works", () => {
    const dir = tmp();
    const first = cli('run', 'lost-update-racy', '--seed', '3');
    const replay = /--replay (v2\.\S+)/.exec(first.out)![1];
    const drawn = cli(
      'run',
      'lost-update-racy',
      '--replay',
      replay,
      '--timeline',
      join(dir, 'a.html'),
    );
    expect(drawn.status).toBe(first.status);
    expect(verdicts(drawn.out)).toEqual(verdicts(first.out));
    const command = pageData(join(dir, 'a.html')).command.split(' ');
    // npx percpu-emu run <args>: the same page again, from the command it shows.
    const again = cli(...command.slice(2).map((a) => (a === 'out.html' ? join(dir, 'b.html') : a)));
    expect(verdicts(again.out)).toEqual(verdicts(first.out));
    expect(readFileSync(join(dir, 'b.html'), 'utf8')).toBe(
      readFileSync(join(dir, 'a.html'), 'utf8'),
    );
  });

  it('refuses what cannot work, before the run, with exit status 2', () => {
    const dir = tmp();
    const cases: [string[], RegExp][] = [
      [
        ['--events', 'sched,bogus', '--trace', join(dir, 't')],
        /unknown trace event group 'bogus': use sched, irq/,
      ],
      [['--events', 'sched'], /--events chooses what --trace <file> or --timeline <file> records/],
      [['--trace-percpu', 'counter'], /--trace-percpu records into --trace <file> or --timeline/],
      [
        ['--trace-percpu', 'nosuch', '--trace', join(dir, 't')],
        /ENOENT: no per-CPU variable or PERCPU_ARRAY map 'nosuch'/,
      ],
      [
        ['--timeline', join(dir, 'no', 'such', 'dir.html')],
        /--timeline .*dir\.html: cannot write there/,
      ],
      [
        ['--mode', 'parallel', '--timeline', join(dir, 'p.html')],
        /--timeline is for the deterministic engine/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = cli('run', 'lost-update-racy', ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.err).toMatch(message);
    }
  });
});

describe('percpu-emu run --events / --trace-percpu', () => {
  it('records only the groups asked, and every access to the variable with its unit', () => {
    const file = join(tmp(), 't.txt');
    const r = cli(
      'run',
      'lost-update-racy',
      '--seed',
      '3',
      '--events',
      'sched,preemptirq',
      '--trace-percpu',
      'counter',
      '--trace',
      file,
    );
    expect(r.status).toBe(1);
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#') && l !== '');
    const events = new Set(lines.map((l) => /: (\w+): /.exec(l)?.[1]));
    expect(events.has('irq_handler_entry')).toBe(false);
    expect(events.has('softirq_entry')).toBe(false);
    const asked = ['sched_switch', 'sched_migrate_task', 'sched_wakeup', 'sched_process_exit'];
    asked.push('preempt_disable', 'preempt_enable', 'irq_disable', 'irq_enable');
    asked.push('migrate_disable', 'migrate_enable', 'percpu_access');
    for (const e of events) expect(asked).toContain(e);
    expect(events.has('percpu_access')).toBe(true);
    expect(events.has('sched_switch')).toBe(true);
    expect(lines.find((l) => l.includes('percpu_access'))).toMatch(
      /percpu_access: (read|write) counter\+0 size=8 unit=cpu\d pc=\d+/,
    );
  });
});

describe('percpu-emu explore --timeline', () => {
  it("writes the first failure's timeline, replayed from its replay string", () => {
    const file = join(tmp(), 'first.html');
    // From seed 4, the first seed whose run breaks the invariant (seeds 1-3 only make
    // DEBUG_PREEMPT reports, where explore stops too).
    const r = cli(
      'explore',
      'stale-pointer-racy',
      '--first-seed',
      '4',
      '--runs',
      '20',
      '--timeline',
      file,
    );
    expect(r.status).toBe(1);
    const seed = /seed (\d+) broke an invariant/.exec(r.out)?.[1];
    expect(seed).toBeDefined();
    expect(r.out).not.toContain('did not judge the invariants as the run did');
    expect(r.out).toMatch(
      /^timeline: .*first\.html \(2 CPU lanes, .*the breaking access marked\)$/m,
    );
    const data = pageData(file);
    expect(data.breaking).toBeGreaterThanOrEqual(0);
    expect(data.replay).toBe(/--replay (v2\.\S+)/.exec(r.out)![1]);
  });

  it('says so, and writes nothing, when every seed held', () => {
    const file = join(tmp(), 'none.html');
    const r = cli('explore', 'lost-update-fixed', '--runs', '2', '--timeline', file);
    expect(r.status).toBe(0);
    expect(r.out).toContain('every invariant held on 2 seeds');
    expect(r.out).toContain('timeline: none written: no seed failed');
  });
});
