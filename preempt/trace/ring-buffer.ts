/**
 * Per-CPU trace ring buffers in emulated memory.
 *
 * Each possible CPU owns one region reserved from the address map
 * (`trace ring cpuN`, 256 KiB by default). Memory is the truth: the ring's
 * positions and counters live in the region's header and every read decodes
 * the records from memory, so a snapshot of memory holds the trace, and a
 * worker that attaches to the same regions sees the same rings.
 *
 * Region layout:
 *
 *     0    trace_ring_header
 *            u32 head      offset in the data area of the oldest record
 *            u32 tail      offset where the next record goes
 *            u32 used      bytes from head to tail, padding included
 *            u32 entries   records in the ring (padding excluded)
 *            u64 overrun   records overwritten since the last clear: lost
 *            u64 written   records written since the last clear
 *     64   data area, a multiple of 8 bytes: the records (see record.ts)
 *
 * All-zero is an empty ring, so fresh memory needs no initialisation.
 *
 * Records are variable-length and never wrap: when the next record does not
 * fit between the tail and the end of the data area, a padding record
 * (type 0) fills that end and the record goes at offset 0.
 *
 * Overwrite policy (ftrace's default "overwrite" mode): a writer never
 * fails or blocks. While the record (and the padding before it, if any)
 * does not fit in the free space after the tail, the oldest record is
 * dropped from the head; each dropped event counts in `overrun`, reported
 * as lost by {@link TraceRingBuffer.lost}. Padding is dropped uncounted.
 *
 * Corrupt memory (the header or a record overwritten by a stray store):
 * `emit` finds a header no writer could have left, or a record length that
 * cannot be, resets that ring to empty and tells `onCorrupt` after the
 * event is recorded; `read` stops at the first record it cannot decode and
 * returns the events before it. Neither throws for what memory holds.
 *
 * Context: a CPU's ring is written only by that CPU (the deterministic
 * engine's thread, or that CPU's worker), like the kernel's per-CPU
 * buffers; reading and clearing happen while the machine is stopped.
 *
 * @example
 * const rings = TraceRingBuffer.reserve(memory, addressMap, 4);
 * rings.emit(event);            // into rings of event.cpu
 * rings.read(event.cpu);        // [event], decoded from memory
 * rings.merged();               // every CPU's events by timestamp
 */

import type { AddressMap, Region } from '../../segments/address-map.ts';
import { struct, u32, u64 } from '../../segments/ctype.ts';
import { ErrnoError } from '../../segments/errno.ts';
import type { PhysicalMemory } from '../../segments/memory.ts';
import type { TraceEvent } from './events.ts';
import {
  decodeRecord,
  encodeRecord,
  MAX_RECORD_SIZE,
  recordLength,
  recordType,
  TRACE_TYPE_PADDING,
  traceEntry,
} from './record.ts';

const TRACE_ENTRY_OFF = traceEntry.off;

/** The header at the start of each CPU's region. */
export const traceRingHeader = struct('trace_ring_header', [
  ['head', u32],
  ['tail', u32],
  ['used', u32],
  ['entries', u32],
  ['overrun', u64],
  ['written', u64],
]);
const TRACE_RING_HEADER_OFF = traceRingHeader.off;

/** Where the data area starts in a region: the header rounded up to a cache line. */
export const TRACE_RING_DATA_OFFSET = 64;

/** Default bytes per CPU ring, header included. */
export const DEFAULT_TRACE_BYTES_PER_CPU = 256 * 1024;

/** The smallest ring (two pages of data): it always has room for one largest record. */
export const MIN_TRACE_BYTES_PER_CPU = 2 * 4096 + TRACE_RING_DATA_OFFSET;

export class TraceRingBuffer {
  readonly nrCpus: number;
  /** The regions, CPU 0 first. */
  readonly regions: readonly Region[];
  private readonly memory: PhysicalMemory;
  /** Data area size of each CPU's ring. */
  private readonly capacity: number[];
  /** Told, after the emit that found it, of a ring found corrupt and reset. */
  onCorrupt: ((cpu: number, message: string) => void) | null = null;
  private corruptions: { cpu: number; message: string }[] = [];
  private readonly scratch = new Uint8Array(MAX_RECORD_SIZE);
  private readonly scratchView = new DataView(this.scratch.buffer);

