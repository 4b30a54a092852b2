/**
 * BPF_MAP_TYPE_PERF_EVENT_ARRAY (kernel/bpf/arraymap.c's perf event fd
 * array) and `bpf_perf_event_output` (helper 25, kernel/trace/bpf_trace.c).
 *
 * Layout in emulated memory, one block from bpf_map_area_alloc:
 *
 *     struct bpf_array { struct bpf_map map; u32 elem_size; u32 pad; u32 ptrs[]; }
 *
 * where `ptrs[i]` is the address of the `struct perf_event` in slot i
 * (preempt/perf-event.ts), 0 for an empty slot. Usually slot i holds an
 * event counting on CPU i: one perf ring buffer per CPU, which userspace
 * reads with a perf buffer (maps/perf-buffer.ts).
 *
 * From userspace, as fd_array_map_alloc_check and the fd array ops: key and
 * value u32 (EINVAL otherwise, and for BPF_F_RDONLY_PROG/WRONLY_PROG); an
 * update stores the event behind a perf event fd (BPF_ANY only, else
 * EINVAL; E2BIG past max_entries; EBADF for an fd that is no perf event);
 * lookup is ENOTSUPP (the type has no map_fd_sys_lookup_elem); delete
 * empties a slot (ENOENT when empty already).
 *
 * `bpf_perf_event_output(ctx, map, flags, data, size)`, in
 * __bpf_perf_event_output's order: flags beyond BPF_F_INDEX_MASK are
 * -EINVAL; the index is the flags' low 32 bits, BPF_F_CURRENT_CPU meaning
 * this CPU; an index >= max_entries is -E2BIG; an empty slot -ENOENT; an
 * event that is not PERF_COUNT_SW_BPF_OUTPUT -EINVAL; an event counting on
 * another CPU (or disabled) -EOPNOTSUPP; then perf_event_output (0, or
 * -ENOSPC with the sample counted as lost).
 *
 * @example
 * const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'events', 4, 4, k.nrCpus);
 * const pb = PerfBuffer.open(events, 8, { sample: (cpu, data) => seen.push(data.slice()) });
 */

import type { Kernel } from '../preempt/kernel.ts';
import type { PerfEventTable } from '../preempt/perf-event.ts';
import { alignUp } from '../segments/ctype.ts';
import { ERRNO, ErrnoError } from '../segments/errno.ts';
import { BpfMap, type BpfMapAttr, bpfMapHeader } from './bpf-map.ts';
import {
  BPF_ANY,
  BPF_F_ACCESS_MASK,
  BPF_F_NUMA_NODE,
  BPF_F_PRESERVE_ELEMS,
  BPF_F_RDONLY_PROG,
  BPF_F_WRONLY_PROG,
} from './bpf-uapi.ts';
import { bpfMapAreaAlloc, bpfMapAreaFree } from './map-area.ts';

/** BPF_F_INDEX_MASK and BPF_F_CURRENT_CPU: the flags' index part, and "this CPU". */
export const BPF_F_INDEX_MASK = 0xffffffff;
export const BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK;

const PTRS_OFF = alignUp(bpfMapHeader.size + 8, 8);

export class PerfEventArrayMap extends BpfMap {
  /** Address of `ptrs[0]`. */
  readonly ptrs: number;

  /** fd_array_map_alloc_check then array_map_alloc_check. */
  static allocCheck(attr: BpfMapAttr): void {
    if (attr.valueSize !== 4) {
      throw new ErrnoError('EINVAL', `value_size ${attr.valueSize} of a perf event array is not 4`);
    }
    if (attr.mapFlags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) {
      throw new ErrnoError(
        'EINVAL',
        'a perf event array takes no BPF_F_RDONLY_PROG/BPF_F_WRONLY_PROG',
      );
    }
    if (attr.maxEntries === 0) throw new ErrnoError('EINVAL', 'max_entries is 0');
    if (attr.keySize !== 4) {
      throw new ErrnoError('EINVAL', `key_size ${attr.keySize} of an array is not 4`);
    }
    if (attr.mapFlags & ~(BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS)) {
      throw new ErrnoError('EINVAL', `map_flags 0x${attr.mapFlags.toString(16)} not allowed here`);
    }
  }

