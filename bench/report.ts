/**
 * Benchmark results and their printing: a table with ratios against the
 * baseline measured in the same run, and with `--json` a last line holding
 * one JSON object in the shape DESIGN §9 gives.
 *
 * @example
 * printReport({ suite: 'cpu', results: [{ name: 'alu_loop', value: 160, unit: 'M insn/s',
 *   ratio: 40, baseline: 'reference interpreter' }] }, false);
 */

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** value / baseline value, when a baseline applies. */
  ratio?: number;
  baseline?: string;
  /** Extra facts printed in the table, not in the JSON figures. */
  note?: string;
}

export interface BenchReport {
  suite: string;
  results: BenchResult[];
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

export function printReport(report: BenchReport, json: boolean): void {
  const rows = report.results.map((r) => [
    r.name,
    `${fmt(r.value)} ${r.unit}`,
    r.ratio === undefined ? '' : `${fmt(r.ratio)}x`,
    r.baseline ?? '',
    r.note ?? '',
  ]);
  const head = ['benchmark', 'figure', 'ratio', 'baseline', 'note'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((x, c) => x.padEnd(widths[c]))
      .join('  ')
      .trimEnd();
  console.log(`suite: ${report.suite}`);
  console.log(line(head));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
  if (json) {
    const results = report.results.map(({ note: _note, ...r }) => r);
    console.log(JSON.stringify({ suite: report.suite, results }));
  }
}
