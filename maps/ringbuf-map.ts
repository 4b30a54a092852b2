/**
 * BPF_MAP_TYPE_RINGBUF (kernel/bpf/ringbuf.c): a multi-producer,
 * single-consumer ring of variable-length records that programs on any CPU
 * reserve, fill in place and submit (or discard), and that the scenario
 * reads in order (maps/ring-buffer.ts, libbpf's ring_buffer).
 *
 * Layout in emulated memory, two blocks as the kernel's: the map from
 * bpf_map_area_alloc, the ring from vmalloc (the kernel vmaps its pages):
 *
 *     struct bpf_ringbuf_map { struct bpf_map map; u64 rb; }
 *
 *     struct bpf_ringbuf {                      // page-aligned
 *       page 0: u64 mask; u64 map; u32 wakeups; raw_spinlock_t spinlock @64;
 *       page 1: u64 consumer_pos;               // written by the consumer
 *       page 2: u64 producer_pos; u64 pending_pos;
 *       page 3: char data[max_entries]; char data_again[max_entries];
 *     }
 *
 * `max_entries` is the data size: a power of 2 and a multiple of the page
 * size. The positions only grow; `pos % size` is the offset in `data`.
 *
 * Records. Each starts with the kernel's 8-byte header, 8-aligned:
 *
 *     struct bpf_ringbuf_hdr { u32 len; u32 pg_off; }
 *
 * `len` is the sample size with BPF_RINGBUF_BUSY_BIT while the producer
 * holds it and BPF_RINGBUF_DISCARD_BIT once discarded; `pg_off` is the
 * record's distance in pages from `struct bpf_ringbuf`, from which submit
 * and discard find the ring given only the sample pointer. A record takes
 * `round_up(len + 8, 8)` bytes.
 *
 * Wrap-around. The kernel maps the data pages twice in a row, so a record
 * that runs past the end of `data` is still contiguous. Emulated memory has
 * no aliasing, so `data_again` is a second copy: a reservation that wraps
 * copies the wrapped part of `data` into `data_again`, the program writes
 * its sample contiguously (plain stores through the returned pointer), and
 * the commit copies the wrapped part back to the start of `data`. Between
 * the commit and the consumer passing the record, both copies hold it, so
 * the consumer reads it contiguously too.
 *
 * Locking: reservations (position checks, the header, producer_pos and
 * pending_pos) happen under `spinlock`, taken by the reserving CPU; commits
 * take no lock, they flip their own header's bits; the single consumer
 * writes only consumer_pos. `map` and `wakeups` are the emulator's: the
 * back pointer by which a helper given a sample finds the map object, and
 * how many times a commit queued the irq_work that wakes the consumer
 * (BPF_RB_NO_WAKEUP / BPF_RB_FORCE_WAKEUP decide, as in the kernel).
 *
 * From userspace every map command is ENOTSUPP, as the kernel's
 * ringbuf_map ops; only the consumer reads the ring.
 *
 * @example
 * const rb = bpfMapCreate(m, 'RINGBUF', 'events', 0, 0, 4096);
 * m.asm`r1 = events ll
 *       r2 = 16
 *       r3 = 0
 *       call bpf_ringbuf_reserve`;  // r0: a record's sample, or 0
 */

import { alignUp, isPowerOfTwo, struct, u32, u64 } from '../segments/ctype.ts';
import { ERRNO, ErrnoError } from '../segments/errno.ts';
import { PAGE_SIZE, type PhysicalMemory } from '../segments/memory.ts';
import { RawSpinlock } from '../segments/raw-spinlock.ts';
import { BpfMap, type BpfMapAttr, bpfMapHeader } from './bpf-map.ts';
import { BPF_F_NUMA_NODE } from './bpf-uapi.ts';
import { bpfMapAreaAlloc, bpfMapAreaFree } from './map-area.ts';
import type { MapMemory } from './map-memory.ts';

/** Bits of a record header's `len`. */
export const BPF_RINGBUF_BUSY_BIT = 0x8000_0000;
export const BPF_RINGBUF_DISCARD_BIT = 0x4000_0000;
/** Size of `struct bpf_ringbuf_hdr`. */
export const BPF_RINGBUF_HDR_SZ = 8;

/** Flags of bpf_ringbuf_output, _submit and _discard. */
export const BPF_RB_NO_WAKEUP = 1 << 0;
export const BPF_RB_FORCE_WAKEUP = 1 << 1;

