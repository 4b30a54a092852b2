/**
 * `struct ptr_ring` (include/linux/ptr_ring.h) in emulated memory: a
 * fixed array of `size` pointer slots, a NULL slot meaning free. The
 * producer writes at `producer` if that slot is NULL (else the ring is
 * full, -ENOSPC); the consumer reads at `consumer_head` and zeroes the
 * slots it consumed lazily, a batch at a time (`batch` = 2 cache lines of
 * pointers, 16, or 1 when that exceeds size / 2), so right after a
 * consume the producer can still find its next slot taken and see the
 * ring full. This is the kernel's behaviour and cpumap's drops show it.
 *
 * Layout: `{ u32 producer, consumer_head, consumer_tail, size, batch, pad;
 * u64 queue }`, then the queue of `size` u64 slots (emulated addresses fit
 * in the low word).
 *
 * Context: the producer side under the ring's producer lock (one CPU's
 * flush at a time; a step of the deterministic engine), the consumer side
 * by the entry's kthread alone.
 *
 * @example
 * const r = PtrRing.create(k, 4);
 * r.produce(frame); // 0, or -ENOSPC
 * r.consume();      // the oldest frame, or 0
 */

import { ERRNO, ErrnoError } from '../segments/errno.ts';
import type { KernelHeap } from '../segments/kmalloc.ts';
import type { PhysicalMemory } from '../segments/memory.ts';

const PRODUCER = 0;
const CONSUMER_HEAD = 4;
const CONSUMER_TAIL = 8;
const SIZE = 12;
const BATCH = 16;
const QUEUE = 24;
const HEADER = 32;
/** SMP_CACHE_BYTES * 2 / sizeof(void *). */
const PTR_RING_BATCH = (64 * 2) / 8;

export interface RingHost {
  readonly memory: PhysicalMemory;
  readonly kheap: KernelHeap;
}

export class PtrRing {
  private constructor(
    private readonly m: PhysicalMemory,
    /** Address of the struct ptr_ring. */
    readonly addr: number,
    private readonly queue: number,
    readonly size: number,
  ) {}

  /** ptr_ring_init(): a ring of `size` slots; ENOMEM when kmalloc has no room. */
  static create(k: RingHost, size: number): PtrRing {
    const addr = k.kheap.kzalloc(HEADER);
    const queue = addr === 0 ? 0 : k.kheap.kzalloc(Math.max(size, 1) * 8);
    if (addr === 0 || queue === 0) {
      if (addr !== 0) k.kheap.kfree(addr);
      throw new ErrnoError('ENOMEM', `no memory for a ptr_ring of ${size} slots`);
    }
    const m = k.memory;
    m.write32(addr + SIZE, size);
    const batch = PTR_RING_BATCH > size / 2 ? 1 : PTR_RING_BATCH;
    m.write32(addr + BATCH, batch);
    m.write32(addr + QUEUE, queue);
    return new PtrRing(m, addr, queue, size);
  }

  /** __ptr_ring_produce(): 0, or -ENOSPC when the slot at producer is not yet NULL. */
  produce(ptr: number): number {
    const m = this.m;
    const producer = m.read32(this.addr + PRODUCER);
    const slot = this.queue + producer * 8;
    if (this.size === 0 || m.read32(slot) !== 0) return -ERRNO.ENOSPC;
    m.write32(slot, ptr);
    m.write32(this.addr + PRODUCER, producer + 1 >= this.size ? 0 : producer + 1);
    return 0;
  }

  /** __ptr_ring_empty(). */
  empty(): boolean {
    if (this.size === 0) return true;
    return this.m.read32(this.queue + this.m.read32(this.addr + CONSUMER_HEAD) * 8) === 0;
  }

  /** __ptr_ring_consume(): the pointer at consumer_head, or 0 when empty. */
  consume(): number {
    if (this.size === 0) return 0;
    const m = this.m;
    const head = m.read32(this.addr + CONSUMER_HEAD);
    const ptr = m.read32(this.queue + head * 8);
    if (ptr !== 0) this.discardOne(head);
    return ptr;
  }

  /** __ptr_ring_consume_batched(): up to `n` pointers into `out`; returns how many. */
  consumeBatched(out: number[], n: number): number {
    let i = 0;
    for (; i < n; i++) {
      const ptr = this.consume();
      if (ptr === 0) break;
      out[i] = ptr;
    }
    return i;
  }

  /** __ptr_ring_discard_one(): advance the head; zero the consumed batch once it is whole. */
  private discardOne(head: number): void {
    const m = this.m;
    const tail = m.read32(this.addr + CONSUMER_TAIL);
    let consumerHead = head + 1;
    if (consumerHead - tail >= m.read32(this.addr + BATCH) || consumerHead >= this.size) {
      // Zero in reverse, so the producer never overtakes the consumer.
      for (let h = head; h >= tail; h--) m.write32(this.queue + h * 8, 0);
      m.write32(this.addr + CONSUMER_TAIL, consumerHead);
    }
    if (consumerHead >= this.size) {
      consumerHead = 0;
      m.write32(this.addr + CONSUMER_TAIL, 0);
    }
    m.write32(this.addr + CONSUMER_HEAD, consumerHead);
  }

  /** Pointers in the ring (not yet consumed). */
  count(): number {
    let n = 0;
    const m = this.m;
    const head = m.read32(this.addr + CONSUMER_HEAD);
    for (let i = 0; i < this.size; i++) {
      const at = (head + i) % this.size;
      if (m.read32(this.queue + at * 8) === 0) break;
      // Consumed slots awaiting their lazy zeroing sit behind the head, not ahead of it.
      n++;
    }
    return n;
  }

  /** ptr_ring_cleanup(): hands every pointer left to `destroy`, frees the ring. */
  free(k: RingHost, destroy: (ptr: number) => void): void {
    for (let p = this.consume(); p !== 0; p = this.consume()) destroy(p);
    k.kheap.kfree(this.queue);
    k.kheap.kfree(this.addr);
  }
}
