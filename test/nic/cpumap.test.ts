/**
 * BPF_MAP_TYPE_CPUMAP against the kernel's documented behaviour
 * (kernel/bpf/cpumap.c, Documentation/bpf/map_cpumap.rst): creation and
 * userspace errnos in the kernel's order, bpf_redirect_map's return values,
 * bulk queues of 8 and their flush, a full ring's drops counted in the
 * enqueue tracepoint, the kthread sleeping and woken, and replace/delete
 * while frames are queued: the old kthread drains before it exits.
 */

import { describe, expect, it } from 'vitest';
import { bpfMapCreate } from '../../maps/syscall.ts';
import type { CpuMap } from '../../nic/cpumap.ts';
import { buildFrame } from '../../nic/frame.ts';
import { netOf } from '../../nic/net-setup.ts';
import { TrafficSource } from '../../nic/traffic.ts';
import { BPF_XDP_CPUMAP } from '../../nic/xdp-uapi.ts';
import { Machine } from '../../preempt/machine.ts';
import { TASK_INTERRUPTIBLE } from '../../preempt/task.ts';
import { buffersOutstanding, flow, type Rig, rig, runAll, traceText } from './xdp-fixtures.ts';

const u32 = (...vals: number[]) => {
  const b = new Uint8Array(4 * vals.length);
  const dv = new DataView(b.buffer);
  vals.forEach((v, i) => {
    dv.setUint32(4 * i, v >>> 0, true);
  });
  return b;
};
const readU32 = (b: Uint8Array, at = 0) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

describe('CPUMAP creation', () => {
  it('exists on a kernel once its network stack is set up, on that kernel only', () => {
    const bare = new Machine({ cpus: 2 }).boot();
    expect(() => bpfMapCreate(bare, 'CPUMAP', 'cpu_map', 4, 4, 2)).toThrow(
      'EINVAL: map type BPF_MAP_TYPE_CPUMAP needs the network stack on this kernel: set it up first (netOf(k))',
    );
    expect(bare.ext.net).toBeUndefined();
    const k = new Machine({ cpus: 2 }).boot();
    const net = netOf(k);
    expect(k.ext.net).toBe(net);
    expect(netOf(k)).toBe(net); // set up once
    expect(bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 4, 2).map.type).toBe(16);
    expect(bpfMapCreate(k, 'DEVMAP_HASH', 'tx', 4, 4, 2).map.type).toBe(25);
    expect(() => bpfMapCreate(bare, 'DEVMAP', 'tx', 4, 4, 2)).toThrow(
      /EINVAL: map type BPF_MAP_TYPE_DEVMAP needs/,
    );
  });

  const create =
    (key: number, value: number, max: number, mapFlags = 0) =>
    () =>
      bpfMapCreate(rig(2).k, 'CPUMAP', 'cpu_map', key, value, max, { mapFlags });

  it('takes 4-byte keys and 4- or 8-byte values', () => {
    expect(create(4, 4, 2)()).toBeDefined();
    expect(create(4, 8, 2)()).toBeDefined();
    expect(create(4, 8, 2, 1 << 2)()).toBeDefined(); // BPF_F_NUMA_NODE
  });

  it('refuses other sizes, zero entries and other flags with EINVAL', () => {
    expect(create(8, 4, 2)).toThrow('EINVAL: CPUMAP key_size 8 is not 4');
    expect(create(4, 12, 2)).toThrow(/EINVAL: CPUMAP value_size 12/);
    expect(create(4, 4, 0)).toThrow('EINVAL: a CPUMAP needs max_entries > 0');
    expect(create(4, 4, 2, 1)).toThrow(/EINVAL: CPUMAP map_flags 0x1/);
  });

  it('refuses max_entries above NR_CPUS with E2BIG', () => {
    expect(create(4, 4, 65)).toThrow('E2BIG: CPUMAP max_entries 65 > NR_CPUS 64');
    expect(create(4, 4, 64)()).toBeDefined();
  });
});

