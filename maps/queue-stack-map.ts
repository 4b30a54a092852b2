/**
 * BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK (kernel/bpf/queue_stack_maps.c).
 *
 * Layout in emulated memory, one block from bpf_map_area_alloc (kmalloc
 * when small, vmalloc else, as the kernel's queue_stack_map_alloc):
 *
 *     struct bpf_queue_stack {
 *       struct bpf_map map; raw_spinlock_t lock;
 *       u32 head, tail; u32 size;           // size = max_entries + 1
 *       char elements[size * value_size];   // 8-aligned
 *     }
 *
 * A ring of `max_entries + 1` slots, one always empty so that `head ==
 * tail` means empty and `head + 1 == tail` (mod size) means full. A push
 * writes at `head` and advances it; a queue pops at `tail` (FIFO), a stack
 * at `head - 1` (LIFO). A push on a full map is E2BIG, unless BPF_EXIST,
 * which first advances `tail` over the oldest element to make room.
 *
 * Locking: every operation takes `lock` (raw_spin_lock_irqsave in the
 * kernel) for its whole run, so pushes and pops from programs on any CPU
 * and from userspace serialise on it; callers hold nothing.
 *
 * The map has no keys: key_size must be 0. From userspace, an update is a
 * push, a lookup a peek and lookup_and_delete a pop; delete and
 * get_next_key are EINVAL. From programs, bpf_map_push/pop/peek_elem (87-89)
 * do the work; bpf_map_lookup_elem returns NULL and bpf_map_update_elem and
 * bpf_map_delete_elem return -EINVAL, as the type's ops do (the kernel's
 * verifier refuses such programs before they run).
 *
 * @example
 * const q = bpfMapCreate(m, 'QUEUE', 'q', 0, 4, 32);
 * q.updateElem(null, u32b(7));        // push
 * q.lookupAndDeleteElem(null);        // pop: 7
 */

import { alignUp, struct, u32 } from '../segments/ctype.ts';
import { ERRNO, ErrnoError } from '../segments/errno.ts';
import { KMALLOC_MAX_SIZE } from '../segments/kmalloc.ts';
import { RawSpinlock, rawSpinlockType } from '../segments/raw-spinlock.ts';
import { BpfMap, type BpfMapAttr, bpfMapHeader } from './bpf-map.ts';
import {
  BPF_EXIST,
  BPF_F_ACCESS_MASK,
  BPF_F_NUMA_NODE,
  BPF_MAP_TYPE,
  BPF_NOEXIST,
} from './bpf-uapi.ts';
import { bpfMapAreaAlloc, bpfMapAreaFree } from './map-area.ts';
import type { MapMemory } from './map-memory.ts';

/** QUEUE_STACK_CREATE_FLAG_MASK. */
const CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK;

/** `struct bpf_queue_stack` up to `elements`. */
export const bpfQueueStack = struct('bpf_queue_stack', [
  ['map', bpfMapHeader],
  ['lock', rawSpinlockType],
  ['head', u32],
  ['tail', u32],
  ['size', u32],
]);
const BPF_QUEUE_STACK_OFF = bpfQueueStack.off;

const ELEMENTS_OFF = alignUp(bpfQueueStack.size, 8);

/** The CPU userspace commands take locks as (they run outside any CPU). */
const USER = -1;

export class QueueStackMap extends BpfMap {
  /** True for BPF_MAP_TYPE_STACK (LIFO), false for QUEUE (FIFO). */
  readonly stack: boolean;
  /** `max_entries + 1`: the slots of the ring. */
  readonly size: number;
  /** Address of `elements[0]`. */
  readonly elements: number;
  private readonly lock: RawSpinlock;

  /** queue_stack_map_alloc_check: EINVAL or E2BIG naming the attribute at fault. */
  static allocCheck(attr: BpfMapAttr): void {
    if (attr.maxEntries === 0) throw new ErrnoError('EINVAL', 'max_entries is 0');
    if (attr.keySize !== 0) {
      throw new ErrnoError('EINVAL', `key_size ${attr.keySize} of a queue or stack is not 0`);
    }
    if (attr.valueSize === 0) throw new ErrnoError('EINVAL', 'value_size is 0');
    if (attr.mapFlags & ~CREATE_FLAG_MASK) {
      throw new ErrnoError('EINVAL', `map_flags 0x${attr.mapFlags.toString(16)} not allowed here`);
    }
    if (attr.valueSize > KMALLOC_MAX_SIZE) {
      throw new ErrnoError(
        'E2BIG',
        `value_size ${attr.valueSize} is above KMALLOC_MAX_SIZE ${KMALLOC_MAX_SIZE}`,
      );
    }
  }