/** What bpf_ringbuf_query reports. */
export const BPF_RB_AVAIL_DATA = 0;
export const BPF_RB_RING_SIZE = 1;
export const BPF_RB_CONS_POS = 2;
export const BPF_RB_PROD_POS = 3;

/** RINGBUF_MAX_RECORD_SZ: the largest sample a reservation may ask for. */
export const RINGBUF_MAX_RECORD_SZ = Math.floor(0xffff_ffff / 4);
/** RINGBUF_NR_META_PAGES: the page of fields, the consumer page and the producer page. */
const NR_META_PAGES = 3;

/** `struct bpf_ringbuf_map`. */
export const bpfRingbufMap = struct('bpf_ringbuf_map', [
  ['map', bpfMapHeader],
  ['rb', u64],
]);
const BPF_RINGBUF_MAP_OFF = bpfRingbufMap.off;

/** The first page of `struct bpf_ringbuf`. */
export const bpfRingbufFields = struct('bpf_ringbuf', [
  ['mask', u64],
  ['map', u64],
  ['wakeups', u32],
]);
const BPF_RINGBUF_OFF = bpfRingbufFields.off;

/** The spinlock is ____cacheline_aligned_in_smp. */
const SPINLOCK_OFF = alignUp(bpfRingbufFields.size, 64);
const CONSUMER_POS_OFF = PAGE_SIZE;
const PRODUCER_POS_OFF = 2 * PAGE_SIZE;
const PENDING_POS_OFF = PRODUCER_POS_OFF + 8;
const DATA_OFF = NR_META_PAGES * PAGE_SIZE;

/** A record's bytes in the ring: its sample and header, 8-aligned. */
const recordBytes = (len: number) =>
  alignUp((len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)) + BPF_RINGBUF_HDR_SZ, 8);

export class RingbufMap extends BpfMap {
  /** Address of `struct bpf_ringbuf` (page-aligned). */
  readonly rb: number;
  /** Address of `data[0]`. */
  readonly data: number;
  /** Bytes of data: `max_entries`. */
  readonly dataSize: number;
  private readonly spinlock: RawSpinlock;

  /** ringbuf_map_alloc's attribute checks: EINVAL naming the attribute at fault. */
  static allocCheck(attr: BpfMapAttr): void {
    if (attr.mapFlags & ~BPF_F_NUMA_NODE) {
      throw new ErrnoError('EINVAL', `map_flags 0x${attr.mapFlags.toString(16)} not allowed here`);
    }
    if (attr.keySize !== 0 || attr.valueSize !== 0) {
      throw new ErrnoError(
        'EINVAL',
        `key_size ${attr.keySize} and value_size ${attr.valueSize} of a ring buffer must be 0`,
      );
    }
    if (!isPowerOfTwo(attr.maxEntries) || attr.maxEntries % PAGE_SIZE !== 0) {
      throw new ErrnoError(
        'EINVAL',
        `max_entries ${attr.maxEntries} is not a power of 2 and a multiple of ${PAGE_SIZE}`,
      );
    }
  }

  /** ringbuf_map_alloc: the map, then the ring (meta pages and data twice), zeroed; ENOMEM. */
  static create(m: MapMemory, attr: BpfMapAttr, id: number): RingbufMap {
    const addr = bpfMapAreaAlloc(m, bpfRingbufMap.size);
    if (addr === 0) throw new ErrnoError('ENOMEM', 'no memory for struct bpf_ringbuf_map');
    const rb = m.vmalloc.vzalloc(DATA_OFF + 2 * attr.maxEntries);
    if (rb === 0) {
      bpfMapAreaFree(m, addr);
      throw new ErrnoError(
        'ENOMEM',
        `no memory for a ring of ${attr.maxEntries} bytes (mapped twice) and ${NR_META_PAGES} meta pages`,
      );
    }
    return new RingbufMap(m, attr, id, addr, rb);
  }

  private constructor(m: MapMemory, attr: BpfMapAttr, id: number, addr: number, rb: number) {
    super(m, attr, id, addr, false);
    this.rb = rb;
    this.data = rb + DATA_OFF;
    this.dataSize = attr.maxEntries;
    this.writeHeader();
    const mem = m.memory;
    writeU64(mem, addr + BPF_RINGBUF_MAP_OFF.rb, rb);
    writeU64(mem, rb + BPF_RINGBUF_OFF.mask, attr.maxEntries - 1);
    writeU64(mem, rb + BPF_RINGBUF_OFF.map, addr);
    this.spinlock = RawSpinlock.init(mem, rb + SPINLOCK_OFF);
  }

