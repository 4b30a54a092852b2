/**
 * Perf events of the one kind BPF programs write to, PERF_TYPE_SOFTWARE /
 * PERF_COUNT_SW_BPF_OUTPUT with PERF_SAMPLE_RAW (what libbpf's perf_buffer
 * opens), and their ring buffers in emulated memory (kernel/events/core.c
 * and ring_buffer.c).
 *
 * An event is a `struct perf_event` (the fields output reads) kzalloc'ed
 * for one CPU. `mmap(pageCnt)` gives it its ring buffer, one vzalloc'ed
 * block laid out as the mmap'ed area userspace sees:
 *
 *     page 0        struct perf_event_mmap_page: data_head at 1024 (the
 *                   kernel's), data_tail at 1032 (the reader's),
 *                   data_offset = 4096, data_size = pageCnt * 4096
 *     pages 1..n    the data: records after a `struct perf_event_header
 *                   { u32 type; u16 misc; u16 size; }`, 8-aligned, wrapping
 *
 * `output(data, size)` is perf_event_output for a raw sample, in
 * __perf_output_begin's order: a pending lost count adds a PERF_RECORD_LOST
 * record `{ header, u64 id, u64 lost }` in front; the space is
 * CIRC_SPACE(head, tail, data_size) (one byte short of the size, as the
 * kernel's); no room: the lost count (rb->lost) and lost_samples go up and
 * the result is -ENOSPC. Otherwise the LOST record (taking rb->lost to 0)
 * and a PERF_RECORD_SAMPLE `{ header (misc PERF_RECORD_MISC_KERNEL), u32
 * size, data }` are written, `size` being the raw size padded so the record
 * ends 8-aligned (perf_sample_save_raw_data; the pad bytes are skipped, not
 * written), and then data_head is published.
 *
 * Memory ordering, for parallel mode: only the event's CPU writes data_head
 * and rb->lost (output checks `oncpu`), only the reader writes data_tail.
 * The producer reads data_tail with Atomics.load before writing (the
 * kernel's control dependency A) and stores data_head's low word with
 * Atomics.store after the data (smp_wmb B); the reader loads data_head with
 * Atomics.load (C) and stores data_tail after reading the records (D).
 * Positions are u64 in memory, kept below 2^53; each is written high word
 * first, low word last.
 *
 * Context: output on the event's CPU inside a helper; open, mmap and close
 * from host code before or after a run.
 *
 * @example
 * const ev = k.perfEvents.open({ cpu: 0 });
 * ev.mmap(8);                 // 8 data pages
 * ev.output(dataAddr, 16, 0); // 0, or -ENOSPC when full
 */

import { array, s32, struct, u8, u16, u32, u64 } from '../segments/ctype.ts';
import { ERRNO, ErrnoError } from '../segments/errno.ts';
import type { KernelHeap } from '../segments/kmalloc.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import { PAGE_SIZE } from '../segments/memory.ts';
import type { Vmalloc } from '../segments/vmalloc.ts';

/** What perf events use of the kernel (a Kernel is one). */
export interface PerfEventMemory {
  readonly memory: PhysicalMemory;
  readonly nrCpus: number;
  readonly kheap: KernelHeap;
  readonly vmalloc: Vmalloc;
}

export const PERF_TYPE_HARDWARE = 0;
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_COUNT_SW_CPU_CLOCK = 0;
export const PERF_COUNT_SW_BPF_OUTPUT = 10;
export const PERF_SAMPLE_RAW = 1 << 10;
export const PERF_RECORD_LOST = 2;
export const PERF_RECORD_SAMPLE = 9;
export const PERF_RECORD_MISC_KERNEL = 1;

