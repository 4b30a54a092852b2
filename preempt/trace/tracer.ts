/**
 * The machine's tracer: per-CPU trace rings in emulated memory and the two
 * ways to print them. The machine calls `emit` at each tracepoint; a
 * scenario or the CLI asks for `toFtrace()` or `toChromeJson()` at the end.
 *
 * Tracing off costs one boolean test per tracepoint: guard the building of
 * the event with `if (tracer.enabled)` and `emit` itself returns at once
 * when disabled. Which events are recorded is chosen by group, as
 * trace-cmd's `-e` does (`select(['sched', 'percpu'])`); an opt-in
 * tracepoint (preemptirq, percpu) guards its event with `tracer.wants(type)`.
 *
 * @example
 * const tracer = new Tracer(memory, addressMap, 4, { bytesPerCpu: 64 * 1024 });
 * if (tracer.enabled) tracer.emit({ type: 'print', text: 'start', ts: 0, cpu: 0, pid: 1, comm: 'init', flags: NO_TRACE_FLAGS });
 * tracer.toFtrace(); // '# tracer: nop\n#\n...'
 */

import type { AddressMap } from '../../segments/address-map.ts';
import type { PhysicalMemory } from '../../segments/memory.ts';
import { formatChromeJson } from './chrome-format.ts';
import {
  DEFAULT_TRACE_EVENT_GROUPS,
  TRACE_EVENT_GROUPS,
  type TraceEvent,
  type TraceEventGroup,
  type TraceEventType,
} from './events.ts';
import { formatFtrace } from './ftrace-format.ts';
import { TRACE_TYPE } from './record.ts';
import { DEFAULT_TRACE_BYTES_PER_CPU, TraceRingBuffer } from './ring-buffer.ts';

export interface TracerOptions {
  /** Bytes of ring per CPU, its 64-byte header included. Default 256 KiB. */
  readonly bytesPerCpu?: number;
  /** Record events from the start. Default true. */
  readonly enabled?: boolean;
  /** The event groups to record. Default DEFAULT_TRACE_EVENT_GROUPS. */
  readonly events?: readonly TraceEventGroup[];
}

export class Tracer {
  /** When false, `emit` records nothing. The rings keep what they hold. */
  enabled: boolean;
  readonly nrCpus: number;
  /** The per-CPU rings, for callers that need counts or raw access. */
  readonly rings: TraceRingBuffer;
  /** Per record type number, 1 when its group is selected. */
  private readonly selected = new Uint8Array(64);
  private groups: readonly TraceEventGroup[] = [];

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
    this.select(options.events ?? DEFAULT_TRACE_EVENT_GROUPS);
  }

  /**
   * Records the events of `groups` from now on, and no others.
   *
   * @example
   * tracer.select(['sched', 'irq', 'percpu']);
   */
  select(groups: readonly TraceEventGroup[]): void {
    this.selected.fill(0);
    for (const g of groups)
      for (const type of TRACE_EVENT_GROUPS[g]) this.selected[TRACE_TYPE[type]] = 1;
    this.groups = [...groups];
  }

  /** The groups being recorded. */
  get selectedGroups(): readonly TraceEventGroup[] {
    return this.groups;
  }

  /** Whether an event of `type` would be recorded now. */
  wants(type: TraceEventType): boolean {
    return this.enabled && this.selected[TRACE_TYPE[type]] === 1;
  }

  /** Records `event` in its CPU's ring (overwriting the oldest when full), if enabled and selected. */
  emit(event: TraceEvent): void {
    if (!this.enabled || this.selected[TRACE_TYPE[event.type]] === 0) return;
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
