/**
 * The round-robin CPU redirect again, in C (scenarios/c/xdp_redirect_cpu.bpf.c,
 * compiled by clang): the CPUMAP, the ARRAY of available CPUs and the
 * per-CPU iterator are BTF-defined `.maps` of the object, `cpus_count` a
 * `const volatile` set before load, the XDP program attached to eth0, and
 * every CPUMAP entry carries the object's second program (SEC("xdp/cpumap"),
 * its fd in `struct bpf_cpumap_val`) that counts passed frames per CPU.
 * As in the assembly version, each source CPU spreads its frames evenly
 * over the targets; the cpumap program's per-CPU counts add up to what the
 * kthreads passed.
 *
 * Needs clang and libbpf-dev (apt-get install clang libbpf-dev).
 *
 * @example
 * runScenario(cCpumapRoundRobin(), { strategy: 'pct', seed: 1 }).ok; // true
 */

import path from 'node:path';
import {
  BpfObject,
  compileBpfC,
  defineScenario,
  type FlowSpec,
  type Invariant,
  netOf,
  type Scenario,
  TrafficSource,
  typedPercpuMap,
  u32,
  u64,
} from 'percpu-emu';
import { buffersFreed, cpumapsOf, cpumapTotals, framesAccountedFor } from './xdp-invariants.ts';

const SOURCE = path.join(import.meta.dirname, '../c/xdp_redirect_cpu.bpf.c');
const TARGETS = [1, 2, 3];
const FRAMES = 600;
const QSIZE = 512;

const le32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);

const flows: FlowSpec[] = Array.from({ length: 32 }, (_, i) => ({
  src: `192.168.${i}.1`,
  dst: '10.0.0.1',
  sport: 4000 + i,
  dport: 443,
  proto: 'udp',
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

/** The `passed` PERCPU_ARRAY the cpumap program counts into equals the kthreads' XDP_PASS, CPU by CPU. */
function programCountsPasses(obj: () => BpfObject): Invariant {
  return {
    name: "the cpumap program's per-CPU pass counts equal each kthread's XDP_PASS",
    check(k) {
      const passed = typedPercpuMap<number, bigint>(obj().map('passed').loaded(), u32, u64);
      const perCpu = (passed.get(0) ?? []).map(Number);
      const map = cpumapsOf(k)[0];
      const want = map.kthreadStats.map((s) => s.pass);
      const total = cpumapTotals(map).kt.pass;
      const ok = perCpu.every((n, cpu) => n === want[cpu]) && total > 0;
      return {
        ok,
        detail: `passed per CPU ${perCpu.join('/')}, kthread XDP_PASS ${want.join('/')} (${total} in all)`,
      };
    },
  };
}

export function cCpumapRoundRobin(): Scenario {
  let obj: BpfObject | null = null;
  return defineScenario({
    name: 'c-cpumap-round-robin',
    description:
      'the C round-robin redirect (xdp_redirect_cpu.bpf.c): RSS spreads 32 flows over 4 RX queues, XDP redirects each frame to the next of CPUs 1-3 through a BTF-defined CPUMAP whose entries run a SEC("xdp/cpumap") program',
    machine: { cpus: 4, tickInterval: 500 },
    pct: { depth: 3, steps: 20000 },
    setup(k) {
      const net = netOf(k);
      const o = BpfObject.open(compileBpfC(SOURCE), { name: 'xdp_redirect_cpu' });
      obj = o;
      o.rodata.cpus_count = TARGETS.length;
      o.load(k);
      const available = o.map('cpus_available').loaded();
      const cpuMap = o.map('cpu_map').loaded();
      const progFd = o.program('cpumap_count').fd; // bpf_program__fd, as libbpf users write
      TARGETS.forEach((cpu, i) => {
        available.updateElem(le32(i), le32(cpu));
        cpuMap.updateElem(le32(cpu), le32(QSIZE, progFd)); // struct bpf_cpumap_val
      });
      const eth0 = net.addDevice({ name: 'eth0' });
      eth0.attachXdp(o.program('xdp_redir_cpu_round_robin'));
      new TrafficSource(eth0, { flows, count: FRAMES, rate: 8000 }).start(k, () => net.drained());
    },
    invariants: [framesAccountedFor, spreadEvenly, programCountsPasses(() => obj!), buffersFreed],
  });
}