  /**
   * Reserves one region of `bytesPerCpu` per CPU from `addressMap` and
   * returns the (empty) rings over them.
   *
   * @example
   * const rings = TraceRingBuffer.reserve(memory, map, 2, 64 * 1024);
   * map.describe(rings.regions[1].start); // 'trace ring cpu1+0'
   */
  static reserve(
    memory: PhysicalMemory,
    addressMap: AddressMap,
    nrCpus: number,
    bytesPerCpu = DEFAULT_TRACE_BYTES_PER_CPU,
  ): TraceRingBuffer {
    if (!Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > 64) {
      throw new ErrnoError('EINVAL', `nrCpus ${nrCpus} is not an integer in [1, 64]`);
    }
    checkRingSize(bytesPerCpu);
    const regions: Region[] = [];
    for (let cpu = 0; cpu < nrCpus; cpu++) {
      regions.push(addressMap.reserve(`trace ring cpu${cpu}`, bytesPerCpu));
    }
    const rings = new TraceRingBuffer(memory, regions);
    rings.clear();
    return rings;
  }

  /**
   * Attaches to rings already laid out in `regions` (CPU i in regions[i]),
   * e.g. from another worker over the same memory. Nothing is cleared.
   */
  constructor(memory: PhysicalMemory, regions: readonly Region[]) {
    if (regions.length < 1 || regions.length > 64) {
      throw new ErrnoError('EINVAL', `${regions.length} trace ring regions: need 1 to 64`);
    }
    for (const r of regions) {
      checkRingSize(r.size);
      memory.check(r.start, r.size, 'write');
      if (r.start % 8 !== 0) {
        throw new ErrnoError(
          'EINVAL',
          `trace ring '${r.name}' at ${r.start} is not 8-byte aligned`,
        );
      }
    }
    this.memory = memory;
    this.regions = Object.freeze([...regions]);
    this.nrCpus = regions.length;
    this.capacity = regions.map((r) => Math.floor((r.size - TRACE_RING_DATA_OFFSET) / 8) * 8);
  }

  /** Records `event` in the ring of `event.cpu`, dropping the oldest records if full. */
  emit(event: TraceEvent): void {
    const cpu = this.checkCpu(event.cpu);
    const len = encodeRecord(event, this.scratch, this.scratchView);
    const view = this.memory.view;
    const base = this.regions[cpu].start;
    const data = base + TRACE_RING_DATA_OFFSET;
    const cap = this.capacity[cpu];
    const bad = this.insaneHeader(cpu);
    if (bad !== null) this.resetCorrupt(cpu, bad);
    for (;;) {
      let head = view.getUint32(base + TRACE_RING_HEADER_OFF.head, true);
      let tail = view.getUint32(base + TRACE_RING_HEADER_OFF.tail, true);
      const used = view.getUint32(base + TRACE_RING_HEADER_OFF.used, true);
      if (used === 0 && (head !== 0 || tail !== 0)) {
        head = 0;
        tail = 0;
        view.setUint32(base + TRACE_RING_HEADER_OFF.head, 0, true);
        view.setUint32(base + TRACE_RING_HEADER_OFF.tail, 0, true);
      }
      if (used === 0 || tail > head) {
        // Free: [tail, cap) and [0, head).
        if (cap - tail >= len) break;
        if (head >= len) {
          this.writePadding(data + tail, cap - tail);
          view.setUint32(base + TRACE_RING_HEADER_OFF.used, used + cap - tail, true);
          view.setUint32(base + TRACE_RING_HEADER_OFF.tail, 0, true);
          break;
        }
      } else if (tail < head && head - tail >= len) {
        break;
      }
      this.dropOldest(cpu);
    }
    const tail = view.getUint32(base + TRACE_RING_HEADER_OFF.tail, true);
    this.memory.writeBytes(data + tail, this.scratch.subarray(0, len));
    view.setUint32(base + TRACE_RING_HEADER_OFF.tail, tail + len === cap ? 0 : tail + len, true);
    view.setUint32(
      base + TRACE_RING_HEADER_OFF.used,
      view.getUint32(base + TRACE_RING_HEADER_OFF.used, true) + len,
      true,
    );
    view.setUint32(
      base + TRACE_RING_HEADER_OFF.entries,
      view.getUint32(base + TRACE_RING_HEADER_OFF.entries, true) + 1,
      true,
    );
    this.bumpCounter(base + TRACE_RING_HEADER_OFF.written);
    if (this.corruptions.length > 0) this.tellCorruptions();
  }

