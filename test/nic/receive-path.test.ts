/**
 * The NIC and its receive path: RSS spreads flows over the RX queues, each
 * queue's interrupt lands on its CPU, NAPI polls in NET_RX softirq within
 * its weight and budget, and each XDP verdict ends where the kernel sends
 * it. Every frame is accounted for and every buffer freed.
 */

import { describe, expect, it } from 'vitest';
import { buildFrame, type FlowSpec } from '../../nic/frame.ts';
import { NAPI_POLL_WEIGHT, NETDEV_BUDGET } from '../../nic/napi.ts';
import { netOf } from '../../nic/net-setup.ts';
import { TrafficSource } from '../../nic/traffic.ts';
import { runDeterministic } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { roundRobin } from '../../preempt/strategies/round-robin.ts';
import { ftraceLines } from '../../preempt/trace/ftrace-format.ts';

const flow = (i: number): FlowSpec => ({
  src: `10.0.0.${1 + i}`,
  dst: '10.0.1.1',
  sport: 1000 + 7 * i,
  dport: 80,
  proto: 'udp',
  size: 64,
});

function boot(cpus = 2, opts: { trace?: boolean } = {}): Kernel {
  return new Machine({ cpus, tickInterval: 200, trace: opts.trace ?? true }).boot();
}

function traceText(k: Kernel): string[] {
  return k.tracer!.events().flatMap(ftraceLines);
}

describe('receive path without XDP', () => {
  it('RSS spreads flows over the queues and every frame reaches the stack of its queue CPU', () => {
    const k = boot(4);
    const net = netOf(k);
    const eth0 = net.addDevice({ name: 'eth0' });
    const flows = Array.from({ length: 16 }, (_, i) => flow(i));
    const src = new TrafficSource(eth0, { flows, count: 800, rate: 200_000 });
    src.start(k, () => net.drained());
    const r = runDeterministic(k, roundRobin({ quantum: 50 }));
    expect(r.finished).toBe(true);
    const perQueue = src.framesPerQueue();
    expect(perQueue.filter((n) => n > 0).length).toBeGreaterThan(1);
    expect(src.offered).toBe(800);
    const rx = eth0.rxTotals();
    expect(rx.packets + rx.missed).toBe(800);
    eth0.queues.forEach((q, i) => {
      expect(q.stats.received).toBe(q.stats.packets);
      expect(net.percpu[i].stack.packets).toBe(q.stats.received);
    });
    expect(net.liveBuffers).toBe(eth0.queues.reduce((n, q) => n + q.ring.posted, 0));
    const lines = traceText(k);
    expect(lines.some((l) => /irq_handler_entry: irq=\d+ name=eth0-rx-/.test(l))).toBe(true);
    expect(lines.some((l) => l.includes('softirq_entry: vec=3 [action=NET_RX]'))).toBe(true);
  });

  it('NAPI polls at most 64 frames per poll and 300 per softirq run', () => {
    const k = boot(1);
    const net = netOf(k);
    const eth0 = net.addDevice({ name: 'eth0', rxRingSize: 1024 });
    const frame = buildFrame(flow(0));
    for (let i = 0; i < 1000; i++) expect(eth0.receive(frame, 0)).toBe(true);
    const q = eth0.queues[0];
    // One interrupt: the handler schedules NAPI and masks the queue.
    k.runCpu(0, 1);
    expect(q.napi.polls).toBeGreaterThan(0);
    // The first softirq run took its budget: whole polls of 64 until 300 is spent (5, 320 frames).
    expect(q.napi.polls).toBe(Math.ceil(NETDEV_BUDGET / NAPI_POLL_WEIGHT));
    expect(q.napi.polled).toBe(q.napi.polls * NAPI_POLL_WEIGHT);
    expect(net.percpu[0].timeSqueeze).toBe(1);
    expect(q.irqMasked).toBe(true);
    // The rest in later runs: at each irq exit the re-raised softirq takes its budget again.
    for (let i = 0; i < 20; i++) k.runCpu(0, 1000);
    expect(q.stats.received).toBe(1000);
    expect(net.percpu[0].timeSqueeze).toBe(3);
    expect(q.irqMasked).toBe(false);
    expect(q.napi.scheduled).toBe(false);
  });

  it('a full ring misses frames and counts them', () => {
    const k = boot(1);
    const eth0 = netOf(k).addDevice({ name: 'eth0', rxRingSize: 8 });
    const frame = buildFrame(flow(0));
    const took = Array.from({ length: 10 }, () => eth0.receive(frame, 0));
    expect(took.filter(Boolean)).toHaveLength(8);
    expect(eth0.queues[0].stats.missed).toBe(2);
  });

  it('refuses a second device of the same name and names outside IFNAMSIZ', () => {
    const net = netOf(boot(1));
    net.addDevice({ name: 'eth0' });
    expect(() => net.addDevice({ name: 'eth0' })).toThrow('EEXIST: a device named eth0 exists');
    expect(() => net.addDevice({ name: 'a-very-long-ifname' })).toThrow(/EINVAL: device name/);
    expect(net.deviceByName('eth0').ifindex).toBe(1);
    expect(() => net.device(9)).toThrow('ENODEV: no device with ifindex 9');
  });
});
