/**
 * The machine's tracer: per-CPU trace rings in emulated memory and the two
 * ways to print them. The machine calls `emit` at each tracepoint; a
 * scenario or the CLI asks for `toFtrace()` or `toChromeJson()` at the end.
 *
 * Tracing off costs one boolean test per tracepoint: guard the building of
 * the event with `if (tracer.enabled)` and `emit` itself returns at once
 * when disabled.
 *
 * @example
 * const tracer = new Tracer(memory, addressMap, 4, { bytesPerCpu: 64 * 1024 });
 * if (tracer.enabled) tracer.emit({ type: 'print', text: 'start', ts: 0, cpu: 0, pid: 1, comm: 'init', flags: NO_TRACE_FLAGS });
 * tracer.toFtrace(); // '# tracer: nop\n#\n...'
 */

import type { AddressMap } from '../../segments/address-map.ts';
import type { PhysicalMemory } from '../../segments/memory.ts';
import { formatChromeJson } from './chrome-format.ts';
import type { TraceEvent } from './events.ts';
import { formatFtrace } from './ftrace-format.ts';
import { DEFAULT_TRACE_BYTES_PER_CPU, TraceRingBuffer } from './ring-buffer.ts';

export interface TracerOptions {
  /** Bytes of ring per CPU, its 64-byte header included. Default 256 KiB. */
  readonly bytesPerCpu?: number;
  /** Record events from the start. Default true. */
  readonly enabled?: boolean;
}

export class Tracer {
  /** When false, `emit` records nothing. The rings keep what they hold. */
  enabled: boolean;
  readonly nrCpus: number;
  /** The per-CPU rings, for callers that need counts or raw access. */
  readonly rings: TraceRingBuffer;

  /**
   * Reserves `nrCpus` rings of `bytesPerCpu` from `addressMap` (named
   * `trace ring cpuN`), whether or not tracing starts enabled, so the
   * memory layout does not depend on it.
   */
  constructor(
    memory: PhysicalMemory,
    addressMap: AddressMap,
    nrCpus: number,
    options: TracerOptions = {},
  ) {
    this.rings = TraceRingBuffer.reserve(
      memory,
      addressMap,
      nrCpus,
      options.bytesPerCpu ?? DEFAULT_TRACE_BYTES_PER_CPU,
    );
    this.nrCpus = nrCpus;
    this.enabled = options.enabled ?? true;
  }

  /** Records `event` in its CPU's ring (overwriting the oldest when full), if enabled. */
  emit(event: TraceEvent): void {
    if (!this.enabled) return;
    this.rings.emit(event);
  }

  /** Every CPU's recorded events merged by timestamp (ties: CPU, then ring order). */
  events(): TraceEvent[] {
    return this.rings.merged();
  }

  /** `cpu`'s recorded events, oldest first. */
  read(cpu: number): TraceEvent[] {
    return this.rings.read(cpu);
  }

  /** Events of `cpu` overwritten because its ring was full. */
  lost(cpu: number): number {
    return this.rings.lost(cpu);
  }

  /** Empties every ring and zeroes the lost counts. */
  clear(): void {
    this.rings.clear();
  }

  /** The trace as /sys/kernel/tracing/trace text (see ftrace-format.ts). */
  toFtrace(): string {
    let entries = 0;
    let written = 0;
    for (let cpu = 0; cpu < this.nrCpus; cpu++) {
      entries += this.rings.entries(cpu);
      written += this.rings.written(cpu);
    }
    return formatFtrace(this.events(), { nrCpus: this.nrCpus, entries, written });
  }

  /** The trace as Chrome trace JSON (see chrome-format.ts). */
  toChromeJson(): string {
    const lost = Array.from({ length: this.nrCpus }, (_, cpu) => this.rings.lost(cpu));
    return formatChromeJson(this.events(), { nrCpus: this.nrCpus, lost });
  }
}
