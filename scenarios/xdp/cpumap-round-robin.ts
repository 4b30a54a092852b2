/**
 * The round-robin redirect of the kernel's documentation and samples
 * (Documentation/bpf/map_cpumap.rst, xdp_redirect_cpu): each receiving
 * CPU walks the ARRAY of available CPUs with its own iterator in a
 * PERCPU_ARRAY (no atomics: each CPU has its own copy), and redirects each
 * frame to the next CPU through the CPUMAP. Flows spread evenly: every
 * source CPU sends each target the same number of frames, give or take
 * one.
 *
 * @example
 * runScenario(cpumapRoundRobin(), { strategy: 'pct', seed: 1 }).ok; // true
 */

import {
  bpfMapCreate,
  defineScenario,
  type FlowSpec,
  type Invariant,
  netOf,
  type Scenario,
  TrafficSource,
} from 'percpu-emu';
import { buffersFreed, cpumapsOf, framesAccountedFor } from './xdp-invariants.ts';

const TARGETS = [1, 2, 3];
const FRAMES = 600;

const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);

const flows: FlowSpec[] = Array.from({ length: 32 }, (_, i) => ({
  src: `192.168.${i}.1`,
  dst: '10.0.0.1',
  sport: 4000 + i,
  dport: 443,
  proto: 'tcp',
  size: 128,
}));

const spreadEvenly: Invariant = {
  name: 'each source CPU sends every target CPU the same number of frames, give or take one',
  check(k) {
    const map = cpumapsOf(k)[0];
    const bad: string[] = [];
    const rows = map.enqueueStats.map((row, src) => {
      const counts = TARGETS.map((t) => row[t].processed);
      if (Math.max(...counts) - Math.min(...counts) > 1)
        bad.push(`CPU ${src}: ${counts.join('/')}`);
      return `${src}->[${counts.join(',')}]`;
    });
    return { ok: bad.length === 0, detail: bad.length === 0 ? rows.join(' ') : bad.join('; ') };
  },
};

export function cpumapRoundRobin(): Scenario {
  return defineScenario({
    name: 'cpumap-round-robin',
    description:
      'RSS spreads 32 flows over 4 RX queues; XDP redirects each frame to the next of CPUs 1-3 (a per-CPU iterator over an ARRAY of CPUs) through a CPUMAP',
    machine: { cpus: 4, tickInterval: 500 },
    pct: { depth: 3, steps: 20000 },
    setup(k) {
      const net = netOf(k);
      const count = bpfMapCreate(k, 'ARRAY', 'cpus_count', 4, 4, 1);
      const available = bpfMapCreate(k, 'ARRAY', 'cpus_available', 4, 4, k.nrCpus);
      bpfMapCreate(k, 'PERCPU_ARRAY', 'cpus_iterator', 4, 4, 1);
      const cpuMap = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 4, k.nrCpus);
      count.updateElem(u32(0), u32(TARGETS.length));
      TARGETS.forEach((cpu, i) => {
        available.updateElem(u32(i), u32(cpu));
        cpuMap.updateElem(u32(cpu), u32(512));
      });
      const prog = k.loadText(
        k.assemble(`
            w1 = 0
            *(u32 *)(r10 - 4) = w1
            r1 = cpus_count ll
            r2 = r10
            r2 += -4
            call bpf_map_lookup_elem
            if r0 == 0 goto abort
            r7 = *(u32 *)(r0 + 0)       # cpu_max
            r1 = cpus_iterator ll
            r2 = r10
            r2 += -4
            call bpf_map_lookup_elem    # this CPU's iterator
            if r0 == 0 goto abort
            r8 = *(u32 *)(r0 + 0)       # cpu_idx = *cpu_iterator
            r1 = r8
            r1 += 1
            if r1 != r7 goto store
            r1 = 0
          store:
            *(u32 *)(r0 + 0) = w1       # *cpu_iterator = next, wrapping at cpu_max
            *(u32 *)(r10 - 8) = w8
            r1 = cpus_available ll
            r2 = r10
            r2 += -8
            call bpf_map_lookup_elem
            if r0 == 0 goto abort
            r2 = *(u32 *)(r0 + 0)       # cpu_dest
            if r2 >= 64 goto abort
            r1 = cpu_map ll
            r3 = 0
            call bpf_redirect_map
            exit
          abort:
            r0 = 0
            exit
        `),
        'xdp_redir_cpu_round_robin',
      );
      const eth0 = net.addDevice({ name: 'eth0' });
      eth0.attachXdp(prog);
      new TrafficSource(eth0, { flows, count: FRAMES, rate: 8000 }).start(k, () => net.drained());
    },
    invariants: [framesAccountedFor, spreadEvenly, buffersFreed],
  });
}
