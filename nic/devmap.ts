/**
 * BPF_MAP_TYPE_DEVMAP and BPF_MAP_TYPE_DEVMAP_HASH (kernel/bpf/devmap.c):
 * XDP_REDIRECT out of another device, on the same redirect machinery as
 * the cpumap. A DEVMAP is an array of `struct bpf_devmap_val { u32
 * ifindex; union { int fd; u32 id; } bpf_prog; }` by index; a DEVMAP_HASH
 * keys the same values by any u32 (buckets of roundup_pow_of_two(
 * max_entries), newest first in a bucket). Redirected frames wait in the
 * target device's per-CPU bulk queue (16 frames, DEV_MAP_BULK_SIZE); the
 * flush at the end of the poll (or a full queue) runs the entry's devmap
 * program (SEC("xdp/devmap"), egress_ifindex set) on them and sends the
 * rest with the device's ndo_xdp_xmit, which counts them on its TX side;
 * xdp_devmap_xmit is traced for each send.
 *
 * Userspace errnos, in the kernel's order: update flags > BPF_EXIST
 * EINVAL; DEVMAP key >= max_entries E2BIG, BPF_NOEXIST EEXIST, ifindex 0
 * clears the slot (EINVAL with a program fd); DEVMAP_HASH ifindex 0 EINVAL,
 * NOEXIST on a present key EEXIST, a new key past max_entries E2BIG; an
 * unknown ifindex, or a program fd that is not SEC("xdp/devmap"), EINVAL.
 * Lookup ENOENT when absent; delete: DEVMAP EINVAL out of range, else 0;
 * DEVMAP_HASH ENOENT when absent.
 *
 * Deliberate difference: the bulk queues are JS arrays of frame addresses
 * (the frames themselves are in emulated memory), and BPF_F_BROADCAST is
 * not implemented (bpf_redirect_map returns XDP_ABORTED for it).
 *
 * @example
 * const tx = bpfMapCreate(k, 'DEVMAP', 'tx_port', 4, 4, 8);
 * tx.updateElem(u32(0), u32(eth1.ifindex));
 */

import { BpfMap, type BpfMapAttr, bpfMapHeader } from '../maps/bpf-map.ts';
import {
  BPF_EXIST,
  BPF_F_NUMA_NODE,
  BPF_F_RDONLY,
  BPF_F_WRONLY,
  BPF_MAP_TYPE,
  BPF_NOEXIST,
  mapTypeName,
} from '../maps/bpf-uapi.ts';
import type { CpuState } from '../preempt/cpu-state.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { ERRNO, ErrnoError } from '../segments/errno.ts';
import { counterBlock, freeCounterBlock } from './mem-counters.ts';
import type { NetDevice } from './net-device.ts';
import { type NetStack, netStackOf, type XdpProgramFd } from './net-stack.ts';
import type { FlushQueue, RedirectMap, RedirectTarget } from './redirect-map.ts';
import { traceDevmapXmit, traceXdpException } from './tracepoints.ts';
import { convertBuffToFrame, convertFrameToBuff } from './xdp-redirect.ts';
import { runXdp, warnInvalidXdpAction } from './xdp-run.ts';
import { BPF_XDP_DEVMAP, XDP_ABORTED, XDP_DROP, XDP_PASS, xdpFrame } from './xdp-uapi.ts';

const XDP_FRAME_OFF = xdpFrame.off;

/** DEV_MAP_BULK_SIZE (XDP_BULK_QUEUE_SIZE). */
export const DEV_MAP_BULK_SIZE = 16;
const DEV_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY;

/** A device's bulk queue on one CPU (dev->xdp_bulkq). */
export class DevBulkQueue implements FlushQueue {
  readonly frames: number[] = [];
  devRx: NetDevice | null = null;
  entry: DevMapEntry | null = null;

  constructor(
    readonly net: NetStack,
    readonly dev: NetDevice,
    readonly cpu: number,
  ) {}

