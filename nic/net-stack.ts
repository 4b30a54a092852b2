/**
 * The network stack of one booted kernel (what `struct net` and the
 * per-CPU `softnet_data` hold in Linux): the devices by ifindex, each CPU's
 * NAPI poll list, its XDP redirect state (`bpf_redirect_info`) and flush
 * lists, the "stack" that XDP_PASS frames reach, and the frame-buffer
 * count that says nothing leaked.
 *
 * `netOf(k)` (net-setup.ts) sets a kernel's stack up on first use: the
 * stack goes into the kernel's `ext.net` slot (declared here, since
 * preempt/ sits below this layer and cannot name it), NET_RX_SOFTIRQ is
 * opened, the XDP helpers and the redirect map types are registered.
 *
 * Context: the per-CPU parts are touched only by their CPU (softirq or
 * the kthreads bound there), as in the kernel.
 *
 * @example
 * const net = netOf(k);
 * const eth0 = net.addDevice({ name: 'eth0' });
 */

import { CpuContext, STACK_BYTES } from '../cpu/context.ts';
import type { LoadedProgram } from '../cpu/program.ts';
import { checkMapFuncCompatibility } from '../maps/map-func-compat.ts';
import { BPF_PROG_TYPE, type BpfProgInfo } from '../preempt/bpf-prog-table.ts';
import { NET_RX_SOFTIRQ } from '../preempt/cpu-state.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import { counterBlock, defineCounters } from './mem-counters.ts';
import { type Napi, netRxAction } from './napi.ts';
import { NetDevice, type NetDeviceOptions, type XdpProgram } from './net-device.ts';
import type { FlushQueue, RedirectMap, RedirectTarget } from './redirect-map.ts';
import { XdpBuff } from './xdp-buff.ts';
import { installXdpHelpers } from './xdp-helpers.ts';
import { BPF_XDP, xdpMd } from './xdp-uapi.ts';

/** What XDP_PASS frames reach on one CPU: counts, and the frames when asked to keep them. */
export interface StackCounters {
  packets: number;
  bytes: number;
}

/** A frame the stack kept for inspection (`keepFrames`). */
export interface KeptFrame {
  readonly cpu: number;
  readonly ifindex: number;
  readonly bytes: Uint8Array;
}

/** A loaded XDP program as its fd holds it. */
export interface XdpProgramFd {
  readonly fd: number;
  readonly prog: LoadedProgram;
  readonly expectedAttachType: number;
  /** bpf_prog_aux.id. */
  readonly id: number;
}

const SOFTNET_COUNTERS = [
  'timeSqueeze',
  'netRxInsns',
  'kthreadInsns',
  'buffers',
  'napiScheduled',
  'stackPackets',
  'stackBytes',
] as const;

/**
 * Per-CPU network state: softnet_data and bpf_redirect_info. Its counters
 * are in emulated memory (mem-counters.ts), written by this CPU alone; the
 * lists and the redirect state are the CPU's own, touched only there.
 */
export class SoftnetData {
  /** NAPI instances with work, polled by net_rx_action in order. */
  readonly pollList: Napi[] = [];
  /** net_rx_action runs that stopped on budget or time with work left (softnet_stat time_squeeze). */
  declare timeSqueeze: number;
  /** Instructions spent in NET_RX softirq on this CPU (driver, XDP, skbs). */
  declare netRxInsns: number;
  /** Instructions cpumap kthreads spent on this CPU (their programs, skbs, the stack). */
  declare kthreadInsns: number;
  /** Frame buffers allocated minus freed by this CPU (the sum over CPUs is what is live). */
  declare buffers: number;
  /** NAPI instances on the poll list (its length, where every CPU can read it). */
  declare napiScheduled: number;
  /** Frames and bytes that reached the stack here (netif_receive_skb). */
  declare stackPackets: number;
  declare stackBytes: number;
  // bpf_redirect_info
  riMap: RedirectMap | null = null;
  riTarget: RedirectTarget | null = null;
  riIndex = 0;
  /** bpf_redirect_map found no entry (the kernel records an ifindex redirect to 0). */
  riLookupFailed = false;
  /** Devmap and cpumap bulk queues with frames (the two flush lists of xdp_do_flush). */
  readonly devFlushList: FlushQueue[] = [];
  readonly cpuFlushList: FlushQueue[] = [];
  /** The buffer the running XDP program sees (what its helpers move). */
  active: XdpBuff | null = null;
  /** The driver's xdp_buff and program context for this CPU's NAPI polls. */
  readonly buff: XdpBuff;
  readonly ctx: CpuContext;
  readonly slots: Float64Array;

