/**
 * BPF_PROG_TEST_RUN for XDP programs (net/bpf/test_run.c,
 * bpf_prog_test_run_xdp), with the kernel's checks:
 *
 *   EINVAL  a program for a cpumap or devmap entry; flags other than
 *           BPF_F_TEST_XDP_LIVE_FRAMES; batch_size without live frames;
 *           data_in shorter than ETH_HLEN; a ctx_in with data_meta != 0,
 *           data_end != data_size_in, egress_ifindex != 0, or a queue
 *           index without an ifindex (or past the device's queues)
 *   E2BIG   batch_size > 256 (TEST_XDP_MAX_BATCH)
 *   ENODEV  an ingress ifindex no device has
 *
 * Without live frames the program runs `repeat` times (0 means 1) on the
 * same buffer; a redirect has no effect; data_out is the packet with its
 * metadata, ctx_out the xdp_md; duration is ns per run. With
 * BPF_F_TEST_XDP_LIVE_FRAMES each of the `repeat` runs gets a fresh frame
 * of data_in, in batches of batch_size (default 64): XDP_TX sends it back
 * out of the ingress device, XDP_REDIRECT goes through xdp_do_redirect
 * (a CPUMAP, a DEVMAP), XDP_PASS reaches the stack, and xdp_do_flush runs
 * after each batch, as the kernel selftests use it to drive a cpumap.
 *
 * Context: host code acting as CPU `cpu` (the caller's CPU in the kernel),
 * as if in softirq with bottom halves disabled.
 *
 * @example
 * xdpTestRun(k, prog, { dataIn: frame, repeat: 100, flags: BPF_F_TEST_XDP_LIVE_FRAMES });
 */

import type { LoadedProgram } from '../cpu/program.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import { netOf } from './net-setup.ts';
import { RX_BUFFER_SIZE, RX_MAX_FRAME } from './rx-ring.ts';
import { convertBuffToFrame, xdpDoFlush, xdpDoRedirect } from './xdp-redirect.ts';
import { runXdp, stackReceive } from './xdp-run.ts';
import {
  BPF_F_TEST_XDP_LIVE_FRAMES,
  BPF_XDP,
  BPF_XDP_CPUMAP,
  BPF_XDP_DEVMAP,
  ETH_HLEN,
  XDP_PASS,
  XDP_REDIRECT,
  XDP_TX,
  xdpMd,
} from './xdp-uapi.ts';

const XDP_MD_OFF = xdpMd.off;

/** TEST_XDP_MAX_BATCH. */
export const TEST_XDP_MAX_BATCH = 256;
const NAPI_POLL_WEIGHT = 64;

export interface XdpTestRunOptions {
  readonly dataIn: Uint8Array;
  /** A struct xdp_md (24 bytes): ingress_ifindex and rx_queue_index are taken from it. */
  readonly ctxIn?: Uint8Array;
  readonly repeat?: number;
  readonly flags?: number;
  readonly batchSize?: number;
  /** The CPU to run on. Default 0. */
  readonly cpu?: number;
  /** The program's expected attach type. Default BPF_XDP. */
  readonly expectedAttachType?: number;
}

export interface XdpTestRunResult {
  /** The last run's verdict (0 with live frames, as the kernel reports). */
  readonly retval: number;
  /** ns per run. */
  readonly duration: number;
  /** Without live frames: the packet after the last run, metadata included. */
  readonly dataOut: Uint8Array;
  readonly ctxOut: Uint8Array;
}

