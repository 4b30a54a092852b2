/**
 * Lab rss-cpumap's machine: 4 CPUs and eth0, whose RSS sends every frame
 * to queue 0 (the NIC cannot hash this traffic), so CPU 0 receives it all
 * and the student's XDP program (`xdp_steer` in steer.bpf.c) must spread
 * it over CPUs 1-3 through the CPUMAP, where the student's cpumap program
 * (`rx_stats`) counts what each CPU passes to its stack.
 *
 * The traffic is a pcap made here: 20 UDP flows of 6 frames each, every
 * frame carrying its flow number and sequence number in its payload, sent
 * in trains of 3 back-to-back frames per flow, the flows taking turns, and
 * 8 malformed frames (ARP, not IPv4) among
 * them, which the student must drop in XDP and count. The stack keeps a
 * copy of each frame it receives, in the order it receives them, so the
 * invariants can check every flow's order.
 *
 * Each named scenario (scenarios.ts) runs this machine with the invariants
 * of one test, so `percpu-emu lab run rss-cpumap <name> --replay ...`
 * shows exactly what the test saw.
 *
 * @example
 * const s = rssScenario(dir, { name: 'order', qsize: 64, invariants: ['accounted', 'order'] });
 */

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  BpfObject,
  buildFrame,
  CpuMap,
  compileBpfC,
  defineScenario,
  ErrnoError,
  type FlowSpec,
  type Invariant,
  type Kernel,
  netOf,
  type Scenario,
  TrafficSource,
  writePcap,
} from 'percpu-emu';
import { readStudentFile } from '../grader/source.ts';

export const FLOWS = 20;
export const FRAMES_PER_FLOW = 6;
/** Frames a flow sends back to back. */
const TRAIN = 3;
/** A malformed frame after every this many good ones. */
const BAD_EVERY = 15;
export const TARGETS = [1, 2, 3];
/** Where a good frame's payload holds its flow number and sequence number (after Ethernet, IPv4 and UDP). */
const PAYLOAD = 14 + 20 + 8;
const STATS_SIZE = 24;

export const flows: FlowSpec[] = Array.from({ length: FLOWS }, (_, i) => ({
  src: `10.1.${i >> 3}.${11 + 13 * (i & 7)}`,
  dst: '10.0.0.1',
  sport: 5000 + 37 * i,
  dport: 9000 + (i % 4),
  proto: 'udp',
  size: 64 + 32 * (i % 5),
}));

/** An ARP request: not IPv4, what xdp_steer must drop. */
function badFrame(n: number): Uint8Array {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0, 0, 0, 0, n], 6);
  f.set([0x08, 0x06], 12);
  return f;
}

/** A good frame of flow `f`, its sequence number in the payload. */
function goodFrame(f: number, seq: number): Uint8Array {
  const frame = buildFrame(flows[f]);
  const dv = new DataView(frame.buffer);
  dv.setUint32(PAYLOAD, f, true);
  dv.setUint32(PAYLOAD + 4, seq, true);
  return frame;
}

/**
 * The traffic: each flow sends trains of TRAIN frames back to back (as a
 * TCP window does), the flows taking turns; a malformed frame after every
 * BAD_EVERY good ones.
 */
export function trafficFrames(): {
  frames: Uint8Array[];
  good: number;
  bad: number;
  bytes: number;
} {
  const frames: Uint8Array[] = [];
  let good = 0;
  let bytes = 0;
  for (let train = 0; train < FRAMES_PER_FLOW; train += TRAIN) {
    for (let f = 0; f < FLOWS; f++) {
      for (let seq = train; seq < train + TRAIN; seq++) {
        const frame = goodFrame(f, seq);
        frames.push(frame);
        good++;
        bytes += frame.length;
        if (good % BAD_EVERY === 0) frames.push(badFrame(frames.length));
      }
    }
  }
  return { frames, good, bad: frames.length - good, bytes };
}

export type RssCheck = 'accounted' | 'balance' | 'order' | 'stats' | 'percpu-stats' | 'malformed';

export interface RssOptions {
  readonly name: string;
  /** qsize of each cpumap entry. */
  readonly qsize: number;
  /** Frames per emulated second; a burst (all at once) without. */
  readonly rate?: number;
  readonly invariants: readonly RssCheck[];
}

/** Compiles the student's steer.bpf.c; a compiler error comes back as clang printed it. */
export function compileSteer(dir: string): Uint8Array {
  readStudentFile(dir, 'steer.bpf.c', 'rss-cpumap');
  try {
    return compileBpfC(join(dir, 'steer.bpf.c'));
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    if (stderr) throw new ErrnoError('EINVAL', `steer.bpf.c does not compile:\n${stderr}`);
    throw e;
  }
}