describe('CPUMAP from userspace', () => {
  const map = (value = 4, max = 4) => {
    const r = rig(2);
    return { r, h: bpfMapCreate(r.k, 'CPUMAP', 'cpu_map', 4, value, max) };
  };

  it('update checks in the kernel order: flags, key, NOEXIST, qsize, possible CPU', () => {
    const { h } = map();
    expect(() => h.updateElem(u32(9), u32(20000), 3)).toThrow('EINVAL: update flags 3 > BPF_EXIST');
    expect(() => h.updateElem(u32(9), u32(20000), 1)).toThrow('E2BIG: key 9 >= max_entries 4');
    expect(() => h.updateElem(u32(3), u32(20000), 1)).toThrow(/^EEXIST/);
    expect(() => h.updateElem(u32(3), u32(20000), 0)).toThrow('EOVERFLOW: qsize 20000 > 16384');
    expect(() => h.updateElem(u32(3), u32(64), 0)).toThrow(
      'ENODEV: CPU 3 is not a possible CPU (2)',
    );
    expect(() => h.updateElem(u32(1), u32(64), 1)).toThrow(/^EEXIST/); // even for an empty slot
    h.updateElem(u32(1), u32(64), 2); // BPF_EXIST is not checked against the slot
    expect(readU32(h.lookupElem(u32(1)))).toBe(64);
  });

  it('qsize 0 deletes; lookup of an empty or out-of-range key is ENOENT', () => {
    const { h } = map();
    h.updateElem(u32(0), u32(16));
    h.updateElem(u32(0), u32(0));
    expect(() => h.lookupElem(u32(0))).toThrow('ENOENT: CPUMAP key 0 has no entry');
    expect(() => h.lookupElem(u32(7))).toThrow(/^ENOENT/);
  });

  it('every update makes a new entry and kthread, even with the same value', () => {
    const { r, h } = map();
    h.updateElem(u32(1), u32(16));
    h.updateElem(u32(1), u32(16));
    const kthreads = [...r.k.tasks.values()].filter((t) => t.comm.startsWith('cpumap/1/map:'));
    expect(kthreads).toHaveLength(2);
    expect(kthreads[0].comm).toBe(`cpumap/1/map:${h.map.id}`);
    expect(kthreads.every((t) => t.kthread && t.cpu === 1)).toBe(true);
  });

  it('8-byte values name a cpumap program by fd; lookup gives its id; anything else is ENOMEM', () => {
    const { r, h } = map(8);
    const prog = r.k.loadText(r.k.asm`r0 = 2\nexit`, 'cpumap_pass');
    const fd = r.net.loadXdpProgram(prog, BPF_XDP_CPUMAP);
    const plainFd = r.net.loadXdpProgram(prog);
    h.updateElem(u32(0), u32(32, fd));
    const v = h.lookupElem(u32(0));
    expect([readU32(v, 0), readU32(v, 4)]).toEqual([32, r.net.progId(prog)]);
    expect(() => h.updateElem(u32(0), u32(32, plainFd))).toThrow(
      /^ENOMEM: program fd \d+ is not SEC\("xdp\/cpumap"\)/,
    );
    expect(() => h.updateElem(u32(0), u32(32, 9999))).toThrow('ENOMEM: fd 9999 is not a program');
    h.updateElem(u32(1), u32(32, 0));
    expect(readU32(h.lookupElem(u32(1)), 4)).toBe(0);
  });

  it('delete: EINVAL out of range, 0 for an empty slot; get_next_key walks every slot', () => {
    const { h } = map(4, 3);
    expect(() => h.deleteElem(u32(3))).toThrow('EINVAL: key 3 >= max_entries 3');
    h.deleteElem(u32(2));
    expect(readU32(h.getNextKey(null))).toBe(0);
    expect(readU32(h.getNextKey(u32(9)))).toBe(0);
    expect(readU32(h.getNextKey(u32(0)))).toBe(1);
    expect(() => h.getNextKey(u32(2))).toThrow(/^ENOENT/);
    expect([...h.keys()].map((k) => readU32(k))).toEqual([0, 1, 2]);
  });
});

