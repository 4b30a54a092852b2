/**
 * A perf buffer reader in libbpf's shape (`perf_buffer__new`, `__poll`,
 * `__consume`, `__consume_buffer`, `__free`), reading a PERF_EVENT_ARRAY's
 * per-CPU rings from the scenario side as a userspace process reads its
 * mmap'ed pages.
 *
 * `PerfBuffer.open(map, pageCnt, callbacks)` does what perf_buffer__new
 * does for each CPU i below min(nr_cpus, max_entries): open a
 * PERF_COUNT_SW_BPF_OUTPUT event on CPU i, mmap 1 + pageCnt pages (pageCnt
 * a power of two, else EINVAL), and store its fd in slot i. Reading a ring
 * is libbpf's perf_event_read_simple: data_head with an acquiring load,
 * then each record from data_tail (a record that wraps around the end is
 * copied out whole first), PERF_RECORD_SAMPLE to `sample(cpu, data, size)`
 * (`size` is the padded raw size, as libbpf passes it; `data` is valid
 * during the call only), PERF_RECORD_LOST to `lost(cpu, count)`, and
 * data_tail stored after the records were read. A record of another type,
 * or a header a stray store broke, stops the read with an error and
 * leaves data_tail before it.
 *
 * There is no epoll here: `poll` never blocks; it reads the rings that have
 * data, as `perf_buffer__poll` does once woken, and returns how many had.
 *
 * @example
 * const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'events', 4, 4, k.nrCpus);
 * const pb = PerfBuffer.open(events, 8, {
 *   sample: (cpu, data) => samples.push(data.slice()),
 *   lost: (cpu, n) => (lost += n),
 * });
 * runDeterministic(k, roundRobin());
 * pb.consume();
 * pb.free();
 */

import {
  PERF_RECORD_LOST,
  PERF_RECORD_SAMPLE,
  type PerfEvent,
  perfEventMmapPage,
} from '../preempt/perf-event.ts';
import { ErrnoError } from '../segments/errno.ts';
import { PAGE_SIZE } from '../segments/memory.ts';
import { PerfEventArrayMap } from './perf-event-array-map.ts';
import type { BpfMapHandle } from './syscall.ts';

const PAGE_OFF = perfEventMmapPage.off;

export interface PerfBufferCallbacks {
  /** sample_cb: a PERF_RECORD_SAMPLE's raw data, on the CPU whose ring it was in. */
  sample?: (cpu: number, data: Uint8Array, size: number) => void;
  /** lost_cb: a PERF_RECORD_LOST's count. */
  lost?: (cpu: number, lost: number) => void;
}

/** One CPU's ring: its event and the map slot it sits in. */
interface CpuBuf {
  readonly cpu: number;
  readonly mapKey: number;
  readonly event: PerfEvent;
}

export class PerfBuffer {
  private readonly i32: Int32Array;

  private constructor(
    private readonly map: BpfMapHandle,
    private readonly bufs: CpuBuf[],
    private readonly cb: PerfBufferCallbacks,
  ) {
    this.i32 = new Int32Array(map.m.memory.buffer);
  }

  /**
   * perf_buffer__new: one ring of `pageCnt` pages per CPU, each stored in
   * the map. EINVAL for a map that is not a PERF_EVENT_ARRAY or a page
   * count that is not a power of two; on any failure nothing is left open.
   */
  static open(map: BpfMapHandle, pageCnt: number, cb: PerfBufferCallbacks = {}): PerfBuffer {
    if (!(map.map instanceof PerfEventArrayMap)) {
      throw new ErrnoError('EINVAL', `${map.map.describe} is not BPF_MAP_TYPE_PERF_EVENT_ARRAY`);
    }
    if (!Number.isInteger(pageCnt) || pageCnt < 1 || (pageCnt & (pageCnt - 1)) !== 0) {
      throw new ErrnoError('EINVAL', `page count ${pageCnt} should be a power of two`);
    }
    const k = map.m;
    const cpus = Math.min(k.nrCpus, map.map.maxEntries);
    const bufs: CpuBuf[] = [];
    try {
      for (let cpu = 0; cpu < cpus; cpu++) {
        const event = k.perfEvents.open({ cpu });
        bufs.push({ cpu, mapKey: cpu, event });
        event.mmap(pageCnt);
        event.enable();
        map.updateElem(u32(cpu), u32(event.fd));
      }
    } catch (e) {
      new PerfBuffer(map, bufs, cb).free();
      throw e;
    }
    return new PerfBuffer(map, bufs, cb);
  }

  /** perf_buffer__buffer_cnt. */
  get bufferCnt(): number {
    return this.bufs.length;
  }