/** clang's absence, in a sentence, or null when it is there. */
export function clangMissing(): string | null {
  try {
    execFileSync(process.env.PERCPU_EMU_CLANG ?? 'clang', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'clang not found: apt-get install clang libbpf-dev (this lab compiles steer.bpf.c)';
  }
}

interface RxStats {
  rxPackets: number;
  rxBytes: number;
  dropped: number;
}

/** The `stats` map's key 0, per CPU for a PERCPU_ARRAY, one shared value for an ARRAY. */
function readStats(obj: BpfObject): { perCpu: RxStats[] | null; total: RxStats } {
  const h = obj.map('stats').loaded();
  if (h.map.valueSize !== STATS_SIZE)
    throw new ErrnoError(
      'EINVAL',
      `stats has ${h.map.valueSize}-byte values: keep struct rx_stats (3 x __u64)`,
    );
  const bytes = h.lookupElem(new Uint8Array(4));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = (off: number): RxStats => ({
    rxPackets: Number(dv.getBigUint64(off, true)),
    rxBytes: Number(dv.getBigUint64(off + 8, true)),
    dropped: Number(dv.getBigUint64(off + 16, true)),
  });
  if (!h.map.percpu) return { perCpu: null, total: at(0) };
  const perCpu = Array.from({ length: bytes.length / h.map.percpuStride }, (_, c) =>
    at(c * h.map.percpuStride),
  );
  const total = perCpu.reduce(
    (t, s) => ({
      rxPackets: t.rxPackets + s.rxPackets,
      rxBytes: t.rxBytes + s.rxBytes,
      dropped: t.dropped + s.dropped,
    }),
    { rxPackets: 0, rxBytes: 0, dropped: 0 },
  );
  return { perCpu, total };
}

/** The good frames the stack received, in order: CPU, flow, sequence number, length. */
function delivered(k: Kernel) {
  return netOf(k)
    .keptFrames.filter(
      (f) => f.bytes.length >= PAYLOAD + 8 && f.bytes[12] === 0x08 && f.bytes[13] === 0,
    )
    .map((f) => {
      const dv = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
      return {
        cpu: f.cpu,
        flow: dv.getUint32(PAYLOAD, true),
        seq: dv.getUint32(PAYLOAD + 4, true),
        len: f.bytes.length,
      };
    });
}

const cpumapOf = (k: Kernel) => netOf(k).redirectMaps.find((m) => m instanceof CpuMap) as CpuMap;

function invariants(obj: () => BpfObject, traffic: ReturnType<typeof trafficFrames>) {
  const all: Record<RssCheck, Invariant> = {
    accounted: {
      name: 'every frame accounted for: received = stack + XDP drops + ring drops + cpumap drops',
      check(k) {
        const net = netOf(k);
        const rx = net.devices.get(1)!.rxTotals();
        const map = cpumapOf(k);
        let ringDrops = 0;
        let enqueued = 0;
        for (const row of map.enqueueStats)
          for (const s of row) {
            ringDrops += s.drops;
            enqueued += s.processed;
          }
        let kthreadDrops = 0;
        for (const s of map.kthreadStats) kthreadDrops += s.drop + s.drops + s.exceptions;
        const stack = net.stackTotals().packets;
        const sum = stack + rx.dropped + ringDrops + kthreadDrops;
        const ok =
          rx.packets === traffic.frames.length &&
          rx.received === rx.packets &&
          enqueued === rx.xdpRedirect &&
          sum === rx.received;
        return {
          ok,
          detail: `${rx.received} of ${traffic.frames.length} received = ${stack} to the stack + ${rx.dropped} dropped in XDP + ${ringDrops} ring drops + ${kthreadDrops} dropped in cpumap kthreads${ok ? '' : ` (sum ${sum})`}`,
        };
      },
    },
    balance: {
      name: 'balance: each of CPUs 1-3 gets 10%..60% of the frames, CPU 0 none',
      check(k) {
        const per = new Array<number>(k.nrCpus).fill(0);
        const got = delivered(k);
        for (const d of got) per[d.cpu]++;
        const share = (n: number) => n / Math.max(1, got.length);
        const ok =
          per[0] === 0 &&
          TARGETS.every((c) => share(per[c]) >= 0.1 && share(per[c]) <= 0.6) &&
          got.length > 0;
        return {
          ok,
          detail: `frames per CPU ${per.join('/')} (${per.map((n) => `${Math.round(100 * share(n))}%`).join('/')})`,
        };
      },
    },
    order: {
      name: "order: every flow's frames reach the stack in the order they were sent",
      check(k) {
        const last = new Map<number, { seq: number; cpu: number }>();
        const cpusOf = new Map<number, Set<number>>();
        for (const d of delivered(k)) {
          const prev = last.get(d.flow);
          if (prev !== undefined && d.seq <= prev.seq) {
            return {
              ok: false,
              detail: `flow ${d.flow}: frame ${d.seq} (CPU ${d.cpu}) reached the stack after frame ${prev.seq} (CPU ${prev.cpu})`,
            };
          }
          last.set(d.flow, { seq: d.seq, cpu: d.cpu });
          if (!cpusOf.has(d.flow)) cpusOf.set(d.flow, new Set());
          cpusOf.get(d.flow)!.add(d.cpu);
        }
        const split = [...cpusOf.values()].filter((s) => s.size > 1).length;
        return {
          ok: true,
          detail: `${last.size} flows in order${split > 0 ? ` (${split} of them spread over several CPUs: in order by luck)` : ''}`,
        };
      },
    },
    stats: {
      name: 'statistics exact: rx_packets and rx_bytes of stats add up to what the stacks received',
      check(k) {
        const { total } = readStats(obj());
        const stack = netOf(k).stackTotals();
        const ok = total.rxPackets === stack.packets && total.rxBytes === stack.bytes;
        return {
          ok,
          detail: `stats: ${total.rxPackets} packets, ${total.rxBytes} bytes; the stacks: ${stack.packets} packets, ${stack.bytes} bytes`,
        };
      },
    },
    'percpu-stats': {
      name: "statistics per CPU: each CPU's rx_packets is what that CPU's stack received",
      check(k) {
        const { perCpu } = readStats(obj());
        const stack = netOf(k).percpu.map((sd) => sd.stack.packets);
        if (perCpu === null)
          return {
            ok: false,
            detail: `stats is one value shared by every CPU (a BPF_MAP_TYPE_ARRAY); the stacks received ${stack.join('/')}`,
          };
        const ok = perCpu.every((s, c) => s.rxPackets === stack[c]);
        return {
          ok,
          detail: `rx_packets per CPU ${perCpu.map((s) => s.rxPackets).join('/')}, stacks ${stack.join('/')}`,
        };
      },
    },
    malformed: {
      name: 'malformed frames dropped in XDP and counted in stats.dropped; none reach a stack',
      check(k) {
        const { total } = readStats(obj());
        const arrived = netOf(k).keptFrames.filter(
          (f) => f.bytes[12] !== 0x08 || f.bytes[13] !== 0,
        );
        const xdpDrops = netOf(k).devices.get(1)!.rxTotals().xdpDrop;
        const ok =
          total.dropped === traffic.bad && arrived.length === 0 && xdpDrops === traffic.bad;
        return {
          ok,
          detail: `${traffic.bad} malformed frames sent: stats.dropped ${total.dropped}, XDP_DROP ${xdpDrops}, ${arrived.length} reached a stack`,
        };
      },
    },
  };
  return all;
}

/** Lab rss-cpumap's scenario with the student's steer.bpf.c. */
export function rssScenario(dir: string, o: RssOptions): Scenario {
  let obj: BpfObject | null = null;
  const traffic = trafficFrames();
  const pcap = writePcap(traffic.frames.map((bytes) => ({ tsNs: 0, bytes })));
  const checks = invariants(() => {
    if (obj === null) throw new ErrnoError('EINVAL', 'steer.bpf.c was not loaded');
    return obj;
  }, traffic);
  return defineScenario({
    name: `rss-cpumap-${o.name}`,
    description: `${traffic.frames.length} frames of ${FLOWS} UDP flows (${traffic.bad} malformed) all arrive on CPU 0; xdp_steer spreads them over CPUs 1-3 through a CPUMAP of qsize ${o.qsize}${o.rate === undefined ? ', in one burst' : ''}`,
    machine: { cpus: 4, tickInterval: 500 },
    pct: { depth: 3, steps: 20000 },
    setup(k) {
      const net = netOf(k);
      const o2 = BpfObject.open(compileSteer(dir), { name: 'steer' });
      obj = o2;
      o2.rodata.cpus_count = TARGETS.length;
      o2.load(k);
      const le32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);
      const fd = o2.program('rx_stats').fd;
      TARGETS.forEach((cpu, i) => {
        o2.map('cpus_available').loaded().updateElem(le32(i), le32(cpu));
        o2.map('cpu_map').loaded().updateElem(le32(cpu), le32(o.qsize, fd));
      });
      const eth0 = net.addDevice({ name: 'eth0' });
      eth0.rss.setIndirectionTable(new Array(128).fill(0));
      net.keepFrames = true;
      eth0.attachXdp(o2.program('xdp_steer'));
      new TrafficSource(eth0, { pcap, rate: o.rate }).start(k, () => net.drained());
    },
    invariants: o.invariants.map((c) => checks[c]),
  });
}
