/**
 * NAPI: the RX interrupt masks itself and schedules its queue's poll;
 * NET_RX_SOFTIRQ (net_rx_action) polls the CPU's scheduled queues, up to
 * NAPI_POLL_WEIGHT frames per poll and netdev_budget frames (or
 * netdev_budget_usecs, 2 jiffies) per softirq run. A poll that used less
 * than its weight completes: the queue leaves the poll list and its
 * interrupt is unmasked (and raised again at once when frames came in
 * meanwhile, as a NIC whose interrupt cause is still set does). A poll that
 * used its whole weight goes to the tail of the list. Each poll gets the
 * whole weight, so a run can overshoot the budget by up to 63; a run that
 * ends on budget or time counts a time_squeeze, and the softirq is raised
 * again while the list has work.
 *
 * The driver's poll (the i40e/mlx5 shape): take each frame at
 * next_to_clean, post a fresh buffer, run the XDP program, act on its
 * verdict; xdp_do_flush once at the end if anything was redirected.
 *
 * Context: napiSchedule in the queue's hardirq; the rest in NET_RX softirq
 * on the queue's CPU.
 *
 * @example
 * k.requestIrq(q.irq, 'eth0-rx-0', () => napiSchedule(net, q));
 */

import type { CpuState } from '../preempt/cpu-state.ts';
import { NET_RX_SOFTIRQ } from '../preempt/cpu-state.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { defineCounters } from './mem-counters.ts';
import type { RxQueue } from './net-device.ts';
import type { NetStack } from './net-stack.ts';
import { RX_BUFFER_SIZE } from './rx-ring.ts';
import { traceXdpException } from './tracepoints.ts';
import { xdpDoFlush, xdpDoRedirect } from './xdp-redirect.ts';
import { runXdp, stackReceive, warnInvalidXdpAction } from './xdp-run.ts';
import { XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX } from './xdp-uapi.ts';

/** NAPI_POLL_WEIGHT: frames one poll may take. */
export const NAPI_POLL_WEIGHT = 64;
/** netdev_budget: frames one net_rx_action run may take over all its polls. */
export const NETDEV_BUDGET = 300;
/** netdev_budget_usecs (2000 us) as the kernel rounds it: 2 jiffies. */
export const NETDEV_BUDGET_JIFFIES = 2;
/** Cost model, in instructions: the driver's work per descriptor, and XDP_TX's transmit. */
export const DRIVER_RX_INSNS = 10;
export const XDP_TX_INSNS = 10;

export class Napi {
  /** NAPI_STATE_SCHED: on its CPU's poll list or being polled. */
  scheduled = false;
  /** Frames this instance polled, and its polls (in emulated memory, mem-counters.ts). */
  declare polled: number;
  declare polls: number;

  constructor(
    readonly queue: RxQueue,
    readonly slots: Float64Array,
  ) {}
}
defineCounters(Napi, ['polled', 'polls']);

/** The RX interrupt handler: napi_schedule_irqoff(), with the queue's interrupt masked. */
export function napiSchedule(net: NetStack, q: RxQueue): void {
  q.irqMasked = true;
  const napi = q.napi;
  if (napi.scheduled) return;
  napi.scheduled = true;
  const sd = net.percpu[q.cpu];
  sd.pollList.push(napi);
  sd.napiScheduled++;
  net.k.raiseSoftirq(q.cpu, NET_RX_SOFTIRQ);
}

/** net_rx_action(): the NET_RX softirq of CPU `c`. */
export function netRxAction(net: NetStack, k: Kernel, c: CpuState): void {
  const sd = net.percpu[c.id];
  const list = sd.pollList;
  const start = c.clock;
  const timeLimit = c.ticks + NETDEV_BUDGET_JIFFIES;
  let budget = NETDEV_BUDGET;
  while (list.length > 0) {
    const napi = list.shift()!;
    const work = driverPoll(net, k, c, napi.queue, NAPI_POLL_WEIGHT);
    napi.polled += work;
    napi.polls++;
    budget -= work;
    if (work < NAPI_POLL_WEIGHT) {
      napiComplete(net, napi);
    } else {
      list.push(napi);
    }
    if (budget <= 0 || c.ticks >= timeLimit) {
      sd.timeSqueeze++;
      break;
    }
  }
  if (list.length > 0) k.raiseSoftirq(c.id, NET_RX_SOFTIRQ);
  sd.netRxInsns += c.clock - start;
}

/** napi_complete_done(): off the poll list, interrupt unmasked, raised again if frames wait. */
function napiComplete(net: NetStack, napi: Napi): void {
  napi.scheduled = false;
  net.percpu[napi.queue.cpu].napiScheduled--;
  const q = napi.queue;
  q.irqMasked = false;
  if (q.ring.hasFrame()) q.dev.raiseRxIrq(q);
}

/** The driver's poll of queue `q`: up to `weight` frames; returns how many it took. */
export function driverPoll(
  net: NetStack,
  k: Kernel,
  c: CpuState,
  q: RxQueue,
  weight: number,
): number {
  const sd = net.percpu[c.id];
  const dev = q.dev;
  const ring = q.ring;
  const stats = q.stats;
  const buff = sd.buff;
  let done = 0;
  let redirected = false;
  ring.refillEmpty();
  while (done < weight && ring.hasFrame()) {
    const buf = ring.frameBuffer();
    const len = ring.frameLen();
    ring.takeAndRefill();
    done++;
    stats.received++;
    k.advance(c, DRIVER_RX_INSNS);
    const prog = dev.xdpProg;
    buff.init(dev.ifindex, q.index, buf, RX_BUFFER_SIZE, len);
    if (prog === null) {
      stats.xdpPass++;
      stackReceive(net, c, buff);
      continue;
    }
    const act = runXdp(net, c, prog, buff, sd.ctx);
    switch (act) {
      case XDP_PASS:
        stats.xdpPass++;
        stackReceive(net, c, buff);
        break;
      case XDP_TX:
        // The frame goes back out of this device; its buffer is freed at TX completion.
        stats.xdpTx++;
        dev.xdpTx++;
        k.advance(c, XDP_TX_INSNS);
        net.freeBuffer(buf);
        break;
      case XDP_REDIRECT:
        if (xdpDoRedirect(net, c, buff, dev, dev.xdpProgId) === 0) {
          stats.xdpRedirect++;
          redirected = true;
        } else {
          stats.xdpRedirectErr++;
          net.freeBuffer(buf);
        }
        break;
      case XDP_DROP:
        stats.xdpDrop++;
        net.freeBuffer(buf);
        break;
      default:
        if (act !== XDP_ABORTED) {
          warnInvalidXdpAction(net, c, act, prog, dev.name);
          stats.xdpInvalid++;
        } else {
          stats.xdpAborted++;
        }
        traceXdpException(k, c, dev.xdpProgId, act, dev.ifindex);
        net.freeBuffer(buf);
    }
  }
  if (redirected) xdpDoFlush(net, c);
  return done;
}