  /** What is wrong with `cpu`'s header, or null when a writer could have left it. */
  private insaneHeader(cpu: number): string | null {
    const view = this.memory.view;
    const base = this.regions[cpu].start;
    const cap = this.capacity[cpu];
    const head = view.getUint32(base + TRACE_RING_HEADER_OFF.head, true);
    const tail = view.getUint32(base + TRACE_RING_HEADER_OFF.tail, true);
    const used = view.getUint32(base + TRACE_RING_HEADER_OFF.used, true);
    const entries = view.getUint32(base + TRACE_RING_HEADER_OFF.entries, true);
    const aligned = ((head | tail | used) & 7) === 0;
    if (aligned && head < cap && tail < cap && used <= cap && entries <= used / 8) return null;
    const hex = (v: number) => `0x${v.toString(16)}`;
    return `header head ${hex(head)} tail ${hex(tail)} used ${hex(used)} entries ${entries} for a data area of ${cap} bytes`;
  }

  /** Empties `cpu`'s ring (its counters kept) and queues the report of why. */
  private resetCorrupt(cpu: number, why: string): void {
    const view = this.memory.view;
    const base = this.regions[cpu].start;
    for (const at of [
      TRACE_RING_HEADER_OFF.head,
      TRACE_RING_HEADER_OFF.tail,
      TRACE_RING_HEADER_OFF.used,
      TRACE_RING_HEADER_OFF.entries,
    ])
      view.setUint32(base + at, 0, true);
    const addr = `0x${base.toString(16)}`;
    this.corruptions.push({
      cpu,
      message: `BUG: trace ring of CPU ${cpu} at ${addr} is corrupted (${why}): the ring was reset`,
    });
  }

  private tellCorruptions(): void {
    const list = this.corruptions;
    this.corruptions = [];
    for (const c of list) this.onCorrupt?.(c.cpu, c.message);
  }

  /** The events in `cpu`'s ring, oldest first, decoded from memory. */
  read(cpu: number): TraceEvent[] {
    this.checkCpu(cpu);
    const { view, u8 } = this.memory;
    const base = this.regions[cpu].start;
    const data = base + TRACE_RING_DATA_OFFSET;
    const cap = this.capacity[cpu];
    const out: TraceEvent[] = [];
    if (this.insaneHeader(cpu) !== null) return out;
    let pos = view.getUint32(base + TRACE_RING_HEADER_OFF.head, true);
    let left = view.getUint32(base + TRACE_RING_HEADER_OFF.used, true);
    while (left > 0) {
      const len = this.recordLengthAt(data, pos, cap);
      if (len < 0) break;
      if (recordType(view, data + pos) !== TRACE_TYPE_PADDING) {
        try {
          out.push(decodeRecord(view, u8, data + pos, cpu));
        } catch {
          break;
        }
      }
      left -= len;
      pos = pos + len === cap ? 0 : pos + len;
    }
    return out;
  }

  /**
   * Every CPU's events merged by timestamp; equal timestamps keep CPU order,
   * then ring order.
   */
  merged(): TraceEvent[] {
    const all: TraceEvent[] = [];
    for (let cpu = 0; cpu < this.nrCpus; cpu++) all.push(...this.read(cpu));
    // Array.prototype.sort is stable, so ties stay in (cpu, ring) order.
    return all.sort((a, b) => a.ts - b.ts);
  }

