/**
 * `percpu-emu xdp-bench redirect-cpu <scenario> [--cpus N] [--qsize Q]
 * [--interval T] [-e] [--strategy rr|random|pct] [--seed S]`: runs an XDP
 * scenario (one whose setup makes a device, a CPUMAP and traffic) and
 * prints xdp-bench's redirect-cpu statistics every T seconds of emulated
 * time (default 2, xdp-bench's; the shipped scenarios last tens of
 * milliseconds, so try --interval 0.01), then the exit summary. `--qsize`
 * gives every CPUMAP entry the scenario made that queue size; `-e` is
 * extended mode (every line, not only the summary and lines with drops).
 * Exit status 1 when an invariant of the scenario fails.
 *
 * @example
 * // npx percpu-emu xdp-bench redirect-cpu rss-cpumap --interval 0.01 -e
 */

import { BPF_EXIST } from '../../maps/bpf-uapi.ts';
import { BPF_XDP_CPUMAP, CpuMap, netOf } from '../../nic/index.ts';
import { formatXdpBench, XdpBenchRecorder } from '../../nic/xdp-bench.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { loadScenario } from '../load-scenario.ts';
import { runScenario, type StrategyName } from '../run-scenario.ts';
import { defineScenario } from '../scenario.ts';

const USAGE =
  'usage: percpu-emu xdp-bench redirect-cpu <scenario> [--cpus N] [--qsize Q] [--interval T] [-e] [--strategy rr|random|pct] [--seed S]';

export interface XdpBenchOptions {
  cpus?: number;
  qsize?: number;
  /** Emulated seconds between two prints. Default 2. */
  interval?: number;
  extended?: boolean;
  strategy?: StrategyName;
  seed?: number;
}

/** The old argv-style entry point: `xdp-bench redirect-cpu <scenario> [options]`. */
export async function main(args: string[]): Promise<number> {
  const [mode, ...rest] = args;
  const opts: XdpBenchOptions = {};
  let spec: string | undefined;
  const num = (flag: string, v: string | undefined, integer: boolean): number => {
    const n = Number(v);
    if (v === undefined || !(n > 0) || (integer && !Number.isInteger(n))) {
      throw new ErrnoError(
        'EINVAL',
        `${flag} ${v ?? ''} is not a positive ${integer ? 'integer' : 'number'}`,
      );
    }
    return n;
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--cpus') opts.cpus = num(a, rest[++i], true);
    else if (a === '--qsize') opts.qsize = num(a, rest[++i], true);
    else if (a === '--interval') opts.interval = num(a, rest[++i], false);
    else if (a === '--seed') opts.seed = num(a, rest[++i], true);
    else if (a === '-e' || a === '--extended') opts.extended = true;
    else if (a === '--strategy') {
      const v = rest[++i];
      if (!['rr', 'random', 'pct'].includes(v))
        throw new ErrnoError('EINVAL', `--strategy ${v}: use rr, random or pct`);
      opts.strategy = v as StrategyName;
    } else if (a.startsWith('-') || spec !== undefined) {
      process.stderr.write(`percpu-emu xdp-bench: unexpected ${a}\n${USAGE}\n`);
      return 2;
    } else spec = a;
  }
  if (spec === undefined || mode === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  return runXdpBench(mode, spec, opts);
}

/** Runs `spec` with the statistics; returns the exit status. */
export async function runXdpBench(mode: string, spec: string, o: XdpBenchOptions): Promise<number> {
  if (mode !== 'redirect-cpu') {
    process.stderr.write(`percpu-emu xdp-bench: only redirect-cpu is implemented\n${USAGE}\n`);
    return 2;
  }
  for (const [flag, v, integer] of [
    ['--cpus', o.cpus, true],
    ['--qsize', o.qsize, true],
    ['--interval', o.interval, false],
    ['--seed', o.seed, true],
  ] as const) {
    if (v !== undefined && (!(v > 0) || (integer && !Number.isInteger(v)))) {
      throw new ErrnoError(
        'EINVAL',
        `${flag} ${v} is not a positive ${integer ? 'integer' : 'number'}`,
      );
    }
  }
  if (o.strategy !== undefined && !['rr', 'random', 'pct'].includes(o.strategy)) {
    throw new ErrnoError('EINVAL', `--strategy ${o.strategy}: use rr, random or pct`);
  }
  const s = await loadScenario(spec);
  let recorder: XdpBenchRecorder | undefined;
  const wrapped = defineScenario({
    ...s,
    setup(k) {
      s.setup(k);
      if (o.qsize !== undefined) resizeCpumaps(k, o.qsize);
      recorder = new XdpBenchRecorder(k, o.interval ?? 2);
    },
  });
  const r = runScenario(wrapped, { cpus: o.cpus, strategy: o.strategy ?? 'rr', seed: o.seed ?? 1 });
  process.stdout.write(
    `${formatXdpBench(recorder!.finish(), { extended: o.extended ?? false }).join('\n')}\n`,
  );
  for (const v of r.verdicts.filter((x) => !x.ok))
    process.stdout.write(`FAILED ${v.name}: ${v.detail}\n`);
  return r.ok ? 0 : 1;
}

/** Every live CPUMAP entry gets queue size `qsize` (a new entry, as an update makes). */
function resizeCpumaps(k: Kernel, qsize: number): void {
  for (const map of netOf(k).redirectMaps) {
    if (!(map instanceof CpuMap)) continue;
    for (let cpu = 0; cpu < map.maxEntries; cpu++) {
      const entry = map.redirectLookup(cpu);
      if (entry === null) continue;
      const value = new Uint8Array(map.valueSize);
      const dv = new DataView(value.buffer);
      dv.setUint32(0, qsize, true);
      if (map.valueSize === 8 && entry.prog !== null) {
        dv.setUint32(4, netOf(k).loadXdpProgram(entry.prog.prog, BPF_XDP_CPUMAP), true);
      }
      map.sysUpdate(new Uint8Array(new Uint32Array([cpu]).buffer), value, BPF_EXIST);
    }
  }
}
