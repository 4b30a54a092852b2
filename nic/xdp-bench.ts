/**
 * xdp-bench's statistics (xdp-tools lib/util/xdp_sample.c, the
 * `redirect-cpu` layout), from the counters of the network stack sampled
 * every `interval` of emulated time (CPU 0's clock): rates are (now -
 * previous) / elapsed emulated seconds. Extended mode prints every line;
 * terse mode the summary line and lines with drops or errors. The exit
 * summary gives the totals, which add up exactly: every count is an
 * integer taken from the same counters the invariants read.
 *
 * Columns are `%10s %-13s` (a value right-aligned in 10, its unit left in
 * 13); labels take 23 characters: the summary `%-23s`, sections `  %-20s `,
 * per-CPU lines `    %-18s `, xdp_stats per-CPU lines `      %-16s `.
 *
 * @example
 * const rec = new XdpBenchRecorder(k, 0.01);   // sample every 10 ms
 * ...run...
 * console.log(formatXdpBench(rec.finish(), { extended: true }).join('\n'));
 */

import type { Kernel } from '../preempt/kernel.ts';
import { CpuMap } from './cpumap.ts';
import { netOf } from './net-setup.ts';

/** The counters at one instant. */
export interface XdpBenchSample {
  /** Emulated ns (CPU 0's clock). */
  readonly ns: number;
  /** Per device name: per CPU rx, drop, error (driver verdicts). */
  readonly rx: ReadonlyMap<string, { rx: number[]; drop: number[]; err: number[] }>;
  /** Per target CPU, per source CPU: [processed, drops, bulks]. */
  readonly enqueue: number[][][];
  /** Per kthread CPU: [processed, drops, sched, pass, drop, redirect]. */
  readonly kthread: number[][];
  /** xdp_exception hits, driver and cpumap programs. */
  readonly exceptions: number;
}

/** Samples the counters every `intervalSec` of emulated time. */
export class XdpBenchRecorder {
  readonly samples: XdpBenchSample[] = [];
  private next: number;
  private readonly intervalNs: number;
  /** Every CPUMAP seen, kept past its close so the last sample still counts it. */
  private readonly maps = new Set<CpuMap>();

  constructor(
    private readonly k: Kernel,
    intervalSec: number,
  ) {
    this.intervalNs = Math.max(1, Math.round(intervalSec * 1e9));
    this.samples.push(this.sample(k, 0));
    this.next = this.intervalNs;
    k.onTimer(0, {
      fn: (kk) => {
        const ns = kk.cpus[0].clock * kk.opts.nsPerInsn;
        while (ns >= this.next) {
          this.samples.push(this.sample(kk, this.next));
          this.next += this.intervalNs;
        }
      },
    });
  }

  /** The samples, with a last one at the end of the run. */
  finish(): XdpBenchSample[] {
    const ns = this.k.cpus[0].clock * this.k.opts.nsPerInsn;
    const last = this.samples[this.samples.length - 1];
    if (ns > last.ns) this.samples.push(this.sample(this.k, ns));
    return this.samples;
  }

  private sample(k: Kernel, ns: number): XdpBenchSample {
    for (const m of netOf(k).redirectMaps) if (m instanceof CpuMap) this.maps.add(m);
    return sample(k, ns, this.maps);
  }
}

function sample(k: Kernel, ns: number, maps: ReadonlySet<CpuMap>): XdpBenchSample {
  const net = netOf(k);
  const n = k.nrCpus;
  const rx = new Map<string, { rx: number[]; drop: number[]; err: number[] }>();
  let exceptions = 0;
  for (const dev of net.devices.values()) {
    const s = { rx: new Array(n).fill(0), drop: new Array(n).fill(0), err: new Array(n).fill(0) };
    dev.queues.forEach((q, cpu) => {
      s.rx[cpu] = q.stats.received;
      s.drop[cpu] = q.stats.xdpDrop + q.stats.xdpInvalid;
      s.err[cpu] = q.stats.xdpAborted + q.stats.xdpRedirectErr;
      exceptions += q.stats.xdpAborted + q.stats.xdpInvalid;
    });
    rx.set(dev.name, s);
  }
  const enqueue = Array.from({ length: n }, () => Array.from({ length: n }, () => [0, 0, 0]));
  const kthread = Array.from({ length: n }, () => [0, 0, 0, 0, 0, 0]);
  for (const map of maps) {
    map.enqueueStats.forEach((row, src) => {
      row.forEach((s, dst) => {
        const e = enqueue[dst][src];
        e[0] += s.processed;
        e[1] += s.drops;
        e[2] += s.bulks;
      });
    });
    map.kthreadStats.forEach((s, cpu) => {
      const t = kthread[cpu];
      t[0] += s.processed;
      t[1] += s.drops;
      t[2] += s.sched;
      t[3] += s.pass;
      t[4] += s.drop;
      t[5] += s.redirect;
      exceptions += s.exceptions;
    });
  }
  return { ns, rx, enqueue, kthread, exceptions };
}

