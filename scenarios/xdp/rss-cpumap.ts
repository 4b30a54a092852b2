/**
 * RSS on the NIC alone against RSS plus a cpumap redirect to fewer CPUs.
 *
 * - `nic`: 4 RX queues, no XDP program: RSS spreads the flows over all
 *   four CPUs and each frame reaches the stack of its queue's CPU.
 * - `cpumap`: the same traffic, and an XDP program that sends every frame
 *   to CPU 2 or 3 (by RX queue) through a CPUMAP whose rings hold 8
 *   frames. Two kthreads cannot keep up with four receiving CPUs: frames
 *   are dropped at the rings, and each drop is counted (xdp_cpumap_enqueue)
 *   though the receiving program and the driver never see it.
 *
 * @example
 * runScenario(rssCpumap('cpumap')).verdicts; // ring drops counted, nothing lost
 */

import { bpfMapCreate } from '../../maps/syscall.ts';
import { type FlowSpec, netOf, TrafficSource } from '../../nic/index.ts';
import { defineScenario, type Invariant, type Scenario } from '../scenario.ts';
import { buffersFreed, cpumapsOf, cpumapTotals, framesAccountedFor } from './xdp-invariants.ts';

const FRAMES = 1200;
const QSIZE = 8;

const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);

const flows: FlowSpec[] = Array.from({ length: 48 }, (_, i) => ({
  src: `172.16.${i >> 4}.${(i & 15) + 1}`,
  dst: '10.1.0.1',
  sport: 30000 + 13 * i,
  dport: 8080,
  proto: 'udp',
  size: 256,
}));

const everyCpuReceives: Invariant = {
  name: 'RSS gives every CPU a share, and each CPU passes what its queue received',
  check(k) {
    const net = netOf(k);
    const eth0 = net.deviceByName('eth0');
    const got = eth0.queues.map((q) => q.stats.received);
    const stack = net.percpu.map((sd) => sd.stack.packets);
    const ok = got.every((n) => n > 0) && got.every((n, i) => n === stack[i]);
    return { ok, detail: `received per queue ${got.join('/')}, stack per CPU ${stack.join('/')}` };
  },
};

const ringDropsCounted: Invariant = {
  name: 'ring drops appear, each counted once, none seen by the driver',
  check(k) {
    const map = cpumapsOf(k)[0];
    const { enq, kt } = cpumapTotals(map);
    const eth0 = netOf(k).deviceByName('eth0').rxTotals();
    const ok = enq.drops > 0 && eth0.dropped === 0 && enq.processed === enq.drops + kt.processed;
    return {
      ok,
      detail: `${enq.processed} enqueued: ${enq.drops} dropped at rings of ${QSIZE}, ${kt.processed} to the stack of CPUs 2-3; driver drops ${eth0.dropped}`,
    };
  },
};

export function rssCpumap(variant: 'nic' | 'cpumap'): Scenario {
  const redirect = variant === 'cpumap';
  return defineScenario({
    name: `rss-${variant}`,
    description: redirect
      ? `RSS over 4 queues, then XDP redirects everything to CPUs 2 and 3 through a CPUMAP with rings of ${QSIZE}: drops at the rings, counted`
      : 'RSS spreads 48 flows over 4 RX queues, one per CPU; each CPU passes its frames to its own stack',
    machine: { cpus: 4, tickInterval: 500 },
    pct: { depth: 3, steps: 20000 },
    setup(k) {
      const net = netOf(k);
      const eth0 = net.addDevice({ name: 'eth0' });
      if (redirect) {
        const cpuMap = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 4, k.nrCpus);
        cpuMap.updateElem(u32(2), u32(QSIZE));
        cpuMap.updateElem(u32(3), u32(QSIZE));
        const prog = k.assemble(`
            r2 = *(u32 *)(r1 + 16)      # rx_queue_index
            r2 &= 1
            r2 += 2                     # CPU 2 or 3
            r1 = cpu_map ll
            r3 = 0
            call bpf_redirect_map
            exit
        `);
        eth0.attachXdp(k.loadText(prog, 'xdp_to_two_cpus'));
      }
      new TrafficSource(eth0, { flows, count: FRAMES, rate: 40_000 }).start(k, () => net.drained());
    },
    invariants: redirect
      ? [framesAccountedFor, ringDropsCounted, buffersFreed]
      : [framesAccountedFor, everyCpuReceives, buffersFreed],
  });
}