  /** queue_stack_map_alloc: the header and `max_entries + 1` slots, zeroed; ENOMEM if they do not fit. */
  static create(m: MapMemory, attr: BpfMapAttr, id: number): QueueStackMap {
    const slots = attr.maxEntries + 1;
    const bytes = ELEMENTS_OFF + slots * attr.valueSize;
    const addr = bpfMapAreaAlloc(m, bytes);
    if (addr === 0) {
      throw new ErrnoError(
        'ENOMEM',
        `no memory for ${slots} slots of ${attr.valueSize} bytes (${bytes} bytes)`,
      );
    }
    return new QueueStackMap(m, attr, id, addr);
  }

  private constructor(m: MapMemory, attr: BpfMapAttr, id: number, addr: number) {
    super(m, attr, id, addr, false);
    this.stack = attr.type === BPF_MAP_TYPE.STACK;
    this.size = attr.maxEntries + 1;
    this.elements = addr + ELEMENTS_OFF;
    this.writeHeader();
    this.lock = RawSpinlock.init(m.memory, addr + BPF_QUEUE_STACK_OFF.lock);
    m.memory.write32(addr + BPF_QUEUE_STACK_OFF.size, this.size);
  }

  /** Elements in the map now (read without the lock: a snapshot for scenarios and tests). */
  get count(): number {
    const head = this.m.memory.read32(this.addr + BPF_QUEUE_STACK_OFF.head);
    const tail = this.m.memory.read32(this.addr + BPF_QUEUE_STACK_OFF.tail);
    return head >= tail ? head - tail : head + this.size - tail;
  }

  // ---- the operations, under the lock -----------------------------------------------

  /**
   * queue_stack_map_push_elem's ring step: the slot at `head`, with `head`
   * advanced past it, or 0 when full and not `replace` (E2BIG). Caller holds
   * `lock` and fills the slot before dropping it.
   */
  private pushSlotLocked(replace: boolean): number {
    const mem = this.m.memory;
    const head = mem.read32(this.addr + BPF_QUEUE_STACK_OFF.head);
    let next = head + 1;
    if (next >= this.size) next = 0;
    const tail = mem.read32(this.addr + BPF_QUEUE_STACK_OFF.tail);
    if (next === tail) {
      if (!replace) return 0;
      mem.write32(this.addr + BPF_QUEUE_STACK_OFF.tail, tail + 1 >= this.size ? 0 : tail + 1);
    }
    mem.write32(this.addr + BPF_QUEUE_STACK_OFF.head, next);
    return this.slot(head);
  }

  /**
   * __queue_map_get / __stack_map_get: the address of the element a pop
   * would take, removing it unless `peek`; 0 when empty. Caller holds `lock`
   * and copies the value out before dropping it.
   */
  private getLocked(peek: boolean): number {
    const mem = this.m.memory;
    const head = mem.read32(this.addr + BPF_QUEUE_STACK_OFF.head);
    const tail = mem.read32(this.addr + BPF_QUEUE_STACK_OFF.tail);
    if (head === tail) return 0;
    if (this.stack) {
      const index = head === 0 ? this.size - 1 : head - 1;
      if (!peek) mem.write32(this.addr + BPF_QUEUE_STACK_OFF.head, index);
      return this.slot(index);
    }
    if (!peek)
      mem.write32(this.addr + BPF_QUEUE_STACK_OFF.tail, tail + 1 >= this.size ? 0 : tail + 1);
    return this.slot(tail);
  }

  private slot(index: number): number {
    return this.elements + index * this.valueSize;
  }

  /** The push flags: BPF_ANY or BPF_EXIST (make room); anything else is -EINVAL. */
  private static pushFlagsOk(flags: number): boolean {
    return (flags & BPF_NOEXIST) === 0 && flags <= BPF_EXIST;
  }