  /** consumer_pos: bytes the consumer has passed. */
  get consumerPos(): number {
    return readU64(this.m.memory, this.rb + CONSUMER_POS_OFF);
  }
  set consumerPos(pos: number) {
    writeU64(this.m.memory, this.rb + CONSUMER_POS_OFF, pos);
  }

  /** producer_pos: bytes reserved so far. */
  get producerPos(): number {
    return readU64(this.m.memory, this.rb + PRODUCER_POS_OFF);
  }

  /** pending_pos: where the oldest record not yet committed starts (as of the last reservation). */
  get pendingPos(): number {
    return readU64(this.m.memory, this.rb + PENDING_POS_OFF);
  }

  /** How many times a commit queued the wake-up of the consumer (irq_work_queue). */
  get wakeups(): number {
    return this.m.memory.read32(this.rb + BPF_RINGBUF_OFF.wakeups);
  }

  /** Address in `data` of position `pos`. */
  addrOf(pos: number): number {
    return this.data + (pos % this.dataSize);
  }

  // ---- the producer side ------------------------------------------------------------

  /**
   * __bpf_ringbuf_reserve on CPU `cpu`: a record for `size` bytes, its
   * header BUSY; returns the sample's address, or 0 when the sample is too
   * big or the ring has no room (from the consumer, or from the oldest
   * record still not committed). Takes and drops `spinlock`.
   */
  reserve(size: number, cpu: number): number {
    if (size > RINGBUF_MAX_RECORD_SZ) return 0;
    const len = alignUp(size + BPF_RINGBUF_HDR_SZ, 8);
    if (len > this.dataSize) return 0;
    const mem = this.m.memory;
    const consPos = this.consumerPos;
    this.spinlock.lock(cpu);
    let hdr: number;
    try {
      let pendPos = this.pendingPos;
      const prodPos = this.producerPos;
      const newProdPos = prodPos + len;
      while (pendPos < prodPos) {
        const hdrLen = mem.read32(this.addrOf(pendPos));
        if (hdrLen & BPF_RINGBUF_BUSY_BIT) break;
        pendPos += recordBytes(hdrLen);
      }
      writeU64(mem, this.rb + PENDING_POS_OFF, pendPos);
      const mask = this.dataSize - 1;
      if (newProdPos - consPos > mask || newProdPos - pendPos > mask) return 0;
      hdr = this.addrOf(prodPos);
      mem.write32(hdr, (size | BPF_RINGBUF_BUSY_BIT) >>> 0);
      mem.write32(hdr + 4, Math.floor((hdr - this.rb) / PAGE_SIZE));
      this.mirror(hdr, len, true);
      writeU64(mem, this.rb + PRODUCER_POS_OFF, newProdPos);
    } finally {
      this.spinlock.unlock(cpu);
    }
    return hdr + BPF_RINGBUF_HDR_SZ;
  }

  /**
   * bpf_ringbuf_commit: the record at `sample` is submitted (or discarded);
   * queues a wake-up if the consumer waits at this record, or always with
   * BPF_RB_FORCE_WAKEUP, never with BPF_RB_NO_WAKEUP. No lock: the record
   * is this producer's until its BUSY bit clears.
   */
  commit(sample: number, flags: number, discard: boolean): void {
    const mem = this.m.memory;
    const hdr = sample - BPF_RINGBUF_HDR_SZ;
    const len = mem.read32(hdr);
    this.mirror(hdr, recordBytes(len), false);
    let newLen = (len ^ BPF_RINGBUF_BUSY_BIT) >>> 0;
    if (discard) newLen = (newLen | BPF_RINGBUF_DISCARD_BIT) >>> 0;
    mem.write32(hdr, newLen);
    const recPos = hdr - this.data;
    const consPos = this.consumerPos % this.dataSize;
    if (flags & BPF_RB_FORCE_WAKEUP || (consPos === recPos && !(flags & BPF_RB_NO_WAKEUP))) {
      mem.write32(this.rb + BPF_RINGBUF_OFF.wakeups, (this.wakeups + 1) >>> 0);
    }
  }

