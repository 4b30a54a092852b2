/**
 * One RX queue's descriptor ring, in emulated memory as a NIC sees it: an
 * array of 16-byte descriptors `{ u64 addr; u16 len; u16 status; u32 rsvd }`.
 * The driver posts a buffer in each descriptor (`addr`, status 0); the NIC
 * writes a frame at `addr + XDP_PACKET_HEADROOM`, its length, and the
 * descriptor-done bit, at `next_to_use`; the driver's poll takes frames at
 * `next_to_clean` while DD is set, hands each buffer on (to XDP, the stack,
 * a redirect target, or back to the allocator) and posts a fresh one.
 *
 * Buffers are `RX_BUFFER_SIZE` bytes from kmalloc (the driver's page-pool
 * fragments); a posted buffer the allocator could not give leaves the
 * descriptor empty (addr 0), and the NIC counts the frame that lands on it
 * as missed, as a NIC out of buffers does (rx_missed_errors).
 *
 * Context: the NIC side runs wherever the traffic source runs (hardirq of
 * the queue's CPU); the driver side in NET_RX softirq of that CPU.
 *
 * @example
 * const ring = new RxRing(k, 128);
 * ring.nicWrite(frame, 0, 64); // true: posted, DD set
 */

import { ErrnoError } from '../segments/errno.ts';
import type { KernelHeap } from '../segments/kmalloc.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import { SKB_SHARED_INFO_SIZE, XDP_PACKET_HEADROOM } from './xdp-uapi.ts';

/** Bytes of one RX buffer (a half page, as drivers split pages for XDP). */
export const RX_BUFFER_SIZE = 2048;
/** The largest frame a buffer takes: headroom and skb_shared_info tailroom left. */
export const RX_MAX_FRAME = RX_BUFFER_SIZE - XDP_PACKET_HEADROOM - SKB_SHARED_INFO_SIZE;

const DESC_SIZE = 16;
const DESC_ADDR = 0;
const DESC_LEN = 8;
const DESC_STATUS = 10;
/** Descriptor done: the NIC wrote a frame here. */
const RX_DESC_DD = 1;

/** The memory services a ring uses. */
export interface RingMemory {
  readonly memory: PhysicalMemory;
  readonly kheap: KernelHeap;
}

export class RxRing {
  /** Address of descriptor 0. */
  readonly descs: number;
  /** The NIC's next descriptor to fill. */
  nextToUse = 0;
  /** The driver's next descriptor to take. */
  nextToClean = 0;
  /** Buffers the ring holds (posted in descriptors). */
  posted = 0;

  constructor(
    private readonly m: RingMemory,
    readonly size: number,
    /** Called for every buffer allocated or freed, for the leak count. */
    private readonly onBuffer: (delta: number) => void,
  ) {
    if (!Number.isInteger(size) || size < 8 || size > 8192 || (size & (size - 1)) !== 0) {
      throw new ErrnoError('EINVAL', `RX ring size ${size} is not a power of two in 8..8192`);
    }
    const descs = m.kheap.kzalloc(size * DESC_SIZE);
    if (descs === 0) throw new ErrnoError('ENOMEM', `no memory for ${size} RX descriptors`);
    this.descs = descs;
    for (let i = 0; i < size; i++) this.post(i);
  }

  /** Allocates a buffer into descriptor `i`; false when kmalloc has none. */
  private post(i: number): boolean {
    const buf = this.m.kheap.kmalloc(RX_BUFFER_SIZE);
    const d = this.descs + i * DESC_SIZE;
    const mem = this.m.memory;
    mem.write32(d + DESC_ADDR, buf);
    mem.write32(d + DESC_ADDR + 4, 0);
    mem.write16(d + DESC_STATUS, 0);
    if (buf === 0) return false;
    this.posted++;
    this.onBuffer(1);
    return true;
  }

  /**
   * The NIC writes a frame into the next descriptor. False when that
   * descriptor still holds an untaken frame (the ring is full) or has no
   * buffer: the frame is missed.
   */
  nicWrite(bytes: Uint8Array, at: number, len: number): boolean {
    const mem = this.m.memory;
    const d = this.descs + this.nextToUse * DESC_SIZE;
    if (mem.read16(d + DESC_STATUS) & RX_DESC_DD) return false;
    const buf = mem.read32(d + DESC_ADDR);
    if (buf === 0) return false;
    mem.u8.set(bytes.subarray(at, at + len), buf + XDP_PACKET_HEADROOM);
    mem.write16(d + DESC_LEN, len);
    mem.write16(d + DESC_STATUS, RX_DESC_DD);
    this.nextToUse = (this.nextToUse + 1) & (this.size - 1);
    return true;
  }

  /**
   * The next descriptor is not holding an untaken frame. (One without a
   * buffer counts as room: the NIC takes the frame and misses it, as under
   * memory pressure, rather than waiting for a refill nothing may trigger.)
   */
  nicHasRoom(): boolean {
    const d = this.descs + this.nextToUse * DESC_SIZE;
    return (this.m.memory.read16(d + DESC_STATUS) & RX_DESC_DD) === 0;
  }

  /** A frame is waiting at next_to_clean. */
  hasFrame(): boolean {
    return (
      (this.m.memory.read16(this.descs + this.nextToClean * DESC_SIZE + DESC_STATUS) &
        RX_DESC_DD) !==
      0
    );
  }

  /** The buffer of the frame at next_to_clean (call hasFrame first). */
  frameBuffer(): number {
    return this.m.memory.read32(this.descs + this.nextToClean * DESC_SIZE + DESC_ADDR);
  }

  frameLen(): number {
    return this.m.memory.read16(this.descs + this.nextToClean * DESC_SIZE + DESC_LEN);
  }

  /**
   * The driver has taken the frame at next_to_clean (its buffer is now the
   * taker's) and posts a fresh buffer there.
   */
  takeAndRefill(): void {
    this.posted--;
    this.post(this.nextToClean);
    this.nextToClean = (this.nextToClean + 1) & (this.size - 1);
  }

  /** Posts buffers into descriptors left empty by a failed allocation. */
  refillEmpty(): void {
    const mem = this.m.memory;
    for (let i = 0; i < this.size && this.posted < this.size; i++) {
      const d = this.descs + i * DESC_SIZE;
      if (mem.read32(d + DESC_ADDR) === 0) this.post(i);
    }
  }

  /** Descriptors holding a buffer, read from memory (what every thread sees; `posted` is the driver's own count). */
  buffersPosted(): number {
    let n = 0;
    const mem = this.m.memory;
    for (let i = 0; i < this.size; i++)
      if (mem.read32(this.descs + i * DESC_SIZE + DESC_ADDR) !== 0) n++;
    return n;
  }

  /** Frames written and not yet taken. */
  pending(): number {
    let n = 0;
    const mem = this.m.memory;
    for (let i = 0; i < this.size; i++) {
      if (mem.read16(this.descs + i * DESC_SIZE + DESC_STATUS) & RX_DESC_DD) n++;
    }
    return n;
  }

  /** Frees every buffer and the descriptors (device teardown). */
  free(): void {
    const mem = this.m.memory;
    for (let i = 0; i < this.size; i++) {
      const buf = mem.read32(this.descs + i * DESC_SIZE + DESC_ADDR);
      if (buf !== 0) {
        this.m.kheap.kfree(buf);
        this.onBuffer(-1);
      }
    }
    this.m.kheap.kfree(this.descs);
    this.posted = 0;
  }
}