  // ---- program side ---------------------------------------------------------------

  override pushElem(valueAddr: number, flags: number, cpu: number): number {
    if (!QueueStackMap.pushFlagsOk(flags)) return -ERRNO.EINVAL;
    const mem = this.m.memory;
    mem.check(valueAddr, this.valueSize, 'read');
    this.lock.lock(cpu);
    try {
      const dst = this.pushSlotLocked((flags & BPF_EXIST) !== 0);
      if (dst === 0) return -ERRNO.E2BIG;
      mem.u8.copyWithin(dst, valueAddr, valueAddr + this.valueSize);
      return 0;
    } finally {
      this.lock.unlock(cpu);
    }
  }

  override popElem(valueAddr: number, peek: boolean, cpu: number): number {
    const mem = this.m.memory;
    mem.check(valueAddr, this.valueSize, 'write');
    this.lock.lock(cpu);
    try {
      const from = this.getLocked(peek);
      if (from === 0) {
        mem.u8.fill(0, valueAddr, valueAddr + this.valueSize);
        return -ERRNO.ENOENT;
      }
      mem.u8.copyWithin(valueAddr, from, from + this.valueSize);
      return 0;
    } finally {
      this.lock.unlock(cpu);
    }
  }

  override lookupElem(_keyAddr: number, _cpu: number): number {
    return 0;
  }

  override updateElem(_keyAddr: number, _valueAddr: number, _flags: number, _cpu: number): number {
    return -ERRNO.EINVAL;
  }

  override deleteElem(_keyAddr: number, _cpu: number): number {
    return -ERRNO.EINVAL;
  }

  // ---- syscall side -----------------------------------------------------------------

  /** BPF_MAP_UPDATE_ELEM: a push (bpf_map_update_value calls map_push_elem). */
  override sysUpdate(_key: Uint8Array, value: Uint8Array, flags: number): void {
    if (!QueueStackMap.pushFlagsOk(flags)) {
      throw new ErrnoError(
        'EINVAL',
        `push flags 0x${flags.toString(16)} on ${this.describe} (BPF_ANY or BPF_EXIST only)`,
      );
    }
    const mem = this.m.memory;
    this.lock.lock(USER);
    let dst: number;
    try {
      dst = this.pushSlotLocked((flags & BPF_EXIST) !== 0);
      if (dst !== 0) mem.u8.set(value.subarray(0, this.valueSize), dst);
    } finally {
      this.lock.unlock(USER);
    }
    if (dst === 0) {
      throw new ErrnoError(
        'E2BIG',
        `${this.describe} is full (${this.maxEntries} elements); BPF_EXIST would replace the oldest`,
      );
    }
  }

  /** BPF_MAP_LOOKUP_ELEM: a peek (bpf_map_copy_value calls map_peek_elem). */
  override sysLookup(_key: Uint8Array, value: Uint8Array, _flags: number): void {
    this.sysGet(value, true);
  }

  /** BPF_MAP_LOOKUP_AND_DELETE_ELEM: a pop. */
  override sysLookupAndDelete(_key: Uint8Array | null, value: Uint8Array, _flags: number): void {
    this.sysGet(value, false);
  }

  private sysGet(value: Uint8Array, peek: boolean): void {
    const mem = this.m.memory;
    this.lock.lock(USER);
    let found: boolean;
    try {
      const from = this.getLocked(peek);
      found = from !== 0;
      if (found) value.set(mem.u8.subarray(from, from + this.valueSize));
    } finally {
      this.lock.unlock(USER);
    }
    if (!found) throw new ErrnoError('ENOENT', `${this.describe} is empty`);
  }

  override sysDelete(_key: Uint8Array): void {
    throw new ErrnoError('EINVAL', `elements of ${this.describe} cannot be deleted by key`);
  }

  override sysGetNextKey(_key: Uint8Array | null, _next: Uint8Array): void {
    throw new ErrnoError('EINVAL', `${this.describe} has no keys to walk`);
  }

  override free(): void {
    bpfMapAreaFree(this.m, this.addr);
  }
}
