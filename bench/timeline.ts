/// <reference lib="dom" />
/**
 * `npm run bench -- timeline`: the load time of a 1M-event timeline in
 * headless Chromium (Debian's chromium through playwright-core): from
 * navigation to the viewer's first full draw, median of 3 loads, then the
 * median time of a zoomed-out redraw and a zoom into the middle. The data
 * is synthetic with a run's shape: 4 CPUs, task spans, timer hardirq and
 * softirq spans, preempt-disabled regions, per-CPU accesses (some
 * cross-unit), migrations and reports, 1,000,000 spans and marks in all.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromiumMissing, launchChromium } from '../test/timeline/chromium.ts';
import { MarkKind, SpanKind, type TimelineData } from '../timeline/timeline-data.ts';
import { timelineHtml } from '../timeline/timeline-html.ts';
import { type BenchReport, median } from './report.ts';

const EVENTS = 1_000_000;
const CPUS = 4;

/** A run-shaped timeline of `EVENTS` spans and marks. */
function syntheticTimeline(): TimelineData {
  const perCpu = EVENTS / CPUS;
  const spanRows: number[][][] = [];
  const marks: number[] = [];
  const accesses: number[] = [];
  let t = 0;
  for (let cpu = 0; cpu < CPUS; cpu++) {
    const rows: number[][] = [[], [], [], []];
    let n = 0;
    t = 0;
    while (n < perCpu) {
      // A task runs 400 instructions: 1 span, 1 preempt region, 1 irq + 1 softirq, 16 accesses.
      const start = t;
      const task = (cpu * 7 + n) % 16;
      rows[0].push(cpu, start, start + 400_000, SpanKind.Task, task, 0);
      rows[1].push(cpu, start + 200_000, start + 201_000, SpanKind.Hardirq, 0, 1);
      rows[2].push(cpu, start + 201_000, start + 202_000, SpanKind.Softirq, 1, 2);
      rows[3].push(cpu, start + 50_000, start + 150_000, SpanKind.PreemptOff, 0, 0);
      n += 4;
      for (let k = 0; k < 16 && n < perCpu; k++, n++) {
        const a = accesses.length / 8;
        const unit = k === 7 ? (cpu + 1) % CPUS : cpu;
        accesses.push(0, unit, 8 * task, k % 2, 7 + (k % 8), task, 0, unit !== cpu ? 1 : 0);
        marks.push(cpu, start + 20_000 * k + 1000, MarkKind.Access, a, 0, 0);
      }
      if (n % 1000 < 20) {
        marks.push(cpu, start + 399_000, MarkKind.Migrate, task, cpu, (cpu + 1) % CPUS);
        n++;
      }
      t += 400_000;
    }
    spanRows.push(rows);
  }
  const spans = spanRows.flatMap((rows) => rows.flat());
  return {
    version: 1,
    title: 'synthetic 1M events',
    nrCpus: CPUS,
    nsPerInsn: 1000,
    end: t,
    tasks: Array.from({ length: 16 }, (_, i) => ({
      pid: i + 1,
      comm: `worker${i}`,
      kthread: i === 15,
    })),
    labels: ['irq 0: timer', 'softirq TIMER'],
    vars: ['hits'],
    spans,
    marks,
    accesses,
    interrupts: [0, 0, 0, 9],
    reports: [],
    programs: [
      {
        name: 'worker',
        insns: Array.from({ length: 20 }, (_, i) => `r${i % 10} += 1`),
        source: Array(20).fill(null),
      },
    ],
    breaking: -1,
    lost: [0, 0, 0, 0],
    report: 'synthetic',
    replay: '',
    command: '',
  };
}

export async function run(): Promise<BenchReport> {
  if (chromiumMissing !== '') throw new Error(`bench timeline: ${chromiumMissing}`);
  const data = syntheticTimeline();
  const events = data.spans.length / 6 + data.marks.length / 6;
  const html = timelineHtml(data);
  const file = join(mkdtempSync(join(tmpdir(), 'timeline-bench-')), 'big.html');
  writeFileSync(file, html);
  const browser = await launchChromium();
  const loads: number[] = [];
  const redraws: number[] = [];
  const zooms: number[] = [];
  const scripts: number[] = [];
  try {
    for (let k = 0; k < 3; k++) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
      await page.goto(pathToFileURL(file).href, { timeout: 120_000 });
      await page.waitForFunction(
        () => (window as unknown as { timeline?: { ready: boolean } }).timeline?.ready === true,
        undefined,
        { timeout: 120_000 },
      );
      // performance.now() counts from navigation start: the page is parsed, the data read and drawn.
      loads.push(await page.evaluate(() => performance.now()));
      scripts.push(
        await page.evaluate(
          () => (window as unknown as { timeline: { loadMs: number } }).timeline.loadMs,
        ),
      );
      const [redraw, zoom] = await page.evaluate(() => {
        const tl = (
          window as unknown as {
            timeline: { setView(a: number, b: number): void; view(): { t0: number; t1: number } };
          }
        ).timeline;
        const whole = tl.view();
        let s = performance.now();
        for (let i = 0; i < 10; i++) tl.setView(whole.t0, whole.t1);
        const r = (performance.now() - s) / 10;
        const mid = (whole.t0 + whole.t1) / 2;
        s = performance.now();
        for (let i = 1; i <= 10; i++)
          tl.setView(
            mid - (whole.t1 - whole.t0) / 2 ** (i + 1),
            mid + (whole.t1 - whole.t0) / 2 ** (i + 1),
          );
        return [r, (performance.now() - s) / 10];
      });
      redraws.push(redraw);
      zooms.push(zoom);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  const note = `${events} events, ${(html.length / 1e6).toFixed(1)} MB file`;
  return {
    suite: 'timeline',
    results: [
      { name: 'load_1m_events', value: median(loads), unit: 'ms', note },
      {
        name: 'viewer_script',
        value: median(scripts),
        unit: 'ms',
        note: 'JSON.parse, indexes, first draw',
      },
      { name: 'redraw_zoomed_out', value: median(redraws), unit: 'ms' },
      { name: 'zoom_step', value: median(zooms), unit: 'ms' },
    ],
  };
}
