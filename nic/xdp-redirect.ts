/**
 * XDP_REDIRECT after the program: xdp_do_redirect() turns the buffer into
 * an xdp_frame stored in its own headroom and hands it to the target
 * bpf_redirect_map chose (the CPU's bpf_redirect_info); xdp_do_flush()
 * at the end of the poll flushes every bulk queue on the CPU's flush
 * lists, devmaps first, then cpumaps (which wake their kthreads).
 *
 * Errors (all traced as xdp_redirect_err, and the frame is the caller's
 * to drop): EOVERFLOW when the headroom left by the metadata cannot hold
 * the xdp_frame; EINVAL when bpf_redirect_map's lookup failed but the
 * program returned XDP_REDIRECT anyway (the kernel then looks for a device
 * of ifindex 0); EBADRQC when it returned XDP_REDIRECT without calling a
 * redirect helper.
 *
 * Context: softirq or a kthread with bottom halves disabled, on `c`.
 *
 * @example
 * if (xdpDoRedirect(net, c, buff, dev, progId) !== 0) net.freeBuffer(buff.hardStart);
 * xdpDoFlush(net, c);
 */

import type { CpuState } from '../preempt/cpu-state.ts';
import { ERRNO } from '../segments/errno.ts';
import type { NetDevice } from './net-device.ts';
import type { NetStack } from './net-stack.ts';
import { traceXdpRedirect } from './tracepoints.ts';
import type { XdpBuff } from './xdp-buff.ts';
import { SKB_SHARED_INFO_SIZE, XDP_FRAME_SIZE, xdpFrame } from './xdp-uapi.ts';

const XDP_FRAME_OFF = xdpFrame.off;

/** EBADRQC: a redirect with no target recorded. */
export const EBADRQC = 56;
/** The map_id xdp_redirect_err prints after a failed lookup (INT_MAX: an ifindex redirect). */
const MAP_ID_IFINDEX = 0x7fff_ffff;

/**
 * xdp_convert_buff_to_frame(): writes the xdp_frame at data_hard_start and
 * returns its address, or 0 when the headroom minus the metadata is
 * smaller than the xdp_frame or the data runs into the tailroom.
 */
export function convertBuffToFrame(net: NetStack, buff: XdpBuff): number {
  const headroom = buff.data - buff.hardStart;
  const metasize = buff.data - buff.dataMeta;
  if (headroom - metasize < XDP_FRAME_SIZE) return 0;
  if (buff.dataEnd > buff.hardStart + buff.frameSz - SKB_SHARED_INFO_SIZE) return 0;
  const m = net.k.memory;
  const f = buff.hardStart;
  m.write32(f + XDP_FRAME_OFF.data, buff.data);
  m.write32(f + XDP_FRAME_OFF.len, buff.dataEnd - buff.data);
  m.write32(f + XDP_FRAME_OFF.headroom, headroom - XDP_FRAME_SIZE);
  m.write32(f + XDP_FRAME_OFF.metasize, metasize);
  m.write32(f + XDP_FRAME_OFF.frame_sz, buff.frameSz);
  m.write32(f + XDP_FRAME_OFF.dev_rx, buff.ingressIfindex);
  m.write32(f + XDP_FRAME_OFF.rx_queue, buff.rxQueueIndex);
  return f;
}

/**
 * xdp_convert_frame_to_buff(): the buffer of the frame at `frame`, as a
 * cpumap program sees it (rx_queue_index 0: the frame does not carry it on).
 */
export function convertFrameToBuff(net: NetStack, frame: number, buff: XdpBuff): void {
  const m = net.k.memory;
  const data = m.read32(frame + XDP_FRAME_OFF.data);
  buff.hardStart = frame;
  buff.data = data;
  buff.dataEnd = data + m.read32(frame + XDP_FRAME_OFF.len);
  buff.dataMeta = data - m.read32(frame + XDP_FRAME_OFF.metasize);
  buff.frameSz = m.read32(frame + XDP_FRAME_OFF.frame_sz);
  buff.ingressIfindex = m.read32(frame + XDP_FRAME_OFF.dev_rx);
  buff.rxQueueIndex = 0;
  buff.egressIfindex = 0;
}

/** xdp_do_redirect(): 0, or a negative errno (traced; the caller drops the buffer). */
export function xdpDoRedirect(
  net: NetStack,
  c: CpuState,
  buff: XdpBuff,
  dev: NetDevice,
  progId: number,
): number {
  const sd = net.percpu[c.id];
  const map = sd.riMap;
  const target = sd.riTarget;
  const index = sd.riIndex;
  const lookupFailed = sd.riLookupFailed;
  sd.riMap = null;
  sd.riTarget = null;
  sd.riIndex = 0;
  sd.riLookupFailed = false;
  let err: number;
  if (map === null || target === null) {
    err = lookupFailed ? -ERRNO.EINVAL : -EBADRQC;
    traceXdpRedirect(net.k, c, progId, dev.ifindex, 0, err, lookupFailed ? MAP_ID_IFINDEX : 0, 0);
    return err;
  }
  const frame = convertBuffToFrame(net, buff);
  err = frame === 0 ? -ERRNO.EOVERFLOW : target.enqueue(c, frame, dev);
  traceXdpRedirect(net.k, c, progId, dev.ifindex, target.toIfindex, err, map.id, index);
  return err;
}

/** xdp_do_flush(): every bulk queue on `c`'s flush lists, devmaps then cpumaps. */
export function xdpDoFlush(net: NetStack, c: CpuState): void {
  const sd = net.percpu[c.id];
  const dev = sd.devFlushList;
  while (dev.length > 0) dev[0].flush(c);
  const cpu = sd.cpuFlushList;
  while (cpu.length > 0) cpu[0].flush(c);
}
