/**
 * The consumer of a BPF ring buffer, in libbpf's ring_buffer shape
 * (tools/lib/bpf/ringbuf.c ringbuf_process_ring): the scenario reads the
 * records programs submitted, in order, straight from emulated memory.
 *
 * From consumer_pos up to producer_pos, record by record: a header whose
 * BUSY bit is set stops the walk (that producer has not committed yet, and
 * records after it wait for it); a discarded record is passed over; any
 * other is handed to the callback as a view of its sample, valid during the
 * call. consumer_pos advances past each record handled, so the producers
 * see the room at once. The walk re-reads producer_pos until no new record
 * appears, as libbpf does.
 *
 * There is one consumer per ring (the caller's business, as in libbpf); it
 * writes only consumer_pos.
 *
 * @example
 * const events = bpfMapCreate(m, 'RINGBUF', 'events', 0, 0, 4096);
 * // ... programs reserve and submit ...
 * const n = ringBufferConsume(events, (sample) => {
 *   console.log(sample.length, sample[0]);
 * });
 */

import { ErrnoError } from '../segments/errno.ts';
import { bpfMapOf } from './map-table.ts';
import {
  BPF_RINGBUF_BUSY_BIT,
  BPF_RINGBUF_DISCARD_BIT,
  BPF_RINGBUF_HDR_SZ,
  RingbufMap,
} from './ringbuf-map.ts';
import type { BpfMapHandle } from './syscall.ts';

/**
 * libbpf's ring_buffer_sample_fn: called with a record's sample (a view of
 * emulated memory, `sample.length` bytes). A negative number returned stops
 * the walk, and ringBufferConsume returns it; any other return goes on.
 */
export type RingBufferSampleFn = (sample: Uint8Array) => unknown;

/**
 * ring_buffer__consume (ring_buffer__consume_n with `max`): hands every
 * committed record to `cb` in order and advances consumer_pos past them.
 * Returns how many samples `cb` saw, or the negative value `cb` returned.
 * EBADF for a closed fd, EINVAL for a map that is not a ring buffer.
 *
 * @example
 * const seen: number[] = [];
 * ringBufferConsume(events, (s) => { seen.push(s[0]); });
 */
export function ringBufferConsume(
  handle: BpfMapHandle,
  cb: RingBufferSampleFn,
  max = Number.POSITIVE_INFINITY,
): number {
  const map = ringbufOf(handle);
  const mem = handle.m.memory;
  let consPos = map.consumerPos;
  let count = 0;
  let gotNew: boolean;
  do {
    gotNew = false;
    const prodPos = map.producerPos;
    while (consPos < prodPos) {
      const hdr = map.addrOf(consPos);
      const len = mem.read32(hdr);
      if (len & BPF_RINGBUF_BUSY_BIT) return count;
      gotNew = true;
      const size = len & ~BPF_RINGBUF_DISCARD_BIT;
      consPos += Math.ceil((size + BPF_RINGBUF_HDR_SZ) / 8) * 8;
      if ((len & BPF_RINGBUF_DISCARD_BIT) === 0) {
        const sample = hdr + BPF_RINGBUF_HDR_SZ;
        const err = cb(mem.u8.subarray(sample, sample + size));
        if (typeof err === 'number' && err < 0) {
          map.consumerPos = consPos;
          return err;
        }
        count++;
      }
      map.consumerPos = consPos;
      if (count >= max) return count;
    }
  } while (gotNew);
  return count;
}

/**
 * ring__avail_data_size: bytes between consumer_pos and producer_pos
 * (records committed, busy or discarded alike).
 *
 * @example
 * ringBufferAvailData(events); // 0 when the consumer has caught up
 */
export function ringBufferAvailData(handle: BpfMapHandle): number {
  const map = ringbufOf(handle);
  return map.producerPos - map.consumerPos;
}

/** The ring behind the handle's fd: EBADF once closed, EINVAL for another map type. */
function ringbufOf(handle: BpfMapHandle): RingbufMap {
  const map = bpfMapOf(handle.m, handle.fd);
  if (!(map instanceof RingbufMap)) {
    throw new ErrnoError('EINVAL', `${map.describe} is not a ring buffer`);
  }
  return map;
}
