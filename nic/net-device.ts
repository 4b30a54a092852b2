/**
 * A network device (`struct net_device` with its driver's RX side): an
 * ifindex and a name, one RX queue per CPU whose interrupt goes to that
 * CPU, RSS steering frames to queues, the native XDP program, and the
 * counters `ip -s link` and `ethtool -S` would show (rx, missed, XDP_TX,
 * the frames ndo_xdp_xmit sent).
 *
 * The receive side is the NIC's: `receive` writes a frame into the queue
 * RSS picks (or the one given) and raises that queue's interrupt unless
 * NAPI has it masked. The interrupt handler schedules NAPI (napi.ts).
 *
 * Context: `receive` from the traffic source (any CPU: it is the NIC);
 * the driver parts in NET_RX softirq on the queue's CPU.
 *
 * @example
 * const eth0 = netOf(k).addDevice({ name: 'eth0' });
 * eth0.attachXdp(prog);
 * eth0.receive(frame);
 */

import type { LoadedProgram } from '../cpu/program.ts';
import { checkMapFuncCompatibility } from '../maps/map-func-compat.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { DevBulkQueue } from './devmap.ts';
import { counterBlock, defineCounters } from './mem-counters.ts';
import { Napi, napiSchedule } from './napi.ts';
import type { NetStack } from './net-stack.ts';
import { Rss } from './rss.ts';
import { RX_MAX_FRAME, RxRing } from './rx-ring.ts';
import { BPF_XDP, BPF_XDP_CPUMAP, BPF_XDP_DEVMAP, xdpFrame } from './xdp-uapi.ts';

const XDP_FRAME_OFF = xdpFrame.off;

export interface NetDeviceOptions {
  /** The interface name, at most 15 characters (IFNAMSIZ - 1). */
  readonly name: string;
  /** Descriptors per RX ring, a power of two (default 256). */
  readonly rxRingSize?: number;
}

/** An XDP program as the loader hands it over: the code and its expected attach type. */
export interface XdpProgram {
  readonly prog: LoadedProgram;
  /** BPF_XDP (default), BPF_XDP_CPUMAP or BPF_XDP_DEVMAP: what SEC() said. */
  readonly expectedAttachType?: number;
}

const RX_QUEUE_COUNTERS = [
  'packets',
  'bytes',
  'missed',
  'lengthErrors',
  'received',
  'xdpPass',
  'xdpDrop',
  'xdpTx',
  'xdpRedirect',
  'xdpRedirectErr',
  'xdpAborted',
  'xdpInvalid',
] as const;

/** Per-queue counters, in emulated memory (mem-counters.ts): written by the queue's CPU. */
export class RxQueueStats {
  /** Frames the NIC wrote into the ring. */
  declare packets: number;
  declare bytes: number;
  /** Frames that found the ring full or without a buffer (rx_missed_errors). */
  declare missed: number;
  /** Frames longer than a buffer takes (rx_length_errors). */
  declare lengthErrors: number;
  /** Frames the driver took from the ring (what NAPI processed). */
  declare received: number;
  /** XDP verdicts of the driver's program (no program: every frame is a pass). */
  declare xdpPass: number;
  declare xdpDrop: number;
  declare xdpTx: number;
  declare xdpRedirect: number;
  /** XDP_REDIRECT that xdp_do_redirect refused (xdp_redirect_err). */
  declare xdpRedirectErr: number;
  declare xdpAborted: number;
  /** Return values that are no XDP action (bpf_warn_invalid_xdp_action). */
  declare xdpInvalid: number;

  /** The counters' slots: in emulated memory, or a plain array for a sum. */
  constructor(readonly slots: Float64Array = new Float64Array(RX_QUEUE_COUNTERS.length)) {}

  /** Frames the driver dropped, each in exactly one counter. */
  get dropped(): number {
    return this.xdpDrop + this.xdpRedirectErr + this.xdpAborted + this.xdpInvalid;
  }

  /** Adds `o` into this. */
  add(o: RxQueueStats): void {
    for (let i = 0; i < RX_QUEUE_COUNTERS.length; i++) this.slots[i] += o.slots[i];
  }

  /** The counters by name (for printing and comparing). */
  toJSON(): Record<(typeof RX_QUEUE_COUNTERS)[number], number> {
    return Object.fromEntries(RX_QUEUE_COUNTERS.map((n, i) => [n, this.slots[i]])) as Record<
      (typeof RX_QUEUE_COUNTERS)[number],
      number
    >;
  }
}
defineCounters(RxQueueStats, RX_QUEUE_COUNTERS);

/** One RX queue: its ring, its NAPI instance and its interrupt. */
export class RxQueue {
  readonly ring: RxRing;
  readonly napi: Napi;
  readonly stats: RxQueueStats;
  /** The queue's interrupt is masked (NAPI is scheduled and will poll). */
  irqMasked = false;

  constructor(
    readonly dev: NetDevice,
    readonly index: number,
    readonly irq: number,
    ringSize: number,
  ) {
    const net = dev.net;
    this.stats = new RxQueueStats(counterBlock(net.k, RX_QUEUE_COUNTERS.length));
    this.ring = new RxRing(net.k, ringSize, (d) => net.countBuffers(d));
    this.napi = new Napi(this, counterBlock(net.k, 2));
  }

  /** The CPU this queue's interrupt goes to. */
  get cpu(): number {
    return this.index;
  }
}

const DEVICE_TX_COUNTERS = ['xdpTx', 'txPackets', 'txBytes', 'txDrops'] as const;