/** `struct perf_event_mmap_page` (include/uapi/linux/perf_event.h). */
export const perfEventMmapPage = struct('perf_event_mmap_page', [
  ['version', u32],
  ['compat_version', u32],
  ['lock', u32],
  ['index', u32],
  ['offset', u64],
  ['time_enabled', u64],
  ['time_running', u64],
  ['capabilities', u64],
  ['pmc_width', u16],
  ['time_shift', u16],
  ['time_mult', u32],
  ['time_offset', u64],
  ['time_zero', u64],
  ['size', u32],
  ['__reserved_1', u32],
  ['time_cycles', u64],
  ['time_mask', u64],
  ['__reserved', array(u8, 116 * 8)],
  ['data_head', u64],
  ['data_tail', u64],
  ['data_offset', u64],
  ['data_size', u64],
  ['aux_head', u64],
  ['aux_tail', u64],
  ['aux_offset', u64],
  ['aux_size', u64],
]);
const PAGE_OFF = perfEventMmapPage.off;

/** `struct perf_event_header`. */
export const perfEventHeader = struct('perf_event_header', [
  ['type', u32],
  ['misc', u16],
  ['size', u16],
]);

/** The part of `struct perf_event` (and its `perf_buffer`) that output reads. */
export const perfEventType = struct('perf_event', [
  ['type', u32],
  ['config', u64],
  ['sample_type', u64],
  ['id', u64],
  /** The CPU the event counts on; -1 while disabled. */
  ['oncpu', s32],
  /** rb: the mmap'ed area (its perf_event_mmap_page), 0 before mmap. */
  ['rb', u32],
  ['nr_pages', u32],
  /** rb->lost: samples lost since the last PERF_RECORD_LOST. */
  ['rb_lost', u64],
  /** event->lost_samples: every sample lost. */
  ['lost_samples', u64],
]);
const EV_OFF = perfEventType.off;

/** A PERF_RECORD_LOST record's size. */
const LOST_RECORD_SIZE = 24;

/** What perf_event_open is asked for. */
export interface PerfEventAttr {
  /** The CPU to count on (a per-CPU event, as libbpf opens them). */
  readonly cpu: number;
  /** PERF_TYPE_SOFTWARE by default. */
  readonly type?: number;
  /** PERF_COUNT_SW_BPF_OUTPUT by default. */
  readonly config?: number;
  /** PERF_SAMPLE_RAW by default. */
  readonly sampleType?: number;
  /** attr.disabled: created off, enabled with `enable()`. */
  readonly disabled?: boolean;
}

export class PerfEvent {
  private readonly i32: Int32Array;

  constructor(
    private readonly m: PerfEventMemory,
    /** The perf event's fd. */
    readonly fd: number,
    /** Address of its `struct perf_event`. */
    readonly addr: number,
    readonly cpu: number,
  ) {
    this.i32 = new Int32Array(m.memory.buffer);
  }

  /** event->id, which PERF_RECORD_LOST records carry. */
  get id(): number {
    return Number(this.m.memory.read64(this.addr + EV_OFF.id));
  }

  /** The address of the mmap'ed area (its perf_event_mmap_page); 0 before mmap. */
  get userPage(): number {
    return this.m.memory.read32(this.addr + EV_OFF.rb);
  }

  /** Data bytes of the ring (data_size). */
  get dataSize(): number {
    return this.m.memory.read32(this.addr + EV_OFF.nr_pages) * PAGE_SIZE;
  }

  /** event->lost_samples: every sample this event lost. */
  get lostSamples(): number {
    return Number(this.m.memory.read64(this.addr + EV_OFF.lost_samples));
  }

  /** rb->lost: samples lost that no PERF_RECORD_LOST has reported yet. */
  get pendingLost(): number {
    return Number(this.m.memory.read64(this.addr + EV_OFF.rb_lost));
  }

  /** PERF_EVENT_IOC_ENABLE / _DISABLE. */
  enable(): void {
    this.m.memory.write32(this.addr + EV_OFF.oncpu, this.cpu);
  }
  disable(): void {
    this.m.memory.write32(this.addr + EV_OFF.oncpu, -1);
  }