  /**
   * The double mapping's stand-in for a record of `bytes` at `hdr` that runs
   * past the end of `data`: at reservation the wrapped part of `data` is
   * copied after the end (`toAgain`), at commit back to the start.
   */
  private mirror(hdr: number, bytes: number, toAgain: boolean): void {
    const end = this.data + this.dataSize;
    const over = hdr + bytes - end;
    if (over <= 0) return;
    const u8 = this.m.memory.u8;
    if (toAgain) u8.copyWithin(end, this.data, this.data + over);
    else u8.copyWithin(this.data, end, end + over);
  }

  /**
   * bpf_ringbuf_output on CPU `cpu`: a record holding `size` bytes from
   * `src`, submitted. 0, -EINVAL for flags other than the wake-up ones, or
   * -EAGAIN when it does not fit.
   */
  output(src: number, size: number, flags: number, cpu: number): number {
    if (flags > (BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)) return -ERRNO.EINVAL;
    const mem = this.m.memory;
    if (size > 0) mem.check(src, size, 'read');
    const rec = this.reserve(size, cpu);
    if (rec === 0) return -ERRNO.EAGAIN;
    mem.u8.copyWithin(rec, src, src + size);
    this.commit(rec, flags, false);
    return 0;
  }

  /** bpf_ringbuf_query: BPF_RB_AVAIL_DATA, _RING_SIZE, _CONS_POS, _PROD_POS; 0 for other flags. */
  query(flags: number): number {
    switch (flags) {
      case BPF_RB_AVAIL_DATA:
        return this.producerPos - this.consumerPos;
      case BPF_RB_RING_SIZE:
        return this.dataSize;
      case BPF_RB_CONS_POS:
        return this.consumerPos;
      case BPF_RB_PROD_POS:
        return this.producerPos;
      default:
        return 0;
    }
  }

  /**
   * bpf_ringbuf_restore_from_rec, checked: the ring whose reserved record's
   * sample is at `sample`, found through the header's pg_off. What the
   * verifier guarantees in the kernel is checked here, so a program that
   * passes anything else (or commits a record twice) faults: EINVAL naming
   * the address. `mapAt` resolves a `struct bpf_map` address (the machine's
   * map table).
   */
  static fromSample(
    m: MapMemory,
    sample: number,
    mapAt: (addr: number) => BpfMap,
    helper: string,
  ): RingbufMap {
    const mem = m.memory;
    const hdr = sample - BPF_RINGBUF_HDR_SZ;
    const bad = (why: string) =>
      new ErrnoError('EINVAL', `${helper}: 0x${sample.toString(16)} ${why}`);
    if (hdr % 8 !== 0 || !mem.isMapped(hdr, BPF_RINGBUF_HDR_SZ)) {
      throw bad('is not a ring buffer sample');
    }
    const rb = hdr - (hdr % PAGE_SIZE) - mem.read32(hdr + 4) * PAGE_SIZE;
    if (rb < 0 || !mem.isMapped(rb, DATA_OFF)) throw bad('is not a ring buffer sample');
    let map: BpfMap;
    try {
      map = mapAt(readU64(mem, rb + BPF_RINGBUF_OFF.map));
    } catch (e) {
      if (e instanceof ErrnoError) throw bad('is not a ring buffer sample');
      throw e;
    }
    if (!(map instanceof RingbufMap) || map.rb !== rb) {
      throw bad('is not a ring buffer sample');
    }
    if (hdr < map.data || hdr >= map.data + map.dataSize) {
      throw bad(`is outside the data of ${map.describe}`);
    }
    if ((mem.read32(hdr) & BPF_RINGBUF_BUSY_BIT) === 0) {
      throw bad(`is not a reserved record of ${map.describe} (committed already?)`);
    }
    return map;
  }

  override free(): void {
    this.m.vmalloc.vfree(this.rb);
    bpfMapAreaFree(this.m, this.addr);
  }
}

/** A u64 field holding a position or an address (below 2^53), as a number. */
function readU64(mem: PhysicalMemory, addr: number): number {
  return mem.read32(addr) + mem.read32(addr + 4) * 0x1_0000_0000;
}

function writeU64(mem: PhysicalMemory, addr: number, v: number): void {
  mem.write32(addr, v % 0x1_0000_0000);
  mem.write32(addr + 4, Math.floor(v / 0x1_0000_0000));
}
