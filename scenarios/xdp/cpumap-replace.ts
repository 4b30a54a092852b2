/**
 * A CPUMAP entry replaced and deleted while frames are in flight. CPU 0
 * receives and redirects to CPU 1; an admin task replaces CPU 1's entry
 * twice (a new ring and kthread each time: the kernel does so even for the
 * same value), then deletes it and adds it back. Frames that find the slot
 * empty take the program's fallback, XDP_PASS. After each swap the old
 * kthread drains its ring once an RCU grace period has passed, then exits.
 *
 * Invariant: every frame is passed, redirected and processed, or dropped
 * in exactly one counter (ring drops included); every old kthread exited;
 * every buffer is freed. It holds under every schedule (PCT over 500 seeds).
 *
 * @example
 * explore(cpumapReplace(), { runs: 500 }).failure; // undefined
 */

import { bpfMapCreate } from '../../maps/syscall.ts';
import { type FlowSpec, netOf, RSS_INDIR_SIZE, TrafficSource } from '../../nic/index.ts';
import { defineScenario, type Invariant, type Scenario } from '../scenario.ts';
import { buffersFreed, cpumapsOf, framesAccountedFor } from './xdp-invariants.ts';

const FRAMES = 240;
const u32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);

const flows: FlowSpec[] = Array.from({ length: 4 }, (_, i) => ({
  src: '10.2.0.1',
  dst: '10.2.0.2',
  sport: 7000 + i,
  dport: 9,
  proto: 'udp',
  size: 64,
}));

const oldKthreadsExited: Invariant = {
  name: 'every replaced entry drained its ring, and its kthread exited',
  check(k) {
    const map = cpumapsOf(k)[0];
    const entries = map.allEntries();
    const live = map.redirectLookup(1);
    const old = entries.filter((e) => e !== live);
    const bad = old.filter((e) => !e.freed || !e.kthread.exited);
    return {
      ok: bad.length === 0 && old.length === 3,
      detail: `${entries.length} entries made, ${old.length} replaced or deleted, ${bad.length} not torn down; kthreads: ${entries.map((e) => `${e.kthread.comm}[${e.kthread.pid}]${e.kthread.exited ? ' exited' : ''}`).join(', ')}`,
    };
  },
};

export function cpumapReplace(): Scenario {
  return defineScenario({
    name: 'cpumap-replace',
    description:
      "CPU 0 redirects to CPU 1's cpumap entry while an admin task replaces it twice, deletes it and adds it back: old kthreads drain, nothing is lost",
    machine: { cpus: 3, tickInterval: 300 },
    pct: { depth: 3, steps: 30000 },
    setup(k) {
      const net = netOf(k);
      const cpuMap = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 4, k.nrCpus);
      cpuMap.updateElem(u32(1), u32(64));
      const eth0 = net.addDevice({ name: 'eth0' });
      eth0.rss.setIndirectionTable(new Array(RSS_INDIR_SIZE).fill(0));
      eth0.attachXdp(
        k.loadText(
          k.assemble(`
            r1 = cpu_map ll
            r2 = 1
            r3 = 2                        # fallback XDP_PASS when the slot is empty
            call bpf_redirect_map
            exit
          `),
          'xdp_to_cpu1',
        ),
      );
      new TrafficSource(eth0, { flows, count: FRAMES, rate: 4000 }).start(k, () => net.drained());
      k.spawn({
        comm: 'admin',
        cpu: 2,
        body: function* () {
          yield* k.msleep(8);
          cpuMap.updateElem(u32(1), u32(64)); // replace: same value, new entry
          yield* k.msleep(8);
          cpuMap.updateElem(u32(1), u32(16)); // replace with a smaller ring
          yield* k.msleep(8);
          cpuMap.deleteElem(u32(1));
          yield* k.msleep(4);
          cpuMap.updateElem(u32(1), u32(64));
          return 0;
        },
      });
    },
    invariants: [framesAccountedFor, oldKthreadsExited, buffersFreed],
  });
}