  /**
   * mmap of 1 + pageCnt pages: the user page and the data. EINVAL unless
   * pageCnt is a power of two (perf_mmap), EBUSY when mapped already,
   * ENOMEM when vmalloc has no room.
   */
  mmap(pageCnt: number): number {
    if (!Number.isInteger(pageCnt) || pageCnt < 1 || (pageCnt & (pageCnt - 1)) !== 0) {
      throw new ErrnoError('EINVAL', `page count ${pageCnt} is not a power of two`);
    }
    if (this.userPage !== 0)
      throw new ErrnoError('EBUSY', `perf event fd ${this.fd} is mmap'ed already`);
    const mem = this.m.memory;
    const area = this.m.vmalloc.vzalloc((1 + pageCnt) * PAGE_SIZE);
    if (area === 0) throw new ErrnoError('ENOMEM', `no room for a ${pageCnt}-page perf buffer`);
    // perf_event_init_userpage: cap_bit0_is_deprecated, the header's size, where the data is.
    mem.write64(area + PAGE_OFF.capabilities, 2n);
    mem.write32(area + PAGE_OFF.size, PAGE_OFF.__reserved);
    mem.write64(area + PAGE_OFF.data_offset, BigInt(PAGE_SIZE));
    mem.write64(area + PAGE_OFF.data_size, BigInt(pageCnt * PAGE_SIZE));
    mem.write32(this.addr + EV_OFF.nr_pages, pageCnt);
    mem.write32(this.addr + EV_OFF.rb, area);
    return area;
  }

  /**
   * perf_event_output of a raw sample of `size` bytes at `data`, on CPU
   * `cpu` (the caller checked it is the event's): 0, or -ENOSPC when the
   * ring has no room (counted as lost) or the event has no ring; -E2BIG
   * when the record would not fit the header's u16 size.
   */
  output(data: number, size: number): number {
    const mem = this.m.memory;
    const page = this.userPage;
    if (page === 0) return -ERRNO.ENOSPC;
    const recSize = 8 + (((size + 4 + 7) >>> 3) << 3);
    if (recSize > 0xffff) return -ERRNO.E2BIG;
    mem.check(data, size, 'read');
    const lost = this.pendingLost;
    const total = recSize + (lost > 0 ? LOST_RECORD_SIZE : 0);
    const dataSize = this.dataSize;
    const tail = this.loadPos(page + PAGE_OFF.data_tail);
    const head = this.loadPos(page + PAGE_OFF.data_head);
    if (((tail - (head + 1)) & (dataSize - 1)) < total) {
      mem.write64(this.addr + EV_OFF.rb_lost, BigInt(lost + 1));
      mem.write64(this.addr + EV_OFF.lost_samples, BigInt(this.lostSamples + 1));
      return -ERRNO.ENOSPC;
    }
    const base = page + PAGE_SIZE;
    let at = head;
    if (lost > 0) {
      const rec = new DataView(new ArrayBuffer(LOST_RECORD_SIZE));
      rec.setUint32(0, PERF_RECORD_LOST, true);
      rec.setUint16(6, LOST_RECORD_SIZE, true);
      rec.setBigUint64(8, BigInt(this.id), true);
      rec.setBigUint64(16, BigInt(lost), true);
      this.put(base, dataSize, at, new Uint8Array(rec.buffer));
      at += LOST_RECORD_SIZE;
      mem.write64(this.addr + EV_OFF.rb_lost, 0n);
    }
    const hdr = new DataView(new ArrayBuffer(12));
    hdr.setUint32(0, PERF_RECORD_SAMPLE, true);
    hdr.setUint16(4, PERF_RECORD_MISC_KERNEL, true);
    hdr.setUint16(6, recSize, true);
    hdr.setUint32(8, recSize - 12, true);
    this.put(base, dataSize, at, new Uint8Array(hdr.buffer));
    this.put(base, dataSize, at + 12, mem.u8.subarray(data, data + size));
    this.storePos(page + PAGE_OFF.data_head, head + total);
    return 0;
  }

  /** Copies `bytes` into the ring at position `pos`, wrapping at its end. */
  private put(base: number, dataSize: number, pos: number, bytes: Uint8Array): void {
    const u8 = this.m.memory.u8;
    const off = pos & (dataSize - 1);
    const first = Math.min(bytes.length, dataSize - off);
    u8.set(bytes.subarray(0, first), base + off);
    if (first < bytes.length) u8.set(bytes.subarray(first), base);
  }

