/**
 * The XDP helpers, by their `enum bpf_func_id` numbers, with the kernel's
 * checks (net/core/filter.c):
 *
 *  44 bpf_xdp_adjust_head(xdp_md, delta)    0, or -EINVAL when data would
 *     go below hard_start + sizeof(xdp_frame) + metalen or above
 *     data_end - ETH_HLEN; the metadata moves with data
 *  51 bpf_redirect_map(map, key, flags)     XDP_REDIRECT with the target
 *     recorded in the CPU's bpf_redirect_info; the fallback `flags & 3` for
 *     an empty or out-of-range key; XDP_ABORTED for other flag bits
 *  54 bpf_xdp_adjust_meta(xdp_md, delta)    0, -EINVAL below hard_start +
 *     sizeof(xdp_frame) or above data, -EACCES for a length not a multiple
 *     of 4 or over 32
 *
 * The xdp_md in r1 must be the running XDP program's (the verifier's
 * PTR_TO_CTX); anything else faults the program, as does a map other than
 * a CPUMAP, DEVMAP or DEVMAP_HASH given to bpf_redirect_map.
 *
 * @example
 * k.asm`r2 = -14
 *       call bpf_xdp_adjust_head`;
 */

import type { CpuContext } from '../cpu/context.ts';
import { mapTypeName } from '../maps/bpf-uapi.ts';
import { mapAt } from '../maps/map-table.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { ERRNO, ErrnoError } from '../segments/errno.ts';
import type { NetStack } from './net-stack.ts';
import { isRedirectMap } from './redirect-map.ts';
import type { XdpBuff } from './xdp-buff.ts';
import { ETH_HLEN, XDP_ABORTED, XDP_FRAME_SIZE, XDP_META_MAX, XDP_REDIRECT } from './xdp-uapi.ts';

export const BPF_FUNC_xdp_adjust_head = 44;
export const BPF_FUNC_redirect_map = 51;
export const BPF_FUNC_xdp_adjust_meta = 54;
/** The fallback actions bpf_redirect_map's flags may carry (XDP_ABORTED..XDP_TX). */
const XDP_ACTION_MASK = 3;

/** Registers the XDP helpers on `k`, served by `net`. */
export function installXdpHelpers(k: Kernel, net: NetStack): void {
  const bufOf = (ctx: CpuContext, cpu: number, helper: string): XdpBuff => {
    const buff = net.percpu[cpu].active;
    if (buff === null || ctx.regNumber(1) !== buff.md) {
      throw new ErrnoError('EINVAL', `${helper}: r1 is not the XDP program's context`);
    }
    return buff;
  };
  const s32 = (ctx: CpuContext, r: number) => ctx.regU32(r) | 0;
  k.helpers
    .register(BPF_FUNC_xdp_adjust_head, 'bpf_xdp_adjust_head', (ctx, cpu) => {
      const buff = bufOf(ctx, cpu.id, 'bpf_xdp_adjust_head');
      ctx.setRegNumber(0, xdpAdjustHead(net, buff, s32(ctx, 2)));
    })
    .register(BPF_FUNC_xdp_adjust_meta, 'bpf_xdp_adjust_meta', (ctx, cpu) => {
      const buff = bufOf(ctx, cpu.id, 'bpf_xdp_adjust_meta');
      ctx.setRegNumber(0, xdpAdjustMeta(buff, s32(ctx, 2)));
    })
    .register(BPF_FUNC_redirect_map, 'bpf_redirect_map', (ctx, cpu) => {
      ctx.setRegNumber(0, redirectMap(net, ctx, cpu.id));
    });
}

/** bpf_xdp_adjust_head(). */
export function xdpAdjustHead(net: NetStack, buff: XdpBuff, offset: number): number {
  const metalen = buff.data - buff.dataMeta;
  const dataStart = buff.hardStart + XDP_FRAME_SIZE + metalen;
  const data = buff.data + offset;
  if (data < dataStart || data > buff.dataEnd - ETH_HLEN) return -ERRNO.EINVAL;
  if (metalen !== 0) {
    net.k.memory.u8.copyWithin(buff.dataMeta + offset, buff.dataMeta, buff.data);
  }
  buff.dataMeta += offset;
  buff.data = data;
  buff.writeMd();
  return 0;
}

/** bpf_xdp_adjust_meta(). */
export function xdpAdjustMeta(buff: XdpBuff, offset: number): number {
  const meta = buff.dataMeta + offset;
  const metalen = buff.data - meta;
  if (meta < buff.hardStart + XDP_FRAME_SIZE || meta > buff.data) return -ERRNO.EINVAL;
  if ((metalen & 3) !== 0 || metalen > XDP_META_MAX) return -ERRNO.EACCES;
  buff.dataMeta = meta;
  buff.writeMd();
  return 0;
}

/** bpf_redirect_map() as __bpf_xdp_redirect_map does it. */
function redirectMap(net: NetStack, ctx: CpuContext, cpu: number): number {
  const map = mapAt(net.k, ctx.regNumber(1), 'bpf_redirect_map');
  if (!isRedirectMap(map)) {
    throw new ErrnoError(
      'EINVAL',
      `cannot pass map_type ${map.type} (${mapTypeName(map.type)}) into func bpf_redirect_map#51`,
    );
  }
  const key = ctx.regU32(2);
  const flagsLo = ctx.regU32(3);
  const flagsHi = ctx.words[7];
  if (flagsHi !== 0 || (flagsLo & ~(XDP_ACTION_MASK | map.redirectFlagMask)) !== 0)
    return XDP_ABORTED;
  const sd = net.percpu[cpu];
  const target = map.redirectLookup(key);
  if (target === null) {
    sd.riMap = null;
    sd.riTarget = null;
    sd.riIndex = 0;
    sd.riLookupFailed = true;
    return flagsLo & XDP_ACTION_MASK;
  }
  sd.riMap = map;
  sd.riTarget = target;
  sd.riIndex = key;
  sd.riLookupFailed = false;
  return XDP_REDIRECT;
}
