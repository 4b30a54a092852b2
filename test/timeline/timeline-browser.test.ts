/// <reference lib="dom" />
/**
 * The timeline as a person sees it, in headless Chromium: the page of a
 * failing stale-pointer-racy run opens from disk, shows a lane per CPU,
 * marks the access that broke the invariant on the right lane at the right
 * instruction, explains it on hover and click (with the disassembly), opens
 * a DEBUG_PREEMPT report, finds a task by search, zooms, and looks like the
 * screenshot in docs/timeline.md (compared structurally, on a coarse grid).
 * `UPDATE_SCREENSHOT=1` rewrites docs/timeline.png.
 */

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenario } from '../../scenarios/load-scenario.ts';
import { cLostUpdate } from '../../scenarios/races/c-lost-update.ts';
import { runTimeline, type TimelineRun } from '../../scenarios/timeline-run.ts';
import { MarkKind, SpanKind } from '../../timeline/timeline-data.ts';
import { findClang } from '../loader/compile.ts';
import { chromiumMissing, launchChromium } from './chromium.ts';

const clang = findClang(14);
const noClang = typeof clang === 'string' ? null : clang.missing;

const SCREENSHOT = new URL('../../docs/timeline.png', import.meta.url);

if (chromiumMissing !== '') console.log(`skipping the browser tests: ${chromiumMissing}`);