describe('CPUMAP from programs', () => {
  it('passing a CPUMAP to a helper other than bpf_redirect_map is refused at load', () => {
    const r = rig(2);
    bpfMapCreate(r.k, 'CPUMAP', 'cpu_map', 4, 4, 2);
    const lookup = r.k.loadText(
      r.k.assemble(`
        w2 = 0
        *(u32 *)(r10 - 4) = w2
        r2 = r10
        r2 += -4
        r1 = cpu_map ll
        call bpf_map_lookup_elem
        r0 = 2
        exit`),
      'xdp_lookup_cpumap',
    );
    expect(() => r.eth0.attachXdp(lookup)).toThrow(
      'EINVAL: xdp_lookup_cpumap: insn 6: cannot pass map_type 16 into func bpf_map_lookup_elem#1',
    );
    expect(() => r.net.loadXdpProgram(lookup, BPF_XDP_CPUMAP)).toThrow(/cannot pass map_type 16/);
    const moved = r.k.loadText(
      r.k.assemble(`r6 = cpu_map ll
      r1 = r6
      r2 = 0
      call bpf_map_delete_elem
      exit`),
      'del',
    );
    expect(() => r.eth0.attachXdp(moved)).toThrow(/into func bpf_map_delete_elem#3$/);
    const fine = r.k.loadText(
      r.k.assemble(`r1 = cpu_map ll
      r2 = 0
      r3 = 0
      call bpf_redirect_map
      exit`),
      'ok',
    );
    r.eth0.attachXdp(fine);
  });
});

/** eth0 with an XDP program redirecting every frame to CPU `to` through `cpu_map` (qsize). */
function redirectRig(
  opts: { cpus?: number; to?: number; qsize?: number; flags?: number; cpumapProg?: string } = {},
) {
  const r = rig(opts.cpus ?? 2, { rxRingSize: 512 });
  const { k, net } = r;
  const h = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 8, k.nrCpus);
  let fd = 0;
  if (opts.cpumapProg !== undefined) {
    fd = net.loadXdpProgram(k.loadText(k.assemble(opts.cpumapProg), 'cpumap_prog'), BPF_XDP_CPUMAP);
  }
  if (opts.qsize !== 0) h.updateElem(u32(opts.to ?? 1), u32(opts.qsize ?? 64, fd));
  const prog = k.loadText(
    k.assemble(`
      r1 = cpu_map ll
      r2 = ${opts.to ?? 1}
      r3 = ${opts.flags ?? 0}
      call bpf_redirect_map
      exit`),
    'xdp_redirect_cpu',
  );
  r.eth0.attachXdp(prog);
  return { ...r, h, map: h.map as CpuMap };
}

const invariantHolds = (r: Rig & { map: CpuMap }) => {
  const rx = r.eth0.rxTotals();
  const enq = r.map.enqueueStats
    .flat()
    .reduce((a, s) => ({ processed: a.processed + s.processed, drops: a.drops + s.drops }), {
      processed: 0,
      drops: 0,
    });
  const kt = r.map.kthreadStats.reduce((a, s) => a + s.processed, 0);
  expect(rx.xdpRedirect).toBe(enq.processed);
  expect(enq.processed).toBe(enq.drops + kt);
  expect(rx.received).toBe(rx.xdpPass + rx.dropped + rx.xdpTx + rx.xdpRedirect);
  expect(buffersOutstanding(r)).toBe(0);
};