  /** __dev_flush's loop body: send everything, leave the flush list. */
  flush(c: CpuState): void {
    this.xmitAll(c);
    this.devRx = null;
    this.entry = null;
    const list = this.net.percpu[this.cpu].devFlushList;
    list.splice(list.indexOf(this), 1);
  }

  /** bq_xmit_all(): the devmap program, then ndo_xdp_xmit; unsent frames are freed. */
  xmitAll(c: CpuState): void {
    const cnt = this.frames.length;
    if (cnt === 0) return;
    let frames = this.frames.splice(0, cnt);
    const prog = this.entry?.prog ?? null;
    if (prog !== null) frames = this.runDevmapProg(c, prog, frames);
    const sent = this.dev.ndoXdpXmit(this.net, frames);
    for (let i = sent; i < frames.length; i++) this.net.freeBuffer(frames[i]);
    this.dev.txDrops += frames.length - sent;
    this.entry?.map.noteXmit(cnt - sent);
    traceDevmapXmit(this.net.k, c, this.devRx?.ifindex ?? 0, this.dev.ifindex, sent, cnt - sent, 0);
  }

  /** dev_map_bpf_prog_run(): the frames the program passes. */
  private runDevmapProg(c: CpuState, prog: XdpProgramFd, frames: number[]): number[] {
    const sd = this.net.percpu[c.id];
    const buff = sd.buff;
    const kept: number[] = [];
    for (const f of frames) {
      convertFrameToBuff(this.net, f, buff);
      buff.egressIfindex = this.dev.ifindex;
      const act = runXdp(this.net, c, prog.prog, buff, sd.ctx);
      if (act === XDP_PASS && convertBuffToFrame(this.net, buff) !== 0) {
        kept.push(f);
        continue;
      }
      if (act !== XDP_PASS && act !== XDP_DROP) {
        if (act !== XDP_ABORTED) warnInvalidXdpAction(this.net, c, act, prog.prog, this.dev.name);
        traceXdpException(this.net.k, c, prog.id, act, this.dev.ifindex);
      }
      this.net.freeBuffer(f);
      this.entry?.map.noteProgDrop();
    }
    return kept;
  }
}

/** `struct bpf_dtab_netdev`: a target device and its optional devmap program. */
export class DevMapEntry implements RedirectTarget {
  constructor(
    readonly map: DevMap,
    readonly key: number,
    readonly dev: NetDevice,
    readonly prog: XdpProgramFd | null,
  ) {}

  get toIfindex(): number {
    return this.dev.ifindex;
  }

  /** dev_map_enqueue(): the device's bulk queue on `c`; a full queue is sent first. */
  enqueue(c: CpuState, frame: number, devRx: NetDevice): number {
    const len = this.map.k.memory.read32(frame + XDP_FRAME_OFF.len);
    if (len > this.dev.mtu + 14) return -ERRNO.EMSGSIZE;
    let bq = this.dev.bulkqs[c.id];
    if (bq === undefined) {
      bq = new DevBulkQueue(this.map.net, this.dev, c.id);
      this.dev.bulkqs[c.id] = bq;
    }
    if (bq.frames.length === DEV_MAP_BULK_SIZE) bq.xmitAll(c);
    if (bq.devRx === null) {
      bq.devRx = devRx;
      bq.entry = this;
      this.map.net.percpu[c.id].devFlushList.unshift(bq);
    }
    bq.frames.push(frame);
    return 0;
  }
}

export class DevMap extends BpfMap implements RedirectMap {
  readonly redirectFlagMask = 0;
  readonly net: NetStack;
  private readonly hash: boolean;
  /** DEVMAP: by index. DEVMAP_HASH: the buckets, newest first. */
  private readonly slots: (DevMapEntry | null)[];
  private readonly buckets: DevMapEntry[][];
  private items = 0;
  /** xmitDrops and progDrops, in emulated memory (mem-counters.ts). */
  private readonly counters: Float64Array;

