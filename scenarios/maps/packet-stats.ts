/**
 * Per-CPU packet statistics, the way XDP and tc programs keep them: every
 * CPU's receive path (a task bound to the CPU, each packet handled with
 * bottom halves disabled, as NAPI polls in softirq context) counts packets
 * and bytes per protocol into a BPF_MAP_TYPE_PERCPU_ARRAY with plain loads
 * and stores, no atomics. The scenario then reads every CPU's copy from
 * userspace and sums them.
 *
 * Why no atomic is needed: `bpf_map_lookup_elem` returns this CPU's copy of
 * the value, so no two CPUs ever write the same bytes; and with bottom
 * halves (hence preemption) disabled for the length of a packet, nothing
 * else on this CPU runs between the read and the write. Each copy has one
 * writer at a time, and the sum read afterwards is exact. The invariants
 * check both: each CPU's copy counts exactly the packets that CPU received,
 * and the sums over CPUs are the totals.
 *
 * Packets are made up deterministically: packet i on CPU c is
 * `64 + (7919 i + 104729 c) mod 1437` bytes long, of protocol
 * `(31 i + c) mod 3` (0 TCP, 1 UDP, 2 other); CPU c receives 200 + 50 c.
 *
 * @example
 * runScenario(packetStats()).ok; // true
 */

import {
  bpfMapByName,
  bpfMapCreate,
  defineScenario,
  type Invariant,
  type Kernel,
  type Scenario,
  struct,
  type TypedPercpuMap,
  typedPercpuMap,
  u32,
  u64,
} from 'percpu-emu';

export const PROTOCOLS = ['tcp', 'udp', 'other'] as const;

const datarec = struct('datarec', [
  ['packets', u64],
  ['bytes', u64],
]);
type Datarec = { packets: bigint; bytes: bigint };

/** Packets CPU `cpu` receives. */
export const packetsOn = (cpu: number) => 200 + 50 * cpu;
const packetLen = (i: number, cpu: number) => 64 + ((7919 * i + 104729 * cpu) % 1437);
const protocolOf = (i: number, cpu: number) => (31 * i + cpu) % 3;

/** What CPU `cpu` should have counted, per protocol. */
export function expectedOn(cpu: number): Datarec[] {
  const recs = PROTOCOLS.map(() => ({ packets: 0n, bytes: 0n }));
  for (let i = 0; i < packetsOn(cpu); i++) {
    const r = recs[protocolOf(i, cpu)];
    r.packets += 1n;
    r.bytes += BigInt(packetLen(i, cpu));
  }
  return recs;
}

/** The `stats` map the setup made, as typed per-CPU values. */
const statsOf = (k: Kernel): TypedPercpuMap<number, Datarec> =>
  typedPercpuMap<number, Datarec>(bpfMapByName(k, 'stats'), u32, datarec);

const eachCpuCountsItsOwn: Invariant = {
  name: "each CPU's copy counts exactly the packets that CPU received",
  check(k) {
    const map = statsOf(k);
    const bad: string[] = [];
    PROTOCOLS.forEach((proto, key) => {
      map.get(key)!.forEach((got, cpu) => {
        const want = expectedOn(cpu)[key];
        if (got.packets !== want.packets || got.bytes !== want.bytes) {
          bad.push(
            `${proto} on CPU ${cpu}: ${got.packets}/${got.bytes}, expected ${want.packets}/${want.bytes}`,
          );
        }
      });
    });
    return { ok: bad.length === 0, detail: bad.length === 0 ? 'every copy exact' : bad.join('; ') };
  },
};

const sumsAreTotals: Invariant = {
  name: 'the sums over CPUs are the totals received (no atomics needed)',
  check(k) {
    const map = statsOf(k);
    const lines: string[] = [];
    let ok = true;
    PROTOCOLS.forEach((proto, key) => {
      const perCpu = map.get(key)!;
      const packets = perCpu.reduce((a, r) => a + r.packets, 0n);
      const bytes = perCpu.reduce((a, r) => a + r.bytes, 0n);
      let wantPackets = 0n;
      let wantBytes = 0n;
      for (let cpu = 0; cpu < k.nrCpus; cpu++) {
        wantPackets += expectedOn(cpu)[key].packets;
        wantBytes += expectedOn(cpu)[key].bytes;
      }
      ok &&= packets === wantPackets && bytes === wantBytes;
      lines.push(
        `${proto} ${packets} pkts ${bytes} B (per CPU: ${perCpu.map((r) => r.packets).join(', ')})`,
      );
    });
    return { ok, detail: lines.join('; ') };
  },
};

export function packetStats(): Scenario {
  return defineScenario({
    name: 'packet-stats',
    description:
      'each CPU counts the packets it receives, per protocol, into a PERCPU_ARRAY with plain loads and stores; userspace sums the copies',
    machine: { cpus: 4, tickInterval: 50 },
    setup(k) {
      bpfMapCreate(k, 'PERCPU_ARRAY', 'stats', 4, datarec.size, PROTOCOLS.length);
      for (let cpu = 0; cpu < k.nrCpus; cpu++) {
        const program = k.assemble(`
            r9 = r1                     # this CPU's number
            r6 = 0                      # packet index
          rx:
            call local_bh_disable
            r7 = r6                     # length: 64 + (7919 i + 104729 cpu) % 1437
            r7 *= 7919
            r1 = r9
            r1 *= 104729
            r7 += r1
            r7 %= 1437
            r7 += 64
            r8 = r6                     # protocol: (31 i + cpu) % 3
            r8 *= 31
            r8 += r9
            r8 %= 3
            *(u32 *)(r10 - 4) = w8
            r1 = stats ll
            r2 = r10
            r2 += -4
            call bpf_map_lookup_elem    # this CPU's struct datarec
            if r0 == 0 goto fail
            r1 = *(u64 *)(r0 + 0)       # plain read-add-write: one writer per copy
            r1 += 1
            *(u64 *)(r0 + 0) = r1
            r1 = *(u64 *)(r0 + 8)
            r1 += r7
            *(u64 *)(r0 + 8) = r1
            call local_bh_enable
            r6 += 1
            if r6 < ${packetsOn(cpu)} goto rx
            r0 = 0
            exit
          fail:
            call local_bh_enable
            r0 = 1
            exit
        `);
        k.spawn({ comm: `rx/${cpu}`, cpu, allowed: [cpu], program, args: [cpu] });
      }
    },
    invariants: [eachCpuCountsItsOwn, sumsAreTotals],
  });
}