export class NetDevice {
  readonly name: string;
  readonly queues: RxQueue[] = [];
  readonly rss: Rss;
  /** The native XDP program (XDP_FLAGS_DRV_MODE), or null. */
  xdpProg: LoadedProgram | null = null;
  xdpProgId = 0;
  /** XDP_TX frames sent back out of this device. */
  declare xdpTx: number;
  /** Frames and bytes ndo_xdp_xmit put on the wire (devmap redirects into this device). */
  declare txPackets: number;
  declare txBytes: number;
  /** Frames ndo_xdp_xmit could not send. */
  declare txDrops: number;
  /** The transmit counters above, in emulated memory (written by whichever CPU sends). */
  readonly slots: Float64Array;
  /** The MTU: redirected frames longer than it plus the Ethernet header are refused (EMSGSIZE). */
  mtu = 1500;
  /** dev->xdp_bulkq: this device's devmap bulk queue on each CPU (devmap.ts makes them). */
  readonly bulkqs: (DevBulkQueue | undefined)[] = [];

  constructor(
    readonly net: NetStack,
    readonly ifindex: number,
    opts: NetDeviceOptions,
    firstIrq: number,
  ) {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(opts.name)) {
      throw new ErrnoError('EINVAL', `device name '${opts.name}' is not 1..15 of [A-Za-z0-9_.-]`);
    }
    this.name = opts.name;
    const k = net.k;
    this.slots = counterBlock(k, DEVICE_TX_COUNTERS.length);
    this.rss = new Rss(k.nrCpus);
    for (let q = 0; q < k.nrCpus; q++) {
      const queue = new RxQueue(this, q, firstIrq + q, opts.rxRingSize ?? 256);
      this.queues.push(queue);
      k.requestIrq(queue.irq, `${this.name}-rx-${q}`, () => napiSchedule(net, queue));
    }
  }

  /**
   * dev_xdp_attach() in native mode (`ip link set dev eth0 xdpdrv obj ...`):
   * replaces the program; null detaches. EINVAL for a program whose
   * expected attach type is a cpumap's or devmap's (it cannot run on a
   * device), as the kernel's `dev_xdp_attach` says.
   */
  attachXdp(program: XdpProgram | LoadedProgram | null): void {
    if (program === null) {
      this.xdpProg = null;
      this.xdpProgId = 0;
      return;
    }
    const p = 'prog' in program ? program : { prog: program };
    const type = p.expectedAttachType ?? BPF_XDP;
    if (type === BPF_XDP_CPUMAP || type === BPF_XDP_DEVMAP) {
      throw new ErrnoError(
        'EINVAL',
        `${p.prog.name}: a program for ${type === BPF_XDP_CPUMAP ? 'a cpumap' : 'a devmap'} entry cannot be attached to ${this.name}`,
      );
    }
    if (type !== BPF_XDP) {
      throw new ErrnoError('EINVAL', `${p.prog.name}: expected attach type ${type} is not XDP's`);
    }
    checkMapFuncCompatibility(this.net.k.maps, p.prog);
    this.xdpProg = p.prog;
    this.xdpProgId = this.net.progId(p.prog);
  }

  /**
   * The NIC receives a frame: RSS picks the queue (unless `queue` is
   * given), the frame goes into its ring and the queue's interrupt is
   * raised. Returns false when the frame was missed (ring full, no
   * buffer) or too long; each case is counted.
   */
  receive(bytes: Uint8Array, queue?: number): boolean {
    const len = bytes.length;
    const q = this.queues[queue ?? this.rss.queueOfHash(this.rss.hashFrame(bytes, 0, len))];
    if (q === undefined) throw new ErrnoError('EINVAL', `${this.name} has no RX queue ${queue}`);
    if (len > RX_MAX_FRAME) {
      q.stats.lengthErrors++;
      return false;
    }
    if (!q.ring.nicWrite(bytes, 0, len)) {
      q.stats.missed++;
      return false;
    }
    q.stats.packets++;
    q.stats.bytes += len;
    this.raiseRxIrq(q);
    return true;
  }

  /** The queue RSS gives `bytes`. */
  queueOf(bytes: Uint8Array): number {
    return this.rss.queueOfHash(this.rss.hashFrame(bytes, 0, bytes.length));
  }

  /** The NIC signals new frames on `q`, unless NAPI masked the queue's interrupt. */
  raiseRxIrq(q: RxQueue): void {
    if (!q.irqMasked) this.net.k.raiseIrq(q.cpu, q.irq);
  }

  /** Frames waiting in this device's devmap bulk queues. */
  bulkqFrames(): number {
    let n = 0;
    for (const bq of this.bulkqs) if (bq !== undefined) n += bq.frames.length;
    return n;
  }

  /** ndo_xdp_xmit(): the frames go out (counted on the TX side) and are freed; returns how many. */
  ndoXdpXmit(net: NetStack, frames: readonly number[]): number {
    const m = net.k.memory;
    for (const f of frames) {
      this.txPackets++;
      this.txBytes += m.read32(f + XDP_FRAME_OFF.len);
      net.freeBuffer(f);
    }
    return frames.length;
  }

  /** Frames in the RX rings not yet taken by the driver. */
  framesPending(): number {
    let n = 0;
    for (const q of this.queues) n += q.ring.pending();
    return n;
  }

  /** Counters summed over queues. */
  rxTotals(): RxQueueStats {
    const t = new RxQueueStats();
    for (const q of this.queues) t.add(q.stats);
    return t;
  }
}
defineCounters(NetDevice, DEVICE_TX_COUNTERS);