/** A rate: an integer when it is one, else two decimals. */
function rate(delta: number, sec: number): string {
  const r = sec > 0 ? delta / sec : 0;
  return Number.isInteger(r) ? String(r) : r.toFixed(2);
}

function columns(cols: readonly [string, string][]): string {
  return cols
    .map(([v, unit]) => `${v.padStart(10)} ${unit.padEnd(13)}`)
    .join('')
    .trimEnd();
}

const sum = (a: readonly number[]) => a.reduce((x, y) => x + y, 0);

/** One interval's lines, xdp-bench redirect-cpu layout. */
export function formatInterval(
  prev: XdpBenchSample,
  now: XdpBenchSample,
  extended: boolean,
): string[] {
  const sec = (now.ns - prev.ns) / 1e9;
  const d = (a: number, b: number) => rate(a - b, sec);
  const lines: string[] = [];
  const show = (line: string, bad: boolean) => {
    if (extended || bad) lines.push(line);
  };
  for (const [name, s] of now.rx) {
    const p = prev.rx.get(name) ?? {
      rx: s.rx.map(() => 0),
      drop: s.rx.map(() => 0),
      err: s.rx.map(() => 0),
    };
    const rxT = sum(s.rx) - sum(p.rx);
    const dropT = sum(s.drop) - sum(p.drop);
    const errT = sum(s.err) - sum(p.err);
    let enqDrops = 0;
    now.enqueue.forEach((row, dst) => {
      row.forEach((e, src) => {
        enqDrops += e[1] - prev.enqueue[dst][src][1];
      });
    });
    lines.push(
      `${`${name}->?`.padEnd(23)}${columns([
        [rate(rxT, sec), 'rx/s'],
        [rate(dropT + errT + enqDrops, sec), 'err,drop/s'],
      ])}`,
    );
    show(
      `  ${'receive total'.padEnd(20)} ${columns([
        [rate(rxT, sec), 'pkt/s'],
        [rate(dropT, sec), 'drop/s'],
        [rate(errT, sec), 'error/s'],
      ])}`,
      dropT + errT > 0,
    );
    s.rx.forEach((v, cpu) => {
      if (v - p.rx[cpu] === 0 && s.drop[cpu] - p.drop[cpu] === 0 && s.err[cpu] - p.err[cpu] === 0)
        return;
      const bad = s.drop[cpu] - p.drop[cpu] + s.err[cpu] - p.err[cpu] > 0;
      show(
        `    ${`cpu:${cpu}`.padEnd(18)} ${columns([
          [d(v, p.rx[cpu]), 'pkt/s'],
          [d(s.drop[cpu], p.drop[cpu]), 'drop/s'],
          [d(s.err[cpu], p.err[cpu]), 'error/s'],
        ])}`,
        bad,
      );
    });
  }
  now.enqueue.forEach((row, dst) => {
    const deltas = row.map((e, src) => e.map((v, i) => v - prev.enqueue[dst][src][i]));
    const pkts = sum(deltas.map((e) => e[0]));
    if (pkts === 0) return;
    const drops = sum(deltas.map((e) => e[1]));
    const bulks = sum(deltas.map((e) => e[2]));
    const avg = (p: number, b: number) => (b === 0 ? '0.00' : (p / b).toFixed(2));
    show(
      `  ${`enqueue to cpu ${dst}`.padEnd(20)} ${columns([
        [rate(pkts, sec), 'pkt/s'],
        [rate(drops, sec), 'drop/s'],
        [avg(pkts, bulks), 'bulk-avg'],
      ])}`,
      drops > 0,
    );
    deltas.forEach((e, src) => {
      if (e[0] === 0) return;
      show(
        `    ${`cpu:${src}->${dst}`.padEnd(18)} ${columns([
          [rate(e[0], sec), 'pkt/s'],
          [rate(e[1], sec), 'drop/s'],
          [avg(e[0], e[2]), 'bulk-avg'],
        ])}`,
        e[1] > 0,
      );
    });
  });
  const kd = now.kthread.map((t, cpu) => t.map((v, i) => v - prev.kthread[cpu][i]));
  const ktT = kd.reduce((a, t) => a.map((v, i) => v + t[i]), [0, 0, 0, 0, 0, 0]);
  if (ktT[0] > 0 || ktT[2] > 0) {
    show(
      `  ${'kthread total'.padEnd(20)} ${columns([
        [rate(ktT[0], sec), 'pkt/s'],
        [rate(ktT[1], sec), 'drop/s'],
        [String(ktT[2]), 'sched'],
      ])}`,
      ktT[1] > 0,
    );
    kd.forEach((t, cpu) => {
      if (t[0] === 0 && t[2] === 0) return;
      show(
        `    ${`cpu:${cpu}`.padEnd(18)} ${columns([
          [rate(t[0], sec), 'pkt/s'],
          [rate(t[1], sec), 'drop/s'],
          [String(t[2]), 'sched'],
        ])}`,
        t[1] > 0,
      );
    });
    show(
      `    ${'xdp_stats'.padEnd(18)} ${columns([
        [rate(ktT[3], sec), 'pass/s'],
        [rate(ktT[4], sec), 'drop/s'],
        [rate(ktT[5], sec), 'redir/s'],
      ])}`,
      ktT[4] > 0,
    );
    kd.forEach((t, cpu) => {
      if (t[3] + t[4] + t[5] === 0) return;
      show(
        `      ${`cpu:${cpu}`.padEnd(16)} ${columns([
          [rate(t[3], sec), 'pass/s'],
          [rate(t[4], sec), 'drop/s'],
          [rate(t[5], sec), 'redir/s'],
        ])}`,
        t[4] > 0,
      );
    });
  }
  const exc = now.exceptions - prev.exceptions;
  show(`  ${'xdp_exception'.padEnd(20)} ${columns([[rate(exc, sec), 'hit/s']])}`, exc > 0);
  return lines;
}