  constructor(k: Kernel, md: number, stackTop: number, placeholder: LoadedProgram) {
    this.buff = new XdpBuff(k.memory, md);
    this.ctx = new CpuContext(placeholder, stackTop);
    this.slots = counterBlock(k, SOFTNET_COUNTERS.length);
  }

  /** What reached the stack here, as a snapshot. */
  get stack(): StackCounters {
    return { packets: this.stackPackets, bytes: this.stackBytes };
  }
}
defineCounters(SoftnetData, SOFTNET_COUNTERS);

declare module '../preempt/kernel.ts' {
  interface KernelExtensions {
    /** The network stack, once set up (netOf in nic/net-setup.ts). */
    net?: NetStack;
  }
}

/** The network stack of `k`; EINVAL when none was set up (netOf does). */
export function netStackOf(k: Kernel): NetStack {
  const net = k.ext.net;
  if (net === undefined)
    throw new ErrnoError('EINVAL', 'no network stack on this kernel: netOf(k) sets it up');
  return net;
}

export class NetStack {
  readonly devices = new Map<number, NetDevice>();
  readonly percpu: SoftnetData[] = [];
  /** Maps that can hold frames (cpumaps, devmaps), for the drained check. */
  readonly redirectMaps: RedirectMap[] = [];
  /** Keep a copy of each XDP_PASS frame in `keptFrames` (for inspection; off by default). */
  keepFrames = false;
  readonly keptFrames: KeptFrame[] = [];
  /** bpf_warn_invalid_xdp_action has warned (pr_warn_once). */
  warnedInvalidAction = false;
  private nextIfindex = 1;
  private nextIrq = 64;
  private readonly progIds = new Map<LoadedProgram, number>();
  private nextProgId = 1;

  /** Use netOf(k), which also registers the map types and keeps the stack in `k.ext.net`. */
  constructor(readonly k: Kernel) {
    const placeholder = k.loadText(k.asm`r0 = 2\nexit`, 'xdp_placeholder');
    for (let cpu = 0; cpu < k.nrCpus; cpu++) {
      const md = k.kheap.kzalloc(xdpMd.size);
      const stack = k.kheap.kmalloc(STACK_BYTES);
      if (md === 0 || stack === 0)
        throw new ErrnoError('ENOMEM', `no memory for CPU ${cpu}'s xdp_md`);
      this.percpu.push(new SoftnetData(k, md, stack + STACK_BYTES, placeholder));
    }
    k.openSoftirq(NET_RX_SOFTIRQ, (kk, c) => netRxAction(this, kk, c));
    installXdpHelpers(k, this);
  }

  /**
   * register_netdev(): a NIC with one RX queue per CPU (queue i's interrupt
   * goes to CPU i). The name must be new; the ifindex is the next free one.
   */
  addDevice(opts: NetDeviceOptions): NetDevice {
    for (const d of this.devices.values()) {
      if (d.name === opts.name)
        throw new ErrnoError('EEXIST', `a device named ${opts.name} exists`);
    }
    const dev = new NetDevice(this, this.nextIfindex++, opts, this.nextIrq);
    this.nextIrq += dev.queues.length;
    this.devices.set(dev.ifindex, dev);
    return dev;
  }

