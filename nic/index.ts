/**
 * The network layer's public surface: the network stack of a kernel and
 * its devices, RSS, frames and the traffic source, pcap files, the XDP
 * numbers, and the redirect maps (`netOf(k)` sets the stack up on a
 * kernel and registers BPF_MAP_TYPE_CPUMAP, DEVMAP and DEVMAP_HASH there).
 *
 * @example
 * import { netOf, TrafficSource } from '../nic/index.ts';
 * const eth0 = netOf(k).addDevice({ name: 'eth0' });
 */

export {
  CPU_MAP_BULK_SIZE,
  CPUMAP_BATCH,
  CPUMAP_QSIZE_MAX,
  CpuMap,
  CpuMapEntry,
  type CpumapEnqueueStats,
  type CpumapKthreadCounts,
} from './cpumap.ts';
export { DEV_MAP_BULK_SIZE, DevMap, DevMapEntry } from './devmap.ts';
export { buildFrame, type FlowSpec, parseIpv4, parseIpv6 } from './frame.ts';
export { NAPI_POLL_WEIGHT, NETDEV_BUDGET } from './napi.ts';
export {
  NetDevice,
  type NetDeviceOptions,
  RxQueue,
  RxQueueStats,
  type XdpProgram,
} from './net-device.ts';
export { netOf } from './net-setup.ts';
export {
  type KeptFrame,
  NetStack,
  netStackOf,
  SoftnetData,
  type StackCounters,
  type XdpProgramFd,
} from './net-stack.ts';
export { type PcapPacket, parsePcap, writePcap } from './pcap.ts';
export { RSS_INDIR_SIZE, RSS_KEY_SIZE, Rss } from './rss.ts';
export { RX_BUFFER_SIZE, RX_MAX_FRAME } from './rx-ring.ts';
export { RSS_VERIFICATION_KEY, toeplitzHash } from './toeplitz.ts';
export { type TrafficOptions, TrafficSource } from './traffic.ts';
export {
  TEST_XDP_MAX_BATCH,
  type XdpTestRunOptions,
  type XdpTestRunResult,
  xdpTestRun,
} from './xdp-test-run.ts';
// XDP_PACKET_HEADROOM (256) is exported by the loader already.
export {
  BPF_F_TEST_XDP_LIVE_FRAMES,
  BPF_XDP,
  BPF_XDP_CPUMAP,
  BPF_XDP_DEVMAP,
  XDP_ABORTED,
  XDP_ACTION,
  XDP_ACTION_NAMES,
  XDP_DROP,
  XDP_FRAME_SIZE,
  XDP_PASS,
  XDP_REDIRECT,
  XDP_TX,
  xdpMd,
} from './xdp-uapi.ts';
