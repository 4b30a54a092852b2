/**
 * `npm run bench -- xdp`: frames per second (host wall clock) through the
 * whole path: NIC -> XDP redirect on CPU 0 -> cpumap bulk queue and ring ->
 * kthread on the other CPUs -> XDP_PASS to their stacks, on 2 and 4 CPUs
 * under the deterministic engine (round-robin, quantum 1000). The baseline,
 * measured in the same run: the same number of frames through XDP_DROP on
 * the receiving CPU, entering as a burst (the traffic source fills the RX
 * ring as the driver empties it). The cpumap frames come at 12,000 per
 * emulated second per kthread, what the kthreads take without ring drops
 * (an skb and the stack cost each frame 40 instructions of the target
 * CPU), so every frame reaches a stack. RSS points every flow at
 * queue 0, rings hold 1024 frames, kmalloc has 16 MiB; tracing is off. Each figure is the
 * median of three rounds after a warm-up of three runs of each.
 *
 * The parallel mode figure (`cpumap_parallel_pps_2cpu`) is not measured:
 * the network layer does not run in parallel mode yet.
 *
 * @example
 * // npm run bench -- xdp --json
 */

import { bpfMapCreate } from '../maps/syscall.ts';
import { type FlowSpec, netOf, RSS_INDIR_SIZE, TrafficSource } from '../nic/index.ts';
import { runDeterministic } from '../preempt/engine.ts';
import { Machine } from '../preempt/machine.ts';
import { roundRobin } from '../preempt/strategies/round-robin.ts';
import { type BenchReport, median } from './report.ts';

const FRAMES = 20_000;
const ROUNDS = 3;
const u32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);

const flows: FlowSpec[] = Array.from({ length: 12 }, (_, i) => ({
  src: `10.8.0.${i + 1}`,
  dst: '10.8.1.1',
  sport: 6000 + i,
  dport: 80,
  proto: 'udp',
  size: 64,
}));

/** One run; returns frames that reached a stack (or were dropped, for the baseline) per wall second. */
function once(cpus: number, mode: 'drop' | 'cpumap'): number {
  const k = new Machine({
    cpus,
    trace: false,
    sanitizer: false,
    tickInterval: 1000,
    kmallocHeap: 16 << 20,
  }).boot();
  const net = netOf(k);
  const eth0 = net.addDevice({ name: 'eth0', rxRingSize: 256 });
  eth0.rss.setIndirectionTable(new Array(RSS_INDIR_SIZE).fill(0));
  if (mode === 'drop') {
    eth0.attachXdp(k.loadText(k.assemble('r0 = 1\nexit'), 'xdp_drop'));
  } else {
    const map = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 4, cpus);
    for (let cpu = 1; cpu < cpus; cpu++) map.updateElem(u32(cpu), u32(1024));
    eth0.attachXdp(
      k.loadText(
        k.assemble(`
          r2 = *(u32 *)(r1 + 0)
          r3 = *(u32 *)(r1 + 4)
          r4 = r2
          r4 += 36
          if r4 > r3 goto pass
          r2 = *(u8 *)(r2 + 35)
          r2 %= ${cpus - 1}
          r2 += 1
          r1 = cpu_map ll
          r3 = 0
          call bpf_redirect_map
          exit
        pass:
          r0 = 2
          exit`),
        'xdp_redirect_cpu',
      ),
    );
  }
  // The drop baseline as a burst; the cpumap path at what its kthreads take without ring drops.
  const rate = mode === 'drop' ? undefined : 12_000 * (cpus - 1);
  new TrafficSource(eth0, { flows, count: FRAMES, rate }).start(k, () => net.drained());
  const t0 = performance.now();
  const r = runDeterministic(k, roundRobin({ quantum: 1000 }), { maxSteps: 2_000_000_000 });
  const sec = (performance.now() - t0) / 1000;
  if (!r.finished) throw new Error(`xdp bench (${mode}, ${cpus} CPUs) did not finish`);
  const done = mode === 'drop' ? eth0.rxTotals().xdpDrop : net.stackTotals().packets;
  return done / sec;
}

function measure(cpus: number, mode: 'drop' | 'cpumap'): number {
  return median(Array.from({ length: ROUNDS }, () => once(cpus, mode)));
}

export async function run(): Promise<BenchReport> {
  // Warm-up: the JIT needs a few runs of each path before its figures settle (17k, 49k, 200k frames/s).
  for (let i = 0; i < 3; i++) {
    once(2, 'drop');
    once(2, 'cpumap');
    once(4, 'cpumap');
  }
  const drop = measure(2, 'drop');
  const two = measure(2, 'cpumap');
  const four = measure(4, 'cpumap');
  const baseline = 'XDP_DROP on the receiving CPU';
  return {
    suite: 'xdp',
    results: [
      { name: 'xdp_drop_pps', value: drop, unit: 'frames/s' },
      { name: 'cpumap_pass_pps_2cpu', value: two, unit: 'frames/s', ratio: two / drop, baseline },
      { name: 'cpumap_pass_pps_4cpu', value: four, unit: 'frames/s', ratio: four / drop, baseline },
    ],
  };
}
