/**
 * The numbers of XDP's uapi (include/uapi/linux/bpf.h) and the sizes the
 * kernel's checks use (include/net/xdp.h, include/linux/skbuff.h).
 *
 * @example
 * XDP_ACTION.REDIRECT; // 4
 */

import { struct, u32 } from '../segments/ctype.ts';

/** enum xdp_action. */
export const XDP_ACTION = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
export const XDP_ABORTED = 0;
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_TX = 3;
export const XDP_REDIRECT = 4;

/** The names the tracepoints print (`__print_symbolic(act, __XDP_ACT_MAP)`). */
export const XDP_ACTION_NAMES = ['ABORTED', 'DROP', 'PASS', 'TX', 'REDIRECT'] as const;

/** Headroom before the packet in every XDP buffer. */
export const XDP_PACKET_HEADROOM = 256;
/** sizeof(struct xdp_frame) on 64-bit: what xdp_convert_buff_to_frame stores in the headroom. */
export const XDP_FRAME_SIZE = 40;
/** sizeof(struct skb_shared_info): the tailroom build_skb needs. */
export const SKB_SHARED_INFO_SIZE = 320;
/** The largest data_meta (bpf_xdp_adjust_meta). */
export const XDP_META_MAX = 32;
export const ETH_HLEN = 14;

/** enum bpf_attach_type values of XDP programs. */
export const BPF_XDP_DEVMAP = 33;
export const BPF_XDP_CPUMAP = 35;
export const BPF_XDP = 37;

/** BPF_PROG_TEST_RUN flags. */
export const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;

/** `struct xdp_md`: the program's view of the buffer, 24 bytes of u32. */
export const xdpMd = struct('xdp_md', [
  ['data', u32],
  ['data_end', u32],
  ['data_meta', u32],
  ['ingress_ifindex', u32],
  ['rx_queue_index', u32],
  ['egress_ifindex', u32],
]);

/**
 * `struct xdp_frame` as this emulator stores it at the buffer's start
 * (data_hard_start): 40 bytes, as on 64-bit.
 */
export const xdpFrame = struct('xdp_frame', [
  ['data', u32],
  ['data_hi', u32],
  ['len', u32],
  ['headroom', u32],
  ['metasize', u32],
  ['frame_sz', u32],
  ['dev_rx', u32],
  ['rx_queue', u32],
  ['flags', u32],
  ['pad', u32],
]);
