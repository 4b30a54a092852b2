/**
 * `struct xdp_buff`: the kernel's view of the packet an XDP program runs
 * on (the four pointers into one buffer, the receive queue's device and
 * index), and the `struct xdp_md` in emulated memory that the program
 * reads. The kernel's verifier rewrites each 4-byte load of an xdp_md field
 * into a load of the xdp_buff pointer; here the xdp_md is a real struct
 * whose fields are those pointers (emulated addresses fit in 32 bits), kept
 * in step by the driver and by the helpers that move them.
 *
 * Layout of a buffer (the driver's page-pool fragment, `frame_sz` bytes):
 *
 *   hard_start            data_meta   data                 data_end
 *   | xdp_frame (40) ...  | meta      | packet ............ |  ...  skb_shared_info |
 *   |<------------ headroom 256 ----->|
 *
 * @example
 * buff.init(dev, queue, bufAddr, 64); // a 64-byte frame at bufAddr + 256
 */

import type { PhysicalMemory } from '../segments/memory.ts';
import { XDP_PACKET_HEADROOM, xdpMd } from './xdp-uapi.ts';

const XDP_MD_OFF = xdpMd.off;

export class XdpBuff {
  hardStart = 0;
  data = 0;
  dataEnd = 0;
  dataMeta = 0;
  frameSz = 0;
  ingressIfindex = 0;
  rxQueueIndex = 0;
  /** Non-zero only for devmap programs (egress_ifindex). */
  egressIfindex = 0;

  constructor(
    readonly memory: PhysicalMemory,
    /** The `struct xdp_md` this buffer's program reads (24 bytes). */
    readonly md: number,
  ) {}

  /** xdp_init_buff + xdp_prepare_buff: `len` bytes at `hardStart + headroom`, metadata supported. */
  init(
    ifindex: number,
    rxQueue: number,
    hardStart: number,
    frameSz: number,
    len: number,
    headroom = XDP_PACKET_HEADROOM,
  ): void {
    this.hardStart = hardStart;
    this.frameSz = frameSz;
    this.data = hardStart + headroom;
    this.dataEnd = this.data + len;
    this.dataMeta = this.data;
    this.ingressIfindex = ifindex;
    this.rxQueueIndex = rxQueue;
    this.egressIfindex = 0;
  }

  get len(): number {
    return this.dataEnd - this.data;
  }

  get metasize(): number {
    return this.data - this.dataMeta;
  }

  /** Writes the program's xdp_md from the buffer's state. */
  writeMd(): void {
    const m = this.memory;
    m.write32(this.md + XDP_MD_OFF.data, this.data);
    m.write32(this.md + XDP_MD_OFF.data_end, this.dataEnd);
    m.write32(this.md + XDP_MD_OFF.data_meta, this.dataMeta);
    m.write32(this.md + XDP_MD_OFF.ingress_ifindex, this.ingressIfindex);
    m.write32(this.md + XDP_MD_OFF.rx_queue_index, this.rxQueueIndex);
    m.write32(this.md + XDP_MD_OFF.egress_ifindex, this.egressIfindex);
  }
}
