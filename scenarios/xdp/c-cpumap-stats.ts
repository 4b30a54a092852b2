/**
 * cpumap-stats again, in C (scenarios/c/cpumap_stats.bpf.c): the cpumap
 * program runs in the kthreads of CPUs 1 and 2 at the same time and counts
 * every frame in `stats[0]`. `racy` (one ARRAY value, a plain
 * read-add-write) loses updates; `percpu` (the same code over a
 * PERCPU_ARRAY, built with -DSTATS_PERCPU) and `atomic`
 * (__sync_fetch_and_add, -DSTATS_ATOMIC) count every frame.
 *
 * Needs clang and libbpf-dev (apt-get install clang libbpf-dev).
 *
 * @example
 * runScenario(cCpumapStats('racy'), { strategy: 'random', seed: 1 }).ok; // false
 */

import path from 'node:path';
import {
  BpfObject,
  compileBpfC,
  defineScenario,
  type FlowSpec,
  type Invariant,
  netOf,
  RSS_INDIR_SIZE,
  type Scenario,
  TrafficSource,
} from 'percpu-emu';
import type { CpumapStatsVariant } from './cpumap-stats.ts';
import { buffersFreed, cpumapsOf, framesAccountedFor } from './xdp-invariants.ts';

const SOURCE = path.join(import.meta.dirname, '../c/cpumap_stats.bpf.c');
const FRAMES = 400;
const FLAGS: Record<CpumapStatsVariant, string[]> = {
  racy: [],
  percpu: ['-DSTATS_PERCPU'],
  atomic: ['-DSTATS_ATOMIC'],
};

const le32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);

const flows: FlowSpec[] = Array.from({ length: 8 }, (_, i) => ({
  src: '10.9.0.1',
  dst: '10.9.0.2',
  sport: 5000 + i,
  dport: 53,
  proto: 'udp',
  size: 64,
}));

/** stats[0].packets, summed over CPUs for a PERCPU_ARRAY, equals what the kthreads processed. */
function countsEveryFrame(obj: () => BpfObject): Invariant {
  return {
    name: 'the cpumap program counted every frame its kthreads processed',
    check(k) {
      const h = obj().map('stats').loaded();
      const bytes = h.lookupElem(new Uint8Array(4));
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const copies = h.map.percpu ? bytes.length / h.map.percpuStride : 1;
      const perCpu = Array.from({ length: copies }, (_, c) =>
        dv.getBigUint64(c * (h.map.percpu ? h.map.percpuStride : 0), true),
      );
      const counted = perCpu.reduce((a, b) => a + b, 0n);
      const map = cpumapsOf(k)[0];
      const processed = map.kthreadStats.reduce((n, s) => n + s.processed, 0);
      return {
        ok: counted === BigInt(processed),
        detail: `${h.map.percpu ? `per-CPU packet counts ${perCpu.join(' + ')} = ` : 'shared packet count '}${counted}, kthreads processed ${processed} (per CPU ${map.kthreadStats.map((s) => s.processed).join('/')})`,
      };
    },
  };
}

export function cCpumapStats(variant: CpumapStatsVariant): Scenario {
  let obj: BpfObject | null = null;
  return defineScenario({
    name: `c-cpumap-stats-${variant}`,
    description: `the C cpumap program on CPUs 1 and 2 counts frames ${variant === 'racy' ? 'with a plain read-add-write of one ARRAY value: updates are lost' : variant === 'percpu' ? 'in a PERCPU_ARRAY: each kthread writes its own copy' : 'with __sync_fetch_and_add on one ARRAY value'}`,
    machine: { cpus: 3, tickInterval: 300 },
    pct: { depth: 3, steps: 8000 },
    setup(k) {
      const net = netOf(k);
      const o = BpfObject.open(compileBpfC(SOURCE, { flags: FLAGS[variant] }), {
        name: 'cpumap_stats',
      });
      obj = o;
      o.load(k);
      const fd = o.program('cpumap_count').fd;
      for (const cpu of [1, 2]) o.map('cpu_map').loaded().updateElem(le32(cpu), le32(256, fd));
      const eth0 = net.addDevice({ name: 'eth0' });
      eth0.rss.setIndirectionTable(new Array(RSS_INDIR_SIZE).fill(0));
      eth0.attachXdp(o.program('xdp_steer_by_port'));
      new TrafficSource(eth0, { flows, count: FRAMES }).start(k, () => net.drained());
    },
    invariants: [framesAccountedFor, countsEveryFrame(() => obj!), buffersFreed],
  });
}
