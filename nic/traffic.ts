/**
 * A traffic source for scenario scripts, the wire in front of a device:
 * frames of a set of flows (taken in turn) or of a pcap file, either at a
 * rate in frames per emulated second (a frame that finds its RX ring full
 * is missed and counted, as on a real NIC) or as a burst that fills the
 * rings as fast as the driver empties them (nothing missed). RSS picks each
 * frame's queue, so each queue's frames arrive on that queue's CPU: at
 * each timer tick of CPU c, queue c gets the frames due by c's clock.
 *
 * `start` also spawns the `traffic` task, which keeps the run going until
 * every frame was offered and the network stack has drained (no frame left
 * in a ring, bulk queue or cpumap).
 *
 * @example
 * const src = new TrafficSource(eth0, { flows: [flow], count: 1000, rate: 200_000 });
 * src.start();
 */

import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import { buildFrame, type FlowSpec } from './frame.ts';
import { counterBlock } from './mem-counters.ts';
import type { NetDevice } from './net-device.ts';
import { parsePcap } from './pcap.ts';

export interface TrafficOptions {
  /** Flows, sent in turn: frame i is of flow i % flows.length. */
  readonly flows?: readonly FlowSpec[];
  /** A pcap file to replay instead of flows (its frames in turn). */
  readonly pcap?: Uint8Array;
  /** Frames to send in all. Default: one per flow, or the pcap's frames once. */
  readonly count?: number;
  /**
   * Frames per emulated second; without it, a burst. With a pcap and no
   * rate, the capture's own timestamps set the pace.
   */
  readonly rate?: number;
  /** Emulated ns before the first frame. Default 0. */
  readonly startNs?: number;
}

export class TrafficSource {
  /** The distinct frames, and the RX queue RSS gives each. */
  private readonly templates: Uint8Array[];
  private readonly templateQueue: number[];
  /** Per queue: the frame numbers it gets, in order, and how far it is. */
  private readonly perQueue: Int32Array[];
  private readonly cursor: number[];
  private readonly arrival: (i: number) => number;
  private readonly backpressure: boolean;
  readonly count: number;
  /**
   * Per queue, frames handed to the NIC and those it missed: in emulated
   * memory (mem-counters.ts), each written by its queue's CPU, so the
   * traffic task and, after a parallel run, the main thread see them all.
   */
  private readonly counts: Float64Array;

  constructor(
    readonly dev: NetDevice,
    opts: TrafficOptions,
  ) {
    let pcapTs: number[] | null = null;
    if (opts.pcap !== undefined) {
      const packets = parsePcap(opts.pcap);
      if (packets.length === 0) throw new ErrnoError('EINVAL', 'the pcap file has no packets');
      this.templates = packets.map((p) => p.bytes);
      pcapTs = packets.map((p) => p.tsNs - packets[0].tsNs);
    } else {
      const flows = opts.flows ?? [];
      if (flows.length === 0)
        throw new ErrnoError('EINVAL', 'a traffic source needs flows or a pcap');
      this.templates = flows.map(buildFrame);
    }
    this.templateQueue = this.templates.map((f) => dev.queueOf(f));
    const count = opts.count ?? this.templates.length;
    if (!Number.isInteger(count) || count < 0) {
      throw new ErrnoError('EINVAL', `frame count ${count} is not a non-negative integer`);
    }
    this.count = count;
    const start = opts.startNs ?? 0;
    const rate = opts.rate;
    if (rate !== undefined && !(rate > 0))
      throw new ErrnoError('EINVAL', `rate ${rate} is not positive`);
    const n = this.templates.length;
    if (rate !== undefined) {
      this.arrival = (i) => start + Math.floor((i * 1e9) / rate);
    } else if (pcapTs !== null) {
      const ts = pcapTs;
      const span = ts[n - 1] + 1;
      this.arrival = (i) => start + Math.floor(i / n) * span + ts[i % n];
    } else {
      this.arrival = () => start;
    }
    this.backpressure = rate === undefined && pcapTs === null;
    const nq = dev.queues.length;
    const sizes = new Array<number>(nq).fill(0);
    for (let i = 0; i < count; i++) sizes[this.templateQueue[i % n]]++;
    this.perQueue = sizes.map((s) => new Int32Array(s));
    const fill = new Array<number>(nq).fill(0);
    for (let i = 0; i < count; i++) {
      const q = this.templateQueue[i % n];
      this.perQueue[q][fill[q]++] = i;
    }
    this.cursor = new Array<number>(nq).fill(0);
    this.counts = counterBlock(dev.net.k, 2 * nq);
  }

  /** Frames handed to the NIC. */
  get offered(): number {
    let n = 0;
    for (let q = 0; q < this.perQueue.length; q++) n += this.counts[2 * q];
    return n;
  }

  /** Frames the NIC missed (ring full, no buffer, too long). */
  get missed(): number {
    let n = 0;
    for (let q = 0; q < this.perQueue.length; q++) n += this.counts[2 * q + 1];
    return n;
  }

  /** Frames each queue gets in all. */
  framesPerQueue(): number[] {
    return this.perQueue.map((q) => q.length);
  }

  /** Every frame has been offered to the NIC. */
  get done(): boolean {
    return this.offered === this.count;
  }

  /**
   * Offers queue `q` the frames due by `nowNs`. Called from CPU q's timer
   * interrupt by `start`; tests may call it directly.
   */
  deliver(q: number, nowNs: number): void {
    const frames = this.perQueue[q];
    const n = this.templates.length;
    const ring = this.dev.queues[q].ring;
    const start = this.cursor[q];
    let at = start;
    let missed = 0;
    while (at < frames.length && this.arrival(frames[at]) <= nowNs) {
      if (this.backpressure && !ring.nicHasRoom()) break;
      if (!this.dev.receive(this.templates[frames[at] % n], q)) missed++;
      at++;
    }
    this.cursor[q] = at;
    this.counts[2 * q] += at - start;
    this.counts[2 * q + 1] += missed;
  }

  /**
   * Starts sending: each CPU's timer interrupt delivers its queue's frames,
   * and a `traffic` task on CPU `cpu` keeps the run going until every frame
   * is offered and `drained()` says the stack has dealt with them.
   */
  start(k: Kernel, drained: () => boolean, cpu = 0): void {
    const nsPerInsn = k.opts.nsPerInsn;
    k.onTimer('all', {
      fn: (kk, id) => {
        if (id < this.perQueue.length) this.deliver(id, kk.cpus[id].clock * nsPerInsn);
      },
    });
    k.spawn({
      comm: 'traffic',
      cpu,
      allowed: [cpu], // native code: parallel mode runs it in that CPU's worker
      body: function* (this: void) {
        while (!(source.done && drained())) yield* k.msleep(1);
        return 0;
      },
    });
    const source = this;
  }
}