  /** perf_buffer__buffer_fd: ring `i`'s perf event fd. */
  bufferFd(i: number): number {
    return this.buf(i).event.fd;
  }

  /** The perf event behind ring `i` (its lost_samples, its mmap'ed page). */
  event(i: number): PerfEvent {
    return this.buf(i).event;
  }

  /**
   * perf_buffer__poll without the wait: reads every ring that has data;
   * returns how many had (0 when all were empty). `timeoutMs` is accepted
   * for the shape and ignored: host code cannot block here.
   */
  poll(_timeoutMs = 0): number {
    let ready = 0;
    for (let i = 0; i < this.bufs.length; i++) {
      if (this.hasData(this.bufs[i])) {
        ready++;
        this.consumeBuffer(i);
      }
    }
    return ready;
  }

  /** perf_buffer__consume: reads every ring; returns 0. */
  consume(): number {
    for (let i = 0; i < this.bufs.length; i++) this.consumeBuffer(i);
    return 0;
  }

  /** perf_buffer__consume_buffer: reads ring `i`; returns the records read. */
  consumeBuffer(i: number): number {
    const b = this.buf(i);
    const page = b.event.userPage;
    const mem = this.map.m.memory;
    const size = b.event.dataSize;
    const base = page + PAGE_SIZE;
    const head = this.loadPos(page + PAGE_OFF.data_head);
    let tail = this.loadPos(page + PAGE_OFF.data_tail);
    let n = 0;
    try {
      while (tail !== head) {
        const off = tail & (size - 1);
        const type = mem.read32(base + off);
        const recSize = mem.read16(base + off + 6);
        if (recSize < 8 || recSize % 8 !== 0 || recSize > head - tail) {
          throw new ErrnoError(
            'EUCLEAN',
            `perf buffer of CPU ${b.cpu}: record at position ${tail} has size ${recSize}`,
          );
        }
        const rec =
          off + recSize <= size
            ? mem.u8.subarray(base + off, base + off + recSize)
            : wrapped(mem.u8, base, size, off, recSize);
        this.dispatch(b.cpu, type, rec, tail);
        tail += recSize;
        n++;
      }
    } finally {
      this.storePos(page + PAGE_OFF.data_tail, tail);
    }
    return n;
  }

  /**
   * perf_buffer__free: every slot the buffer filled is emptied, every ring
   * unmapped and every event closed.
   */
  free(): void {
    const k = this.map.m;
    for (const b of this.bufs.splice(0)) {
      const map = this.map.map as PerfEventArrayMap;
      if (map.slot(b.mapKey) === b.event.addr) this.map.deleteElem(u32(b.mapKey));
      k.perfEvents.close(b.event.fd);
    }
  }

  private dispatch(cpu: number, type: number, rec: Uint8Array, pos: number): void {
    const v = new DataView(rec.buffer, rec.byteOffset, rec.length);
    if (type === PERF_RECORD_SAMPLE) {
      const size = v.getUint32(8, true);
      this.cb.sample?.(cpu, rec.subarray(12, 12 + size), size);
    } else if (type === PERF_RECORD_LOST) {
      this.cb.lost?.(cpu, Number(v.getBigUint64(16, true)));
    } else {
      throw new ErrnoError(
        'EINVAL',
        `perf buffer of CPU ${cpu}: unknown perf sample type ${type} at position ${pos}`,
      );
    }
  }

  private hasData(b: CpuBuf): boolean {
    const page = b.event.userPage;
    return this.loadPos(page + PAGE_OFF.data_head) !== this.loadPos(page + PAGE_OFF.data_tail);
  }

  private buf(i: number): CpuBuf {
    const b = this.bufs[i];
    if (b === undefined)
      throw new ErrnoError('EINVAL', `no ring #${i} (${this.bufs.length} rings)`);
    return b;
  }

  private loadPos(addr: number): number {
    const lo = Atomics.load(this.i32, addr >> 2) >>> 0;
    return (this.i32[(addr >> 2) + 1] >>> 0) * 0x1_0000_0000 + lo;
  }

  private storePos(addr: number, pos: number): void {
    this.i32[(addr >> 2) + 1] = Math.floor(pos / 0x1_0000_0000) | 0;
    Atomics.store(this.i32, addr >> 2, pos | 0);
  }
}

/** A record that runs past the end of the ring, copied out whole. */
function wrapped(u8: Uint8Array, base: number, size: number, off: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  const first = size - off;
  out.set(u8.subarray(base + off, base + size));
  out.set(u8.subarray(base, base + len - first), first);
  return out;
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}