  private constructor(
    readonly k: Kernel,
    attr: BpfMapAttr,
    id: number,
    addr: number,
  ) {
    super(k, attr, id, addr, false);
    this.net = netStackOf(k);
    this.hash = attr.type === BPF_MAP_TYPE.DEVMAP_HASH;
    this.slots = this.hash ? [] : new Array<DevMapEntry | null>(attr.maxEntries).fill(null);
    const nBuckets = this.hash ? 1 << Math.ceil(Math.log2(Math.max(1, attr.maxEntries))) : 0;
    this.buckets = Array.from({ length: nBuckets }, () => []);
    this.counters = counterBlock(k, 2);
    this.writeHeader();
    this.net.redirectMaps.push(this);
  }

  /** dev_map_alloc_check(). */
  static allocCheck(attr: BpfMapAttr): void {
    if (attr.maxEntries === 0) throw new ErrnoError('EINVAL', 'a devmap needs max_entries > 0');
    if (attr.keySize !== 4)
      throw new ErrnoError('EINVAL', `devmap key_size ${attr.keySize} is not 4`);
    if (attr.valueSize !== 4 && attr.valueSize !== 8) {
      throw new ErrnoError(
        'EINVAL',
        `devmap value_size ${attr.valueSize} is neither 4 (ifindex) nor 8 (ifindex and program fd)`,
      );
    }
    if (attr.mapFlags & ~DEV_CREATE_FLAG_MASK) {
      throw new ErrnoError(
        'EINVAL',
        `devmap map_flags 0x${attr.mapFlags.toString(16)}: only NUMA_NODE, RDONLY, WRONLY`,
      );
    }
  }

  static create(k: Kernel, attr: BpfMapAttr, id: number): DevMap {
    const addr = k.kheap.kzalloc(bpfMapHeader.size);
    if (addr === 0) throw new ErrnoError('ENOMEM', 'no memory for a devmap');
    return new DevMap(k, attr, id, addr);
  }

  private bucket(key: number): DevMapEntry[] {
    return this.buckets[key & (this.buckets.length - 1)];
  }

  private lookup(key: number): DevMapEntry | null {
    if (!this.hash) return key < this.maxEntries ? this.slots[key] : null;
    return this.bucket(key).find((e) => e.key === key) ?? null;
  }

  redirectLookup(key: number): DevMapEntry | null {
    return this.lookup(key);
  }

  framesInFlight(): number {
    let n = 0;
    for (const dev of this.net.devices.values()) n += dev.bulkqFrames();
    return n;
  }

  /** Frames ndo_xdp_xmit could not send. */
  get xmitDrops(): number {
    return this.counters[0];
  }

  /** Frames the devmap program dropped. */
  get progDrops(): number {
    return this.counters[1];
  }

  noteXmit(drops: number): void {
    this.counters[0] += drops;
  }

  noteProgDrop(): void {
    this.counters[1]++;
  }

  /** Parallel mode keeps one copy of the entries per worker: userspace changes wait until the run is over. */
  private refuseWhileParallel(op: string): void {
    if (this.k.current?.cpu.concurrent === true) {
      throw new ErrnoError(
        'ENOTSUPP',
        `${mapTypeName(this.type)} ${op} while running in parallel mode: set the entries up before the run`,
      );
    }
  }

  /** __dev_map_alloc_node(): the device and program of a value; EINVAL for either wrong. */
  private allocNode(key: number, ifindex: number, progFd: number): DevMapEntry {
    const dev = this.net.devices.get(ifindex);
    if (dev === undefined) throw new ErrnoError('EINVAL', `no device with ifindex ${ifindex}`);
    let prog: XdpProgramFd | null = null;
    if (progFd > 0) {
      const p = this.net.progByFd(progFd);
      if (p === undefined || p.expectedAttachType !== BPF_XDP_DEVMAP) {
        throw new ErrnoError('EINVAL', `program fd ${progFd} is not SEC("xdp/devmap")`);
      }
      prog = p;
    }
    return new DevMapEntry(this, key, dev, prog);
  }