  /** Events of `cpu` overwritten before being read out (ftrace's overrun). */
  lost(cpu: number): number {
    this.checkCpu(cpu);
    return this.readCounter(this.regions[cpu].start + TRACE_RING_HEADER_OFF.overrun);
  }

  /** Events now in `cpu`'s ring. */
  entries(cpu: number): number {
    this.checkCpu(cpu);
    return this.memory.view.getUint32(
      this.regions[cpu].start + TRACE_RING_HEADER_OFF.entries,
      true,
    );
  }

  /** Events written to `cpu`'s ring since the last clear: entries plus lost. */
  written(cpu: number): number {
    this.checkCpu(cpu);
    return this.readCounter(this.regions[cpu].start + TRACE_RING_HEADER_OFF.written);
  }

  /** Empties every ring and zeroes its counters. */
  clear(): void {
    for (const r of this.regions) this.memory.fill(r.start, traceRingHeader.size, 0);
  }

  private checkCpu(cpu: number): number {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.nrCpus) {
      throw new ErrnoError('EINVAL', `cpu ${cpu} has no trace ring: ${this.nrCpus} CPUs`);
    }
    return cpu;
  }

  /** Drops the record at the head of `cpu`'s ring, counting it lost unless padding. */
  private dropOldest(cpu: number): void {
    const view = this.memory.view;
    const base = this.regions[cpu].start;
    const data = base + TRACE_RING_DATA_OFFSET;
    const cap = this.capacity[cpu];
    const head = view.getUint32(base + TRACE_RING_HEADER_OFF.head, true);
    const len = this.recordLengthAt(data, head, cap);
    if (len < 0) {
      this.resetCorrupt(
        cpu,
        `record at offset ${head} has length ${recordLength(view, data + head)}`,
      );
      return;
    }
    view.setUint32(base + TRACE_RING_HEADER_OFF.head, head + len === cap ? 0 : head + len, true);
    view.setUint32(
      base + TRACE_RING_HEADER_OFF.used,
      view.getUint32(base + TRACE_RING_HEADER_OFF.used, true) - len,
      true,
    );
    if (recordType(view, data + head) !== TRACE_TYPE_PADDING) {
      view.setUint32(
        base + TRACE_RING_HEADER_OFF.entries,
        view.getUint32(base + TRACE_RING_HEADER_OFF.entries, true) - 1,
        true,
      );
      this.bumpCounter(base + TRACE_RING_HEADER_OFF.overrun);
    }
  }

  private writePadding(addr: number, len: number): void {
    const view = this.memory.view;
    view.setUint32(addr + TRACE_ENTRY_OFF.len, len, true);
    view.setUint16(addr + TRACE_ENTRY_OFF.type, TRACE_TYPE_PADDING, true);
  }

  /** A record's length, or -1 for one that could not have been written (corrupt memory). */
  private recordLengthAt(data: number, pos: number, cap: number): number {
    const len = recordLength(this.memory.view, data + pos);
    return len < 8 || len % 8 !== 0 || pos + len > cap ? -1 : len;
  }

  /** Adds 1 to the u64 counter at `addr` (as two u32 halves: no BigInt on the emit path). */
  private bumpCounter(addr: number): void {
    const view = this.memory.view;
    const lo = view.getUint32(addr, true) + 1;
    if (lo < 2 ** 32) {
      view.setUint32(addr, lo, true);
    } else {
      view.setUint32(addr, 0, true);
      view.setUint32(addr + 4, view.getUint32(addr + 4, true) + 1, true);
    }
  }

  private readCounter(addr: number): number {
    const view = this.memory.view;
    return view.getUint32(addr + 4, true) * 2 ** 32 + view.getUint32(addr, true);
  }
}

function checkRingSize(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < MIN_TRACE_BYTES_PER_CPU) {
    throw new ErrnoError(
      'EINVAL',
      `trace ring of ${bytes} bytes per CPU is below the minimum ${MIN_TRACE_BYTES_PER_CPU}`,
    );
  }
}