describe('bpf_redirect_map on a CPUMAP', () => {
  it('returns the fallback action for an empty slot and XDP_ABORTED for unknown flags', () => {
    const pass = redirectRig({ qsize: 0, flags: 2 });
    pass.eth0.receive(buildFrame(flow(0)), 0);
    pass.k.runCpu(0, 2000);
    expect(pass.eth0.queues[0].stats.xdpPass).toBe(1);
    const aborted = redirectRig({ flags: 8 });
    aborted.eth0.receive(buildFrame(flow(0)), 0);
    aborted.k.runCpu(0, 2000);
    expect(aborted.eth0.queues[0].stats.xdpAborted).toBe(1);
    const empty = redirectRig({ qsize: 0, flags: 0 });
    empty.eth0.receive(buildFrame(flow(0)), 0);
    empty.k.runCpu(0, 2000);
    expect(empty.eth0.queues[0].stats.xdpAborted).toBe(1); // fallback 0 is XDP_ABORTED
  });

  it('moves frames to the kthread of CPU 1, which passes them to the stack there (a load CPU 1 can take)', () => {
    const r = redirectRig();
    const src = new TrafficSource(r.eth0, {
      flows: [flow(0), flow(1), flow(2)],
      count: 300,
      rate: 5_000,
    });
    src.start(r.k, () => r.net.drained());
    runAll(r.k);
    expect(r.map.kthreadStats[1].processed).toBe(300);
    expect(r.map.enqueueStats[0][1].drops + r.map.enqueueStats[1][1].drops).toBe(0);
    expect(r.net.percpu[1].stack.packets).toBe(300);
    expect(r.net.percpu[1].kthreadInsns).toBeGreaterThan(0);
    invariantHolds(r);
    const lines = traceText(r.k);
    expect(
      lines.some((l) =>
        /xdp_redirect: prog_id=\d+ action=REDIRECT ifindex=1 to_ifindex=0 err=0 map_id=\d+ map_index=1$/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(
      lines.some((l) =>
        /xdp_cpumap_enqueue: enqueue cpu=\d map_id=\d+ action=REDIRECT processed=\d+ drops=0 to_cpu=1$/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(
      lines.some((l) =>
        /\[001\].*xdp_cpumap_kthread: kthread cpu=1 map_id=\d+ action=REDIRECT processed=\d+ drops=0 sched=[01] xdp_pass=0 xdp_drop=0 xdp_redirect=0$/.test(
          l,
        ),
      ),
    ).toBe(true);
  });
});

describe('bulk queues and the ring', () => {
  it('an overload drops at the ring, counted, never lost', () => {
    const r = redirectRig({ qsize: 16 });
    const src = new TrafficSource(r.eth0, {
      flows: [flow(0), flow(1), flow(2)],
      count: 600,
      rate: 100_000,
    });
    src.start(r.k, () => r.net.drained());
    runAll(r.k);
    const drops = r.map.enqueueStats[0][1].drops + r.map.enqueueStats[1][1].drops;
    expect(drops).toBeGreaterThan(0);
    invariantHolds(r);
  });

  it('a poll of 20 frames flushes 8 (full, no wake) + 8 + 4 at the end of the poll', () => {
    const r = redirectRig();
    const frame = buildFrame(flow(0));
    for (let i = 0; i < 20; i++) r.eth0.receive(frame, 0);
    r.k.runCpu(0, 1);
    const enq = traceText(r.k).filter((l) => l.includes('xdp_cpumap_enqueue'));
    expect(enq.map((l) => l.match(/processed=(\d+)/)![1])).toEqual(['8', '8', '4']);
    expect(r.map.enqueueStats[0][1]).toMatchObject({ processed: 20, drops: 0, bulks: 3 });
  });

  it('a full ring drops, and the enqueue tracepoint counts drops in processed', () => {
    const r = redirectRig({ qsize: 8 });
    const frame = buildFrame(flow(0));
    for (let i = 0; i < 20; i++) r.eth0.receive(frame, 0);
    r.k.runCpu(0, 1); // CPU 1's kthread has not run: the ring takes 8
    const enq = traceText(r.k).filter((l) => l.includes('xdp_cpumap_enqueue'));
    expect(
      enq.map((l) =>
        l
          .match(/processed=(\d+) drops=(\d+)/)!
          .slice(1)
          .join('/'),
      ),
    ).toEqual(['8/0', '8/8', '4/4']);
    expect(r.map.enqueueStats[0][1]).toMatchObject({ processed: 20, drops: 12, bulks: 3 });
    expect(r.eth0.queues[0].stats.xdpRedirect).toBe(20); // the driver never sees enqueue drops
  });

  it('the kthread sleeps on an empty ring and the flush wakes it', () => {
    const r = redirectRig();
    const kt = r.map.redirectLookup(1)!.kthread;
    for (let i = 0; i < 5; i++) r.k.runCpu(1, 200);
    expect(kt.state).toBe(TASK_INTERRUPTIBLE);
    r.eth0.receive(buildFrame(flow(0)), 0);
    r.k.runCpu(0, 1);
    expect(kt.state).toBe(0);
    for (let i = 0; i < 5; i++) r.k.runCpu(1, 200);
    expect(r.map.kthreadStats[1].processed).toBe(1);
    expect(r.map.kthreadStats[1].sched).toBeGreaterThanOrEqual(1);
    expect(kt.state).toBe(TASK_INTERRUPTIBLE);
  });
});

describe('the cpumap program', () => {
  it('reads ingress_ifindex and rx_queue_index 0, and its verdicts are counted', () => {
    // Drop frames whose rx_queue_index is not 0; pass those from ifindex 1.
    const r = redirectRig({
      cpumapProg: `
        r2 = *(u32 *)(r1 + 16)
        if r2 != 0 goto drop
        r2 = *(u32 *)(r1 + 12)
        if r2 != 1 goto drop
        r0 = 2
        exit
      drop:
        r0 = 1
        exit`,
    });
    const frame = buildFrame(flow(0));
    for (let i = 0; i < 10; i++) r.eth0.receive(frame, 1); // queue 1: the cpumap program must still read 0
    for (let i = 0; i < 20; i++) {
      r.k.runCpu(1, 200);
      r.k.runCpu(0, 200);
    }
    expect(r.map.kthreadStats[1]).toMatchObject({ processed: 10, pass: 10, drop: 0 });
    expect(traceText(r.k).some((l) => l.includes('xdp_pass=') && !l.includes('xdp_pass=0'))).toBe(
      true,
    );
  });

  it('XDP_TX in a cpumap program is unsupported: warned once, traced, dropped', () => {
    const r = redirectRig({ cpumapProg: 'r0 = 3\nexit' });
    const frame = buildFrame(flow(0));
    for (let i = 0; i < 4; i++) r.eth0.receive(frame, 0);
    for (let i = 0; i < 20; i++) {
      r.k.runCpu(0, 200);
      r.k.runCpu(1, 200);
    }
    expect(r.map.kthreadStats[1]).toMatchObject({ processed: 4, drop: 4, pass: 0 });
    expect(
      r.k.reports.filter((x) => x.lines[0].startsWith('Driver unsupported XDP return value 3')),
    ).toHaveLength(1);
    expect(
      traceText(r.k).filter((l) => l.includes('xdp_exception: ') && l.includes('action=TX')),
    ).toHaveLength(4);
    expect(buffersOutstanding(r)).toBe(0);
  });
});

describe('replace and delete while frames are queued', () => {
  it('the old kthread drains its ring after a grace period and exits; nothing is lost', () => {
    const r = redirectRig({ qsize: 256 });
    const frame = buildFrame(flow(0));
    for (let i = 0; i < 40; i++) r.eth0.receive(frame, 0);
    r.k.runCpu(0, 1); // 40 frames in the old ring, its kthread has not run
    const old = r.map.redirectLookup(1)!;
    r.h.updateElem(u32(1), u32(256, 0)); // replace
    expect(r.map.redirectLookup(1)).not.toBe(old);
    expect(old.freed).toBe(false);
    for (let i = 0; i < 10; i++) r.eth0.receive(frame, 0);
    r.h.deleteElem(u32(1));
    // The traffic task keeps the run going until every ring is drained.
    new TrafficSource(r.eth0, { flows: [flow(0)], count: 0 }).start(r.k, () => r.net.drained());
    runAll(r.k);
    expect(old.freed).toBe(true);
    expect(old.kthread.exited).toBe(true);
    expect(r.map.kthreadStats[1].processed).toBe(40);
    invariantHolds(r); // the 10 frames after the delete were XDP_ABORTED (empty slot, fallback 0)
    expect(r.eth0.queues[0].stats.xdpAborted).toBe(10);
  });
});