  override sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): void {
    this.refuseWhileParallel('update');
    const i = u32(key, 0);
    const ifindex = u32(value, 0);
    const progFd = this.valueSize === 8 ? u32(value, 4) | 0 : 0;
    if (this.hash) {
      if (flags > BPF_EXIST || ifindex === 0) {
        throw new ErrnoError(
          'EINVAL',
          flags > BPF_EXIST
            ? `update flags ${flags} > BPF_EXIST`
            : 'a DEVMAP_HASH value needs an ifindex',
        );
      }
      const old = this.lookup(i);
      if (old !== null && flags & BPF_NOEXIST) throw new ErrnoError('EEXIST', `key ${i} exists`);
      const entry = this.allocNode(i, ifindex, progFd);
      const b = this.bucket(i);
      if (old !== null) b.splice(b.indexOf(old), 1);
      else if (this.items >= this.maxEntries) {
        throw new ErrnoError(
          'E2BIG',
          `the DEVMAP_HASH holds max_entries ${this.maxEntries} already`,
        );
      } else this.items++;
      b.unshift(entry);
      return;
    }
    if (flags > BPF_EXIST) throw new ErrnoError('EINVAL', `update flags ${flags} > BPF_EXIST`);
    if (i >= this.maxEntries)
      throw new ErrnoError('E2BIG', `key ${i} >= max_entries ${this.maxEntries}`);
    if (flags === BPF_NOEXIST)
      throw new ErrnoError('EEXIST', 'a DEVMAP entry always exists (BPF_NOEXIST)');
    if (ifindex === 0 && progFd > 0)
      throw new ErrnoError('EINVAL', 'a program fd needs an ifindex');
    this.slots[i] = ifindex === 0 ? null : this.allocNode(i, ifindex, progFd);
  }

  override sysLookup(key: Uint8Array, value: Uint8Array): void {
    const e = this.lookup(u32(key, 0));
    if (e === null) throw new ErrnoError('ENOENT', `devmap key ${u32(key, 0)} has no entry`);
    const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
    dv.setUint32(0, e.dev.ifindex, true);
    if (this.valueSize === 8) dv.setUint32(4, e.prog?.id ?? 0, true);
  }

  override sysDelete(key: Uint8Array): void {
    this.refuseWhileParallel('delete');
    const i = u32(key, 0);
    if (this.hash) {
      const e = this.lookup(i);
      if (e === null) throw new ErrnoError('ENOENT', `DEVMAP_HASH key ${i} has no entry`);
      const b = this.bucket(i);
      b.splice(b.indexOf(e), 1);
      this.items--;
      return;
    }
    if (i >= this.maxEntries)
      throw new ErrnoError('EINVAL', `key ${i} >= max_entries ${this.maxEntries}`);
    this.slots[i] = null;
  }

  override sysGetNextKey(key: Uint8Array | null, next: Uint8Array): void {
    new DataView(next.buffer, next.byteOffset).setUint32(
      0,
      this.nextKey(key === null ? null : u32(key, 0)),
      true,
    );
  }

  /** dev_map_get_next_key / dev_map_hash_get_next_key. */
  private nextKey(key: number | null): number {
    if (!this.hash) {
      const index = key === null ? this.maxEntries : key;
      if (index >= this.maxEntries) return 0;
      if (index === this.maxEntries - 1) throw new ErrnoError('ENOENT', `key ${index} is the last`);
      return index + 1;
    }
    const nb = this.buckets.length;
    let start = 0;
    const cur = key === null ? null : this.lookup(key);
    if (cur !== null) {
      const b = this.bucket(cur.key);
      const after = b[b.indexOf(cur) + 1];
      if (after !== undefined) return after.key;
      start = (cur.key & (nb - 1)) + 1;
    }
    for (let i = start; i < nb; i++) if (this.buckets[i].length > 0) return this.buckets[i][0].key;
    throw new ErrnoError('ENOENT', 'no key after this one');
  }

  free(): void {
    this.slots.fill(null);
    for (const b of this.buckets) b.length = 0;
    const list = this.net.redirectMaps;
    list.splice(list.indexOf(this), 1);
    freeCounterBlock(this.k, this.counters);
    this.k.kheap.kfree(this.addr);
  }
}

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);
}
