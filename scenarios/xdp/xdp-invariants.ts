/**
 * Invariants every XDP scenario checks, from the counters of the network
 * stack as the run left it: each frame the NIC took is passed, dropped in
 * exactly one counter, sent back out, or redirected; each redirected frame
 * is dropped at a cpumap ring or processed by its kthread; and every frame
 * buffer is freed or back in an RX ring.
 *
 * @example
 * invariants: [framesAccountedFor, buffersFreed]
 */

import { CpuMap, type Invariant, type Kernel, netOf } from 'percpu-emu';

/** The CPUMAPs of `k`. */
export function cpumapsOf(k: Kernel): CpuMap[] {
  return netOf(k).redirectMaps.filter((m): m is CpuMap => m instanceof CpuMap);
}

/** Sums over a cpumap's counters. */
export function cpumapTotals(map: CpuMap) {
  const enq = { processed: 0, drops: 0 };
  for (const row of map.enqueueStats) {
    for (const s of row) {
      enq.processed += s.processed;
      enq.drops += s.drops;
    }
  }
  const kt = { processed: 0, allocDrops: 0, pass: 0, drop: 0, redirect: 0, stack: 0 };
  for (const s of map.kthreadStats) {
    kt.processed += s.processed;
    kt.allocDrops += s.drops;
    kt.pass += s.pass;
    kt.drop += s.drop;
    kt.redirect += s.redirect;
    kt.stack += s.stack;
  }
  return { enq, kt };
}

export const framesAccountedFor: Invariant = {
  name: 'received = passed + dropped + sent + redirected; redirected = ring drops + kthread processed',
  check(k) {
    const net = netOf(k);
    const lines: string[] = [];
    let ok = true;
    for (const dev of net.devices.values()) {
      const t = dev.rxTotals();
      const sum = t.xdpPass + t.dropped + t.xdpTx + t.xdpRedirect;
      ok &&= t.received === sum && t.received === t.packets;
      lines.push(
        `${dev.name}: ${t.packets} in (${t.missed} missed), ${t.received} received = ${t.xdpPass} passed + ${t.dropped} dropped + ${t.xdpTx} tx + ${t.xdpRedirect} redirected`,
      );
    }
    let redirected = 0;
    for (const dev of net.devices.values()) redirected += dev.rxTotals().xdpRedirect;
    let intoMaps = 0;
    for (const map of cpumapsOf(k)) {
      const { enq, kt } = cpumapTotals(map);
      intoMaps += enq.processed;
      // Each processed frame: dropped or redirected by the program, or on to an skb (or its failure).
      const kernelSide = kt.drop + kt.redirect + kt.allocDrops + kt.stack;
      ok &&= enq.processed === enq.drops + kt.processed && kt.processed === kernelSide;
      lines.push(
        `${map.name}: ${enq.processed} enqueued = ${enq.drops} ring drops + ${kt.processed} processed (${kt.stack} to the stack)` +
          (map.kthreadStats.some((s) => s.pass + s.drop + s.redirect > 0)
            ? ` (program: ${kt.pass} pass, ${kt.drop} drop, ${kt.redirect} redirect)`
            : ''),
      );
    }
    ok &&= intoMaps === redirected;
    return { ok, detail: lines.join('; ') };
  },
};

export const buffersFreed: Invariant = {
  name: 'every frame buffer is freed or posted in an RX ring',
  check(k) {
    const net = netOf(k);
    let posted = 0;
    for (const d of net.devices.values())
      for (const q of d.queues) posted += q.ring.buffersPosted();
    const outstanding = net.liveBuffers - posted;
    return {
      ok: outstanding === 0,
      detail: `${net.liveBuffers} buffers live, ${posted} posted in RX rings, ${outstanding} outstanding`,
    };
  },
};