  /** dev_get_by_index(); ENODEV when there is none. */
  device(ifindex: number): NetDevice {
    const dev = this.devices.get(ifindex);
    if (dev === undefined) throw new ErrnoError('ENODEV', `no device with ifindex ${ifindex}`);
    return dev;
  }

  deviceByName(name: string): NetDevice {
    for (const d of this.devices.values()) if (d.name === name) return d;
    throw new ErrnoError('ENODEV', `no device named ${name}`);
  }

  /** The id of a loaded program (bpf_prog_aux.id), given at first sight. */
  progId(prog: LoadedProgram): number {
    let id = this.progIds.get(prog);
    if (id === undefined) {
      id = this.nextProgId++;
      this.progIds.set(prog, id);
    }
    return id;
  }

  /**
   * BPF_PROG_LOAD of an XDP program with its expected attach type (what
   * `SEC("xdp")`, `SEC("xdp/cpumap")`, `SEC("xdp/devmap")` set): the fd
   * a cpumap or devmap value names, from the kernel's program table
   * (`k.progs`: fds count from 100, apart from map fds). EINVAL, with the
   * verifier's message, for a program that passes a CPUMAP to a helper
   * other than bpf_redirect_map.
   *
   * A program of a loaded object has an fd already (`obj.program('x').fd`,
   * with the expected attach type of its SEC()); this gives it another.
   *
   * @example
   * const fd = net.loadXdpProgram(prog, BPF_XDP_CPUMAP);
   * const fd2 = net.loadXdpProgram(obj.program('cpumap_count')); // SEC("xdp/cpumap")
   */
  loadXdpProgram(program: XdpProgram | LoadedProgram, expectedAttachType?: number): number {
    const p = 'prog' in program ? program : { prog: program };
    const prog = p.prog;
    expectedAttachType ??= p.expectedAttachType ?? BPF_XDP;
    checkMapFuncCompatibility(this.k.maps, prog);
    return this.k.progs.load(prog, {
      name: prog.name,
      type: BPF_PROG_TYPE.XDP,
      expectedAttachType,
    }).fd;
  }

  /** The XDP program behind `fd` in the kernel's program table, if any. */
  progByFd(fd: number): XdpProgramFd | undefined {
    let info: BpfProgInfo;
    try {
      info = this.k.progs.get(fd);
    } catch {
      return undefined;
    }
    if (info.type !== BPF_PROG_TYPE.XDP) return undefined;
    const { prog, expectedAttachType } = info;
    return { fd, prog, expectedAttachType, id: this.progId(prog) };
  }

  /** Frees a frame buffer (xdp_return_frame, page_pool_put_page). */
  freeBuffer(addr: number): void {
    this.k.kheap.kfree(addr);
    this.countBuffers(-1);
  }

  /** `delta` frame buffers allocated (or freed, negative) by the CPU running the caller. */
  countBuffers(delta: number): void {
    this.percpu[this.k.current?.id ?? 0].buffers += delta;
  }

  /** Frame buffers allocated and not yet freed, over every device, map and CPU. */
  get liveBuffers(): number {
    let n = 0;
    for (const sd of this.percpu) n += sd.buffers;
    return n;
  }

  /** Every frame handed to the NIC has been dealt with: no RX ring, bulk queue or map ring holds one. */
  drained(): boolean {
    for (const d of this.devices.values()) if (d.framesPending() > 0) return false;
    // Flush lists are empty outside a poll or a kthread's batch, which the maps count.
    for (const sd of this.percpu) if (sd.napiScheduled > 0) return false;
    for (const m of this.redirectMaps) if (m.framesInFlight() > 0) return false;
    return true;
  }

  /** Stack counters summed over CPUs. */
  stackTotals(): StackCounters {
    const t = { packets: 0, bytes: 0 };
    for (const sd of this.percpu) {
      t.packets += sd.stack.packets;
      t.bytes += sd.stack.bytes;
    }
    return t;
  }
}