  /** The array of empty slots; ENOMEM when it does not fit. */
  static create(k: Kernel, attr: BpfMapAttr, id: number): PerfEventArrayMap {
    const addr = bpfMapAreaAlloc(k, PTRS_OFF + 4 * attr.maxEntries);
    if (addr === 0) throw new ErrnoError('ENOMEM', `no memory for ${attr.maxEntries} slots`);
    return new PerfEventArrayMap(k, attr, id, addr, k.perfEvents);
  }

  private constructor(
    m: Kernel,
    attr: BpfMapAttr,
    id: number,
    addr: number,
    private readonly events: PerfEventTable,
  ) {
    super(m, attr, id, addr, false);
    this.ptrs = addr + PTRS_OFF;
    this.writeHeader();
    m.memory.write32(addr + bpfMapHeader.size, 4);
  }

  /** The `struct perf_event` address in slot `index`, 0 when empty. */
  slot(index: number): number {
    return this.m.memory.read32(this.ptrs + 4 * index);
  }

  /**
   * bpf_perf_event_output on CPU `cpu`, flags split into their 32-bit
   * halves: 0 or a negative errno (see the top comment).
   */
  output(flagsLo: number, flagsHi: number, data: number, size: number, cpu: number): number {
    if (flagsHi !== 0) return -ERRNO.EINVAL;
    const index = flagsLo === BPF_F_CURRENT_CPU ? cpu : flagsLo;
    if (index >= this.maxEntries) return -ERRNO.E2BIG;
    const addr = this.slot(index);
    if (addr === 0) return -ERRNO.ENOENT;
    const ev = this.events.at(addr);
    if (ev === undefined) {
      throw new ErrnoError(
        'EFAULT',
        `${this.describe} slot ${index} holds 0x${addr.toString(16)}, which is no open perf event`,
      );
    }
    if (!this.events.isBpfOutput(addr)) return -ERRNO.EINVAL;
    if (this.events.onCpu(addr) !== cpu) return -ERRNO.EOPNOTSUPP;
    return ev.output(data, size);
  }

  // ---- syscall side -----------------------------------------------------------------

  override sysLookup(): void {
    throw new ErrnoError('ENOTSUPP', `lookup is not supported by ${this.describe}`);
  }

  override sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): void {
    if (flags !== BPF_ANY) {
      throw new ErrnoError(
        'EINVAL',
        `flags 0x${flags.toString(16)} on ${this.describe}: only BPF_ANY`,
      );
    }
    const index = u32At(key);
    if (index >= this.maxEntries) {
      throw new ErrnoError('E2BIG', `index ${index} >= max_entries ${this.maxEntries}`);
    }
    const ev = this.events.get(new DataView(value.buffer, value.byteOffset).getInt32(0, true));
    this.m.memory.write32(this.ptrs + 4 * index, ev.addr);
  }

  override sysDelete(key: Uint8Array): void {
    const index = u32At(key);
    if (index >= this.maxEntries) {
      throw new ErrnoError('E2BIG', `index ${index} >= max_entries ${this.maxEntries}`);
    }
    if (this.slot(index) === 0) {
      throw new ErrnoError('ENOENT', `slot ${index} of ${this.describe} is empty`);
    }
    this.m.memory.write32(this.ptrs + 4 * index, 0);
  }

  override sysGetNextKey(key: Uint8Array | null, next: Uint8Array): void {
    const index = key === null ? 0xffffffff : u32At(key);
    if (index === this.maxEntries - 1) {
      throw new ErrnoError('ENOENT', `index ${index} is the last of ${this.describe}`);
    }
    new DataView(next.buffer, next.byteOffset).setUint32(
      0,
      index >= this.maxEntries ? 0 : index + 1,
      true,
    );
  }

  override free(): void {
    bpfMapAreaFree(this.m, this.addr);
  }
}

const u32At = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset).getUint32(0, true);
