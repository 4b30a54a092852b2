/**
 * Statistics kept by the cpumap program, which runs in the kthreads of
 * CPUs 1 and 2 at the same time (kernel/bpf/cpumap.c runs it in
 * cpu_map_kthread_run on each target CPU).
 *
 * - `racy`: a plain read-add-write of one { packets, bytes } record in an
 *   ARRAY, shared by both kthreads: a load on CPU 1, a load on CPU 2, two
 *   stores, and an increment is lost. PCT finds it.
 * - `percpu`: the counter in a PERCPU_ARRAY: each kthread adds to its own
 *   CPU's copy; userspace sums the copies.
 * - `atomic`: the ARRAY counter incremented with `lock ... +=`
 *   (__sync_fetch_and_add).
 *
 * CPU 0 receives every frame (the indirection table points at queue 0) and
 * its XDP program redirects by the source port's parity to CPU 1 or 2.
 *
 * @example
 * explore(cpumapStats('racy'), { runs: 20 }).failure; // a seed that lost an update
 */

import {
  BPF_XDP_CPUMAP,
  bpfMapByName,
  bpfMapCreate,
  defineScenario,
  type FlowSpec,
  type Invariant,
  netOf,
  RSS_INDIR_SIZE,
  type Scenario,
  struct,
  TrafficSource,
  typedMap,
  typedPercpuMap,
  u32 as u32Type,
  u64,
} from 'percpu-emu';
import { buffersFreed, cpumapsOf, framesAccountedFor } from './xdp-invariants.ts';

export type CpumapStatsVariant = 'racy' | 'percpu' | 'atomic';
const FRAMES = 400;

const datarec = struct('datarec', [
  ['packets', u64],
  ['bytes', u64],
]);
type Datarec = { packets: bigint; bytes: bigint };

const u32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);

const flows: FlowSpec[] = Array.from({ length: 8 }, (_, i) => ({
  src: '10.9.0.1',
  dst: '10.9.0.2',
  sport: 5000 + i,
  dport: 53,
  proto: 'udp',
  size: 64,
}));

/** The cpumap program: count the frame and its bytes in `stats[0]` ({ packets, bytes }), pass it. */
function counterCode(variant: CpumapStatsVariant): string {
  const bump =
    variant === 'atomic'
      ? `r1 = 1
          lock *(u64 *)(r0 + 0) += r1     # atomic adds: nothing can come between
          lock *(u64 *)(r0 + 8) += r3`
      : `r1 = *(u64 *)(r0 + 0)            # read packets ...
          r2 = *(u64 *)(r0 + 8)           # ... and bytes
          r2 += r3
          r1 += 1
          *(u64 *)(r0 + 8) = r2           # write back: another CPU may have
          *(u64 *)(r0 + 0) = r1           # written in between`;
  return `
          r6 = r1
          w1 = 0
          *(u32 *)(r10 - 4) = w1
          r1 = stats ll
          r2 = r10
          r2 += -4
          call bpf_map_lookup_elem        # ${variant === 'percpu' ? "this CPU's copy" : 'the one shared value'}
          if r0 == 0 goto out
          r3 = *(u32 *)(r6 + 4)           # data_end
          r4 = *(u32 *)(r6 + 0)           # data
          r3 -= r4                        # the frame's length
          ${bump}
        out:
          r0 = 2
          exit`;
}

const countsEveryFrame = (variant: CpumapStatsVariant): Invariant => ({
  name: 'the cpumap program counted every frame its kthreads processed',
  check(k) {
    const map = cpumapsOf(k)[0];
    const processed = map.kthreadStats.reduce((n, s) => n + s.processed, 0);
    const stats = bpfMapByName(k, 'stats');
    let counted: bigint;
    let detail: string;
    if (variant === 'percpu') {
      const perCpu = typedPercpuMap<number, Datarec>(stats, u32Type, datarec).get(0)!;
      counted = perCpu.reduce((a, b) => a + b.packets, 0n);
      detail = `per-CPU packet counts ${perCpu.map((r) => r.packets).join(' + ')} = ${counted}`;
    } else {
      counted = typedMap<number, Datarec>(stats, u32Type, datarec).get(0)!.packets;
      detail = `shared packet count ${counted}`;
    }
    const byCpu = map.kthreadStats.map((s) => s.processed).join('/');
    return {
      ok: counted === BigInt(processed),
      detail: `${detail}, kthreads processed ${processed} (per CPU ${byCpu})`,
    };
  },
});

export function cpumapStats(variant: CpumapStatsVariant): Scenario {
  return defineScenario({
    name: `cpumap-stats-${variant}`,
    description:
      variant === 'racy'
        ? 'the cpumap program on CPUs 1 and 2 counts frames with a plain read-add-write of one ARRAY value: updates are lost'
        : variant === 'percpu'
          ? 'the cpumap program on CPUs 1 and 2 counts frames in a PERCPU_ARRAY: each kthread writes its own copy'
          : 'the cpumap program on CPUs 1 and 2 counts frames with an atomic add on one ARRAY value',
    machine: { cpus: 3, tickInterval: 300 },
    pct: { depth: 3, steps: 8000 },
    setup(k) {
      bpfMapCreate(k, variant === 'percpu' ? 'PERCPU_ARRAY' : 'ARRAY', 'stats', 4, datarec.size, 1);
      const net = netOf(k);
      const cpuMap = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 8, k.nrCpus);
      const counter = k.loadText(k.assemble(counterCode(variant)), `cpumap_count_${variant}`);
      const fd = net.loadXdpProgram(counter, BPF_XDP_CPUMAP);
      cpuMap.updateElem(u32(1), u32(256, fd));
      cpuMap.updateElem(u32(2), u32(256, fd));
      const eth0 = net.addDevice({ name: 'eth0' });
      eth0.rss.setIndirectionTable(new Array(RSS_INDIR_SIZE).fill(0));
      const steer = k.assemble(`
          r2 = *(u32 *)(r1 + 0)           # data
          r3 = *(u32 *)(r1 + 4)           # data_end
          r4 = r2
          r4 += 36
          if r4 > r3 goto pass            # the bounds check the verifier wants
          r2 = *(u8 *)(r2 + 35)           # low byte of the UDP source port
          r2 &= 1
          r2 += 1                         # CPU 1 or 2
          r1 = cpu_map ll
          r3 = 0
          call bpf_redirect_map
          exit
        pass:
          r0 = 2
          exit
      `);
      eth0.attachXdp(k.loadText(steer, 'xdp_steer_by_port'));
      new TrafficSource(eth0, { flows, count: FRAMES }).start(k, () => net.drained());
    },
    invariants: [framesAccountedFor, countsEveryFrame(variant), buffersFreed],
  });
}