  private loadPos(addr: number): number {
    const lo = Atomics.load(this.i32, addr >> 2) >>> 0;
    return (this.i32[(addr >> 2) + 1] >>> 0) * 0x1_0000_0000 + lo;
  }

  private storePos(addr: number, pos: number): void {
    this.i32[(addr >> 2) + 1] = Math.floor(pos / 0x1_0000_0000) | 0;
    Atomics.store(this.i32, addr >> 2, pos | 0);
  }

  /** close(fd): the ring and the event are freed. */
  free(): void {
    const page = this.userPage;
    if (page !== 0) this.m.vmalloc.vfree(page);
    this.m.kheap.kfree(this.addr);
  }
}

/**
 * The scenario process's perf event fds (counted from 200, apart from map
 * and program fds) and the events by address, which is what a
 * PERF_EVENT_ARRAY slot holds.
 */
export class PerfEventTable {
  private readonly byFd = new Map<number, PerfEvent>();
  private readonly byAddr = new Map<number, PerfEvent>();
  private nextFd = 200;
  private nextId = 1;

  constructor(private readonly m: PerfEventMemory) {}

  /**
   * perf_event_open(attr, pid -1, cpu): EINVAL for a CPU the machine does
   * not have, ENOMEM without memory for the event.
   */
  open(attr: PerfEventAttr): PerfEvent {
    if (!Number.isInteger(attr.cpu) || attr.cpu < 0 || attr.cpu >= this.m.nrCpus) {
      throw new ErrnoError('EINVAL', `cpu ${attr.cpu} is not one of the ${this.m.nrCpus} CPUs`);
    }
    const addr = this.m.kheap.kzalloc(perfEventType.size);
    if (addr === 0) throw new ErrnoError('ENOMEM', 'no memory for a perf event');
    const mem = this.m.memory;
    mem.write32(addr + EV_OFF.type, attr.type ?? PERF_TYPE_SOFTWARE);
    mem.write64(addr + EV_OFF.config, BigInt(attr.config ?? PERF_COUNT_SW_BPF_OUTPUT));
    mem.write64(addr + EV_OFF.sample_type, BigInt(attr.sampleType ?? PERF_SAMPLE_RAW));
    mem.write64(addr + EV_OFF.id, BigInt(this.nextId++));
    mem.write32(addr + EV_OFF.oncpu, attr.disabled === true ? -1 : attr.cpu);
    const ev = new PerfEvent(this.m, this.nextFd++, addr, attr.cpu);
    this.byFd.set(ev.fd, ev);
    this.byAddr.set(addr, ev);
    return ev;
  }

  /** The event behind `fd`, or EBADF. */
  get(fd: number): PerfEvent {
    const ev = this.byFd.get(fd);
    if (ev === undefined) throw new ErrnoError('EBADF', `fd ${fd} is not a perf event`);
    return ev;
  }

  /** The open event whose `struct perf_event` is at `addr`, if any. */
  at(addr: number): PerfEvent | undefined {
    return this.byAddr.get(addr);
  }

  /** Reads the event's type and config at `addr` (what bpf_perf_event_output checks). */
  isBpfOutput(addr: number): boolean {
    const mem = this.m.memory;
    return (
      mem.read32(addr + EV_OFF.type) === PERF_TYPE_SOFTWARE &&
      mem.read64(addr + EV_OFF.config) === BigInt(PERF_COUNT_SW_BPF_OUTPUT)
    );
  }

  /** event->oncpu at `addr`. */
  onCpu(addr: number): number {
    return this.m.memory.read32(addr + EV_OFF.oncpu) | 0;
  }

  /** close(fd). */
  close(fd: number): void {
    const ev = this.get(fd);
    this.byFd.delete(fd);
    this.byAddr.delete(ev.addr);
    ev.free();
  }

  /** Every open event's fd, in order. */
  fds(): number[] {
    return [...this.byFd.keys()];
  }
}