/** sample_exit()'s summary over the whole run. */
export function formatSummary(first: XdpBenchSample, last: XdpBenchSample): string[] {
  const sec = (last.ns - first.ns) / 1e9;
  let rx = 0;
  let dropped = 0;
  let errors = 0;
  for (const [name, s] of last.rx) {
    const f = first.rx.get(name);
    rx += sum(s.rx) - (f ? sum(f.rx) : 0);
    dropped += sum(s.drop) - (f ? sum(f.drop) : 0);
    errors += sum(s.err) - (f ? sum(f.err) : 0);
  }
  last.enqueue.forEach((row, dst) => {
    row.forEach((e, src) => {
      dropped += e[1] - first.enqueue[dst][src][1];
    });
  });
  last.kthread.forEach((t, cpu) => {
    dropped += t[1] - first.kthread[cpu][1] + t[4] - first.kthread[cpu][4];
  });
  const n = (v: number) => v.toLocaleString('en-US');
  return [
    `  Duration            : ${sec.toFixed(3)}s`,
    `  Packets received    : ${n(rx)}`,
    `  Average packets/s   : ${n(Math.round(sec > 0 ? rx / sec : 0))}`,
    `  Rx dropped          : ${n(dropped)}`,
    `  Errors recorded     : ${n(errors)}`,
  ];
}

/** Every interval, then the exit summary. */
export function formatXdpBench(
  samples: readonly XdpBenchSample[],
  opts: { extended?: boolean } = {},
): string[] {
  const out: string[] = [];
  for (let i = 1; i < samples.length; i++) {
    out.push(...formatInterval(samples[i - 1], samples[i], opts.extended ?? false), '');
  }
  out.push(...formatSummary(samples[0], samples[samples.length - 1]));
  return out;
}
