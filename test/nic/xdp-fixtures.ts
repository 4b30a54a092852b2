/**
 * What the XDP tests share: a booted machine with eth0, frames of a flow,
 * running the machine until the traffic task ends, and the trace as text.
 */

import { buildFrame, type FlowSpec } from '../../nic/frame.ts';
import type { NetDevice } from '../../nic/net-device.ts';
import { netOf } from '../../nic/net-setup.ts';
import type { NetStack } from '../../nic/net-stack.ts';
import { runDeterministic } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { roundRobin } from '../../preempt/strategies/round-robin.ts';
import { ftraceLines } from '../../preempt/trace/ftrace-format.ts';

export const flow = (i: number, size = 64): FlowSpec => ({
  src: `10.0.0.${1 + (i % 250)}`,
  dst: '10.0.1.1',
  sport: 1000 + 7 * i,
  dport: 80,
  proto: 'udp',
  size,
});

export interface Rig {
  k: Kernel;
  net: NetStack;
  eth0: NetDevice;
}

export function rig(cpus = 2, opts: { trace?: boolean; rxRingSize?: number } = {}): Rig {
  const k = new Machine({ cpus, tickInterval: 200, trace: opts.trace ?? true }).boot();
  const net = netOf(k);
  const eth0 = net.addDevice({ name: 'eth0', rxRingSize: opts.rxRingSize });
  return { k, net, eth0 };
}

/** Puts `n` frames of flow 0 on queue `q` and runs CPU q until the ring is empty. */
export function receiveOn(r: Rig, q: number, n: number, size = 64): void {
  const frame = buildFrame(flow(0, size));
  for (let i = 0; i < n; i++) r.eth0.receive(frame, q);
  for (let i = 0; i < 100 && r.eth0.queues[q].ring.pending() > 0; i++) r.k.runCpu(q, 200);
}

/** Runs round-robin until every task (the traffic task included) has ended. */
export function runAll(k: Kernel, quantum = 50): void {
  const r = runDeterministic(k, roundRobin({ quantum }), { maxSteps: 50_000_000 });
  if (!r.finished) throw new Error(`run did not finish in ${r.steps} steps`);
}

export function traceText(k: Kernel): string[] {
  return k.tracer!.events().flatMap(ftraceLines);
}

/** Frame buffers that are neither posted in an RX ring nor freed: must be 0 when all is done. */
export function buffersOutstanding(r: Rig): number {
  let posted = 0;
  for (const d of r.net.devices.values())
    for (const q of d.queues) posted += q.ring.buffersPosted();
  return r.net.liveBuffers - posted;
}
