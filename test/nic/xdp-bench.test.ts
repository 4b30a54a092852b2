/**
 * xdp-bench's redirect-cpu statistics: the layout of xdp_sample.c (labels
 * in 23 columns, values in 10, units in 13), rates per emulated second,
 * per-CPU lines that add up to their totals, and an exit summary equal to
 * the counters.
 */

import { describe, expect, it } from 'vitest';
import { formatXdpBench, XdpBenchRecorder } from '../../nic/xdp-bench.ts';
import { runScenario } from '../../scenarios/run-scenario.ts';
import { defineScenario } from '../../scenarios/scenario.ts';
import { rssCpumap } from '../../scenarios/xdp/rss-cpumap.ts';

function bench(extended: boolean) {
  const s = rssCpumap('cpumap');
  let rec: XdpBenchRecorder | undefined;
  const r = runScenario(
    defineScenario({
      ...s,
      setup(k) {
        s.setup(k);
        rec = new XdpBenchRecorder(k, 0.01);
      },
    }),
    { strategy: 'rr' },
  );
  return { r, samples: rec!.finish(), lines: formatXdpBench(rec!.finish(), { extended }) };
}

const value = (line: string, col: number) => Number(line.slice(23 + 24 * col, 33 + 24 * col));

describe('xdp-bench redirect-cpu', () => {
  it('prints the extended layout with per-CPU lines adding up to each total', () => {
    const { lines } = bench(true);
    const first = lines.slice(0, lines.indexOf(''));
    expect(first[0]).toMatch(/^eth0->\? {16}[ \d]{10} rx\/s {9}[ \d.]{10} err,drop\/s$/);
    expect(first[1]).toMatch(/^ {2}receive total {8}[ \d]{10} pkt\/s/);
    const at = (label: string) => first.findIndex((l) => l.trimStart().startsWith(label));
    const rxTotal = value(first[at('receive total')], 0);
    const cpuLines = first.filter((l) => /^ {4}cpu:\d /.test(l)).slice(0, 4);
    expect(cpuLines.reduce((n, l) => n + value(l, 0), 0)).toBe(rxTotal);
    expect(value(first[0], 0)).toBe(rxTotal);
    const enq = first[at('enqueue to cpu 2')];
    const enqCpus = first.filter((l) => /^ {4}cpu:\d->2 /.test(l));
    expect(enqCpus.reduce((n, l) => n + value(l, 0), 0)).toBe(value(enq, 0));
    expect(enqCpus.reduce((n, l) => n + value(l, 1), 0)).toBe(value(enq, 1));
    expect(first.some((l) => l.startsWith('  kthread total'))).toBe(true);
    expect(first.some((l) => l.startsWith('    xdp_stats'))).toBe(true);
    expect(first.at(-1)).toMatch(/^ {2}xdp_exception {8}[ \d]{10} hit\/s$/);
  });

  it('terse mode keeps the summary line and the lines with drops', () => {
    const { lines } = bench(false);
    const first = lines.slice(0, lines.indexOf(''));
    expect(first[0]).toMatch(/^eth0->\?/);
    expect(first.slice(1).every((l) => value(l, 1) > 0)).toBe(true);
  });

  it('the exit summary is the counters: received and dropped', () => {
    const { lines, r } = bench(false);
    const summary = lines.slice(-5);
    expect(summary[1]).toBe('  Packets received    : 1,200');
    const drops = r.verdicts
      .find((v) => v.name.startsWith('ring drops'))!
      .detail.match(/: (\d+) dropped/)![1];
    expect(summary[3]).toBe(`  Rx dropped          : ${Number(drops).toLocaleString('en-US')}`);
    expect(summary[4]).toBe('  Errors recorded     : 0');
  });
});
