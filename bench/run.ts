/**
 * `npm run bench -- <suite> [--json]`: runs one benchmark suite. Suites are
 * modules in bench/ exporting `run(): Promise<BenchReport>`.
 *
 * @example
 * // npm run bench -- cpu --json
 */

import { MissingBenchPrograms } from './cpu.ts';
import { type BenchReport, printReport } from './report.ts';

const SUITES: Record<string, () => Promise<{ run(): Promise<BenchReport> }>> = {
  cpu: () => import('./cpu.ts'),
  registers: () => import('./registers.ts'),
  engine: () => import('./engine.ts'),
  explore: () => import('./explore.ts'),
  percpu: () => import('./percpu.ts'),
  kmalloc: () => import('./kmalloc.ts'),
  maps: () => import('./maps.ts'),
  loader: () => import('./loader.ts'),
  sanitizer: () => import('./sanitizer.ts'),
  parallel: () => import('./parallel.ts'),
  timeline: () => import('./timeline.ts'),
  xdp: () => import('./xdp.ts'),
};

const args = process.argv.slice(2);
const json = args.includes('--json');
const names = args.filter((a) => !a.startsWith('--'));
if (names.length === 0 || names.some((n) => !(n in SUITES))) {
  console.error(`usage: npm run bench -- <${Object.keys(SUITES).join('|')}> [--json]`);
  process.exit(2);
}
for (const name of names) {
  const suite = await SUITES[name]();
  try {
    printReport(await suite.run(), json);
  } catch (e) {
    if (!(e instanceof MissingBenchPrograms)) throw e;
    console.error(`bench ${name}: ${e.message}`);
    process.exitCode = 2;
  }
}
