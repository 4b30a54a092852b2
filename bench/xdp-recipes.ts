/**
 * The machines `npm run bench -- xdp` runs: the cpumap path (every flow on
 * RX queue 0, XDP on CPU 0 redirecting by a byte of the source address to
 * the cpumap kthreads on CPUs 1..n-1, XDP_PASS to their stacks) and the
 * XDP_DROP baseline on the receiving CPU. `cpumapParallel2` is the cpumap
 * machine as a recipe, which each worker of a parallel run rebuilds by
 * importing this module.
 *
 * @example
 * setupXdpBench(k, 'cpumap'); // after booting xdpBenchMachine(2)
 */

import { bpfMapCreate } from '../maps/syscall.ts';
import { type FlowSpec, netOf, RSS_INDIR_SIZE, TrafficSource } from '../nic/index.ts';
import type { Kernel } from '../preempt/kernel.ts';
import type { MachineOptions, MachineRecipe } from '../preempt/machine.ts';

/** Frames each run sends. */
export const XDP_BENCH_FRAMES = 20_000;
/**
 * Frames per emulated second each cpumap kthread is offered: what one
 * takes without ring drops (an skb and the stack cost each frame 40
 * instructions of the target CPU), so every frame reaches a stack.
 */
export const KTHREAD_RATE = 12_000;

const u32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);

const flows: FlowSpec[] = Array.from({ length: 12 }, (_, i) => ({
  src: `10.8.0.${i + 1}`,
  dst: '10.8.1.1',
  sport: 6000 + i,
  dport: 80,
  proto: 'udp',
  size: 64,
}));

/** The machine options of every run: tracing off, rings of 256, 16 MiB of kmalloc. */
export function xdpBenchMachine(cpus: number): MachineOptions {
  return { cpus, trace: false, sanitizer: false, tickInterval: 1000, kmallocHeap: 16 << 20 };
}

/** eth0, its XDP program, the CPUMAP (cpumap mode) and the traffic of one run. */
export function setupXdpBench(k: Kernel, mode: 'drop' | 'cpumap'): void {
  const cpus = k.nrCpus;
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
  const rate = mode === 'drop' ? undefined : KTHREAD_RATE * (cpus - 1);
  new TrafficSource(eth0, { flows, count: XDP_BENCH_FRAMES, rate }).start(k, () => net.drained());
}

/** The cpumap path on 2 CPUs, for parallel mode. */
export const cpumapParallel2: MachineRecipe = {
  machine: xdpBenchMachine(2),
  setup(k) {
    setupXdpBench(k, 'cpumap');
  },
};