export function xdpTestRun(
  k: Kernel,
  prog: LoadedProgram,
  opts: XdpTestRunOptions,
): XdpTestRunResult {
  const type = opts.expectedAttachType ?? BPF_XDP;
  if (type === BPF_XDP_CPUMAP || type === BPF_XDP_DEVMAP) {
    throw new ErrnoError(
      'EINVAL',
      `${prog.name} is a program for a ${type === BPF_XDP_CPUMAP ? 'cpumap' : 'devmap'} entry`,
    );
  }
  const flags = opts.flags ?? 0;
  if (flags & ~BPF_F_TEST_XDP_LIVE_FRAMES)
    throw new ErrnoError('EINVAL', `test_run flags 0x${flags.toString(16)}`);
  const live = (flags & BPF_F_TEST_XDP_LIVE_FRAMES) !== 0;
  let batch = opts.batchSize ?? 0;
  if (live) {
    if (batch === 0) batch = NAPI_POLL_WEIGHT;
    else if (batch > TEST_XDP_MAX_BATCH)
      throw new ErrnoError('E2BIG', `batch_size ${batch} > ${TEST_XDP_MAX_BATCH}`);
  } else if (batch !== 0) {
    throw new ErrnoError('EINVAL', 'batch_size is for BPF_F_TEST_XDP_LIVE_FRAMES only');
  }
  const data = opts.dataIn;
  if (data.length < ETH_HLEN)
    throw new ErrnoError('EINVAL', `data_size_in ${data.length} < ETH_HLEN`);
  if (data.length > RX_MAX_FRAME)
    throw new ErrnoError('EINVAL', `data_size_in ${data.length} > ${RX_MAX_FRAME}`);
  const net = netOf(k);
  let ifindex = 1;
  let queue = 0;
  if (opts.ctxIn !== undefined) {
    const dv = new DataView(opts.ctxIn.buffer, opts.ctxIn.byteOffset, opts.ctxIn.byteLength);
    const field = (off: number) => (opts.ctxIn!.length >= off + 4 ? dv.getUint32(off, true) : 0);
    if (field(XDP_MD_OFF.data) !== 0 || field(XDP_MD_OFF.data_meta) !== 0)
      throw new ErrnoError('EINVAL', 'ctx_in data and data_meta must be 0');
    if (field(XDP_MD_OFF.data_end) !== data.length) {
      throw new ErrnoError(
        'EINVAL',
        `ctx_in data_end ${field(XDP_MD_OFF.data_end)} is not data_size_in ${data.length}`,
      );
    }
    if (field(XDP_MD_OFF.egress_ifindex) !== 0)
      throw new ErrnoError('EINVAL', 'ctx_in egress_ifindex must be 0');
    ifindex = field(XDP_MD_OFF.ingress_ifindex);
    queue = field(XDP_MD_OFF.rx_queue_index);
    if (ifindex === 0 && queue !== 0)
      throw new ErrnoError('EINVAL', `rx_queue_index ${queue} without an ingress_ifindex`);
    if (ifindex === 0) ifindex = 1;
  }
  const dev = net.device(ifindex);
  if (queue >= dev.queues.length)
    throw new ErrnoError('EINVAL', `${dev.name} has no RX queue ${queue}`);
  const cpuId = opts.cpu ?? 0;
  k.areas.checkCpu(cpuId);
  const c = k.cpus[cpuId];
  const sd = net.percpu[cpuId];
  const repeat = Math.max(1, opts.repeat ?? 1);
  const saved = k.current;
  k.current = c;
  const before = c.cpu.totalExecuted;
  const buff = sd.buff;
  let retval = 0;
  let dataOut = new Uint8Array(0);
  let ctxOut = new Uint8Array(0);
  try {
    if (!live) {
      const buf = k.kheap.kzalloc(RX_BUFFER_SIZE);
      if (buf === 0) throw new ErrnoError('ENOMEM', 'no memory for the test buffer');
      net.countBuffers(1);
      k.memory.u8.set(data, buf + 256);
      buff.init(dev.ifindex, queue, buf, RX_BUFFER_SIZE, data.length);
      for (let i = 0; i < repeat; i++) {
        retval = runXdp(net, c, prog, buff, sd.ctx);
        // A redirect in a plain test run has no effect: forget its target.
        sd.riMap = null;
        sd.riTarget = null;
      }
      dataOut = k.memory.u8.slice(buff.dataMeta, buff.dataEnd);
      ctxOut = k.memory.u8.slice(buff.md, buff.md + xdpMd.size);
      net.freeBuffer(buf);
    } else {
      for (let done = 0; done < repeat; ) {
        const n = Math.min(batch, repeat - done);
        for (let i = 0; i < n; i++) liveFrame(k, c, prog, dev, queue, data);
        xdpDoFlush(net, c);
        done += n;
      }
    }
  } finally {
    k.current = saved;
  }
  const insns = c.cpu.totalExecuted - before;
  return {
    retval: live ? 0 : retval,
    duration: Math.round((insns * k.opts.nsPerInsn) / repeat),
    dataOut,
    ctxOut,
  };

  function liveFrame(
    kk: Kernel,
    cc: typeof c,
    p: LoadedProgram,
    d: typeof dev,
    q: number,
    bytes: Uint8Array,
  ): void {
    const buf = kk.kheap.kmalloc(RX_BUFFER_SIZE);
    if (buf === 0) throw new ErrnoError('ENOMEM', 'no memory for a live frame');
    net.countBuffers(1);
    kk.memory.u8.set(bytes, buf + 256);
    buff.init(d.ifindex, q, buf, RX_BUFFER_SIZE, bytes.length);
    const act = runXdp(net, cc, p, buff, sd.ctx);
    if (act === XDP_PASS) {
      stackReceive(net, cc, buff);
      return;
    }
    if (act === XDP_TX) {
      // The kernel turns XDP_TX into a redirect to the ingress device.
      if (convertBuffToFrame(net, buff) !== 0) {
        d.ndoXdpXmit(net, [buf]);
      } else {
        net.freeBuffer(buf);
      }
      return;
    }
    if (act === XDP_REDIRECT && xdpDoRedirect(net, cc, buff, d, net.progId(p)) === 0) return;
    net.freeBuffer(buf);
  }
}