describe.skipIf(chromiumMissing !== '')('the timeline in headless Chromium', () => {
  let browser: Browser;
  let page: Page;
  let run: TimelineRun;

  beforeAll(async () => {
    run = runTimeline(
      await loadScenario('stale-pointer-racy'),
      // Exact ticks: the schedule this test's marks and positions were read from.
      { strategy: 'pct', seed: 2, tickJitter: 0 },
      'stale-pointer-racy',
    );
    const file = join(mkdtempSync(join(tmpdir(), 'timeline-')), 'out.html');
    writeFileSync(file, run.html);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 520 } });
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(
      () => (window as unknown as { timeline?: { ready: boolean } }).timeline?.ready === true,
    );
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  const api = <T>(fn: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(
      ([f, a]) =>
        (
          window as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>
        ).timeline[f as string](...(a as unknown[])),
      [fn, args] as const,
    ) as Promise<T>;

  it('fetches nothing: the file is self-contained', () => {
    expect(run.html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//);
  });

  it('has one lane per CPU', async () => {
    expect(await page.locator('.lane-label').allTextContents()).toEqual(['CPU 0', 'CPU 1']);
  });

  it('marks the access that broke the invariant on CPU 0 at the this_cpu_add of pc 14, and explains it on hover', async () => {
    const { data } = run;
    expect(run.result.ok).toBe(false);
    const b = data.breaking;
    expect(b).toBeGreaterThanOrEqual(0);
    // counter1 computed its slot on CPU 1, wrote hits there, migrated, and its books (done) landed on CPU 0.
    expect(data.marks[b * 6]).toBe(0);
    expect(data.marks[b * 6 + 2]).toBe(MarkKind.Access);
    await api('focus', data.marks[b * 6 + 1], 0);
    const at = await api<{ x: number; y: number }>('markPosition', b);
    await page.mouse.move(at.x, at.y);
    const tip = page.locator('#tooltip');
    await expect.poll(() => tip.isVisible()).toBe(true);
    const text = await tip.textContent();
    expect(text).toContain('THE ACCESS THAT BROKE THE INVARIANT');
    expect(text).toContain("write done+8 in CPU 0's unit");
    expect(text).toContain('by counter1-2 on CPU 0');
    expect(text).toContain('pc 14');
    expect(text).toContain('split by a migration');
    // The mark itself is drawn there: the canvas pixel is the breaking red.
    const [r, g, bl] = await page.evaluate(
      ([x, y]) => {
        const c = document.getElementById('canvas') as HTMLCanvasElement;
        const box = c.getBoundingClientRect();
        const dpr = window.devicePixelRatio || 1;
        return [
          ...c.getContext('2d')!.getImageData((x + 6 - box.left) * dpr, (y - box.top) * dpr, 1, 1)
            .data,
        ];
      },
      [at.x, at.y],
    );
    expect(r).toBeGreaterThan(150);
    expect(g + bl).toBeLessThan(150);
    await page.mouse.down();
    await page.mouse.up();
    expect(await page.locator('#selected-message').textContent()).toContain('write done+8');
    expect(await page.locator('.asm .here').textContent()).toContain('call this_cpu_add');
  });

  it('shows on a timer interrupt the instruction it interrupted, on hover and in the side panel', async () => {
    const { data } = run;
    let span = -1;
    for (let i = 0; i < data.spans.length / 6 && span < 0; i++) {
      const ref = data.spans[i * 6 + 4];
      if (data.spans[i * 6 + 3] === SpanKind.Hardirq && data.interrupts[ref * 4 + 3] >= 0) span = i;
    }
    expect(span, 'a hardirq that interrupted a guest instruction').toBeGreaterThanOrEqual(0);
    const [cpu, start] = data.spans.slice(span * 6, span * 6 + 2);
    const [, task, program, pc] = data.interrupts.slice(data.spans[span * 6 + 4] * 4);
    const insn = data.programs[program].insns[pc];
    const who = `${data.tasks[task].comm}-${data.tasks[task].pid}`;
    await api('focus', start, cpu);
    const at = await api<{ x: number; y: number }>('spanPosition', span);
    await page.mouse.move(at.x, at.y);
    const tip = page.locator('#tooltip');
    await expect.poll(() => tip.textContent()).toContain(`interrupted ${who} at pc ${pc} in`);
    expect(await tip.textContent()).toMatch(/^hardirq irq \d+: \w+/);
    expect(await tip.textContent()).toContain(insn);
    await page.mouse.down();
    await page.mouse.up();
    expect(await page.locator('#selected-message').textContent()).toContain(`at pc ${pc}`);
    expect(await page.locator('.asm .here').textContent()).toContain(`${pc}: ${insn}`);
  });

  it('opens a DEBUG_PREEMPT report with its message and the instruction it names', async () => {
    const { data } = run;
    let m = -1;
    for (let i = 0; i < data.marks.length / 6; i++)
      if (data.marks[i * 6 + 2] === MarkKind.Report) m = m < 0 ? i : m;
    await api('focus', data.marks[m * 6 + 1], data.marks[m * 6]);
    const at = await api<{ x: number; y: number }>('markPosition', m);
    // The report's diamond sits at the top of the lane.
    await page.mouse.click(at.x, at.y - 46);
    const msg = await page.locator('#selected-message').textContent();
    expect(msg).toContain('BUG: using smp_processor_id() in preemptible [00000000] code: counter');
    expect(await page.locator('.asm .here').textContent()).toContain('this_cpu_ptr');
  });

  it('finds a task by search', async () => {
    await page.fill('#search', 'counter3');
    expect(await page.locator('#results li').first().textContent()).toMatch(
      /^task counter3-4: \d+ spans$/,
    );
    await page.fill('#search', 'cpu 1');
    expect(await page.locator('#results li').first().textContent()).toBe('CPU 1');
    await page.fill('#search', '');
  });

  it('zooms: the visible range narrows, and the whole run comes back', async () => {
    await page.click('#zoom-reset');
    const before = await api<{ t0: number; t1: number }>('view');
    const text = await page.locator('#range').textContent();
    await page.click('#zoom-in');
    const after = await api<{ t0: number; t1: number }>('view');
    expect(after.t1 - after.t0).toBeCloseTo((before.t1 - before.t0) / 2, 0);
    expect(await page.locator('#range').textContent()).not.toBe(text);
    await page.click('#zoom-reset');
    expect(await api('view')).toEqual(before);
  });

  it('looks like the screenshot in docs/timeline.md, structurally', async () => {
    await page.click('#zoom-reset');
    await api('select', run.data.breaking);
    await page.mouse.move(0, 0);
    const shot = await page.screenshot();
    if (process.env.UPDATE_SCREENSHOT === '1' || !existsSync(SCREENSHOT))
      writeFileSync(SCREENSHOT, shot);
    const grid = (png: Buffer) =>
      page.evaluate(
        async (src) => {
          const img = new Image();
          img.src = src;
          await img.decode();
          const c = document.createElement('canvas');
          c.width = 56;
          c.height = 21;
          const g = c.getContext('2d')!;
          g.drawImage(img, 0, 0, 56, 21);
          const px = g.getImageData(0, 0, 56, 21).data;
          const cells: number[] = [];
          for (let i = 0; i < px.length; i += 4)
            cells.push(Math.round((px[i] + px[i + 1] + px[i + 2]) / 3 / 64));
          return cells;
        },
        `data:image/png;base64,${png.toString('base64')}`,
      );
    const now = await grid(shot);
    const docs = await grid(readFileSync(SCREENSHOT));
    const same = now.filter((v, i) => v === docs[i]).length;
    expect(same / now.length).toBeGreaterThan(0.85);
  });

  it('shows the side panel with the run report and the replay command', async () => {
    expect(await page.locator('#report').textContent()).toContain('verdict:  an invariant FAILED');
    expect(await page.locator('#replay').textContent()).toMatch(
      /^npx percpu-emu run stale-pointer-racy --cpus 2 --replay v2\.\S+ --timeline out\.html$/,
    );
  });

  it.skipIf(noClang !== null)(
    'c-lost-update-racy: clicking the breaking store shows the C source line next to its disassembly',
    async () => {
      const c = runTimeline(
        cLostUpdate('racy'),
        { strategy: 'pct', seed: 1, tickJitter: 0 }, // exact ticks: the run this test was read from
        'c-lost-update-racy',
      );
      const file = join(mkdtempSync(join(tmpdir(), 'timeline-c-')), 'c.html');
      writeFileSync(file, c.html);
      const cpage = await browser.newPage({ viewport: { width: 1400, height: 520 } });
      try {
        await cpage.goto(pathToFileURL(file).href);
        await cpage.waitForFunction(
          () => (window as unknown as { timeline?: { ready: boolean } }).timeline?.ready === true,
        );
        const b = c.data.breaking;
        await cpage.evaluate(
          ([ts, cpu]) =>
            (
              window as unknown as { timeline: { focus(t: number, c: number): void } }
            ).timeline.focus(ts, cpu),
          [c.data.marks[b * 6 + 1], c.data.marks[b * 6]],
        );
        const at = await cpage.evaluate(
          (m) =>
            (
              window as unknown as {
                timeline: { markPosition(m: number): { x: number; y: number } };
              }
            ).timeline.markPosition(m),
          b,
        );
        await cpage.mouse.click(at.x, at.y);
        expect(await cpage.locator('#selected-message').textContent()).toContain(
          'THE ACCESS THAT BROKE THE INVARIANT',
        );
        const here = await cpage.locator('.asm .here').textContent();
        expect(here).toMatch(/\*\(u64 \*\)\(r\d \+ 0\) = r\d/);
        expect(here).toMatch(/lost_update\.bpf\.c:\d+: +\*slot = v \+ 1;/);
      } finally {
        await cpage.close();
      }
    },
  );
});
