/**
 * The chunk slots (pcpu_chunk_lists in mm/percpu.c): an array of list heads
 * in emulated memory, each a circular doubly linked list threaded through
 * the chunks' `list` fields. A chunk sits in the slot of its largest free
 * area, so an allocation looks only at chunks that might hold it, starting
 * with the fullest.
 *
 *     slot 0                        no free area, or sidelined after failed fits
 *     1 .. size_to_slot(unit)       largest free area of 1-15 bytes (1), 16-31 (2),
 *                                   32-63 (3), then one slot per power of two
 *     sidelined_slot                isolated chunks, already depopulated
 *     free_slot                     wholly free chunks
 *     to_depopulate_slot            isolated chunks waiting for the balance worker
 *
 * `__pcpu_size_to_slot(size) = max(fls(size) - PCPU_SLOT_BASE_SHIFT + 2, 1)`,
 * and a size equal to the unit size maps to free_slot. (The kernel's comment
 * on PCPU_SLOT_BASE_SHIFT says 1-31 bytes share a slot; by this formula
 * 16-31 bytes are slot 2.)
 *
 * Relocation: after an allocation or a free, a chunk moves to the slot of
 * its new largest free area: to the front of that list when it grew (its
 * new space is most useful), to the back when it shrank. The reserved chunk
 * is on no list; an isolated chunk stays where the balance worker put it.
 *
 * Failed fits: a chunk in a slot below PCPU_SLOT_FAIL_THRESHOLD (3), so with
 * less than 32 contiguous free bytes, that cannot place a request it was
 * searched for is moved to slot 0, which allocations never search; it comes
 * back when a free changes the slot its largest free area belongs in.
 *
 * Isolation: a chunk with many empty populated pages while others have
 * enough is isolated to the to_depopulate list, so its empty pages no longer
 * count towards pcpu_nr_empty_pop_pages; the balance worker depopulates it
 * and sidelines it, or reintegrates it when the count runs low.
 *
 * Locking: all of it under pcpu_lock.
 *
 * @example
 * const slots = new ChunkSlots(chunks, listsAddr, unitSize);
 * slots.init();
 * slots.relocate(chunk, -1);     // a new chunk, into the slot of its free area
 * slots.first(slots.freeSlot);   // the first wholly free chunk, or 0
 */

import { ListRegion, listHeadType } from '../segments/list.ts';
import { type Chunks, PCPU_MIN_ALLOC_SIZE, pcpuChunk } from './chunk.ts';

const PCPU_CHUNK_W = pcpuChunk.word;

/** Sizes below 2^(PCPU_SLOT_BASE_SHIFT - 1) bytes share slot 1. */
export const PCPU_SLOT_BASE_SHIFT = 5;
/** Chunks in slots below this are sidelined to slot 0 when a fit fails. */
export const PCPU_SLOT_FAIL_THRESHOLD = 3;

const fls = (x: number): number => 32 - Math.clz32(x);

/**
 * __pcpu_size_to_slot: the slot of a largest free area of `size` bytes.
 *
 * @example
 * sizeToSlotRaw(15);  // 1
 * sizeToSlotRaw(31);  // 2
 * sizeToSlotRaw(512); // 7
 */
export const sizeToSlotRaw = (size: number): number =>
  Math.max(fls(size) - PCPU_SLOT_BASE_SHIFT + 2, 1);

/** pcpu_nr_slots for a unit size: the size slots plus sidelined, free and to_depopulate. */
export const nrSlotsFor = (unitSize: number): number => sizeToSlotRaw(unitSize) + 4;

/** The byte offset of a chunk's list node in its header. */
const LIST_OFFSET = PCPU_CHUNK_W.list << 2;
// Hot-path constants, module-local (segments/ctype.ts, "Module-local constants").
const LIST_HEAD_SIZE = listHeadType.size;
const MIN_ALLOC = PCPU_MIN_ALLOC_SIZE;

export class ChunkSlots {
  readonly sidelinedSlot: number;
  readonly freeSlot: number;
  readonly toDepopulateSlot: number;
  readonly nrSlots: number;
  private readonly m: Int32Array;
  /** The chunks' list nodes: chunk headers may be anywhere in memory. */
  private readonly lists: ListRegion;

  constructor(
    readonly chunks: Chunks,
    /** Address of the array of nrSlots list heads. */
    readonly listsAddr: number,
    readonly unitSize: number,
  ) {
    this.m = chunks.m;
    const memory = chunks.memory;
    this.lists = new ListRegion(memory, {
      name: 'pcpu_chunk_lists',
      start: memory.lowLimit,
      end: memory.size,
      entrySize: pcpuChunk.size,
      member: LIST_OFFSET,
    });
    this.sidelinedSlot = sizeToSlotRaw(unitSize) + 1;
    this.freeSlot = this.sidelinedSlot + 1;
    this.toDepopulateSlot = this.freeSlot + 1;
    this.nrSlots = this.toDepopulateSlot + 1;
  }

  /** Bytes of list heads. */
  static bytes(unitSize: number): number {
    return nrSlotsFor(unitSize) * LIST_HEAD_SIZE;
  }

  /** INIT_LIST_HEAD on every slot. Boot only. */
  init(): void {
    for (let slot = 0; slot < this.nrSlots; slot++) this.lists.init(this.head(slot));
  }

  /** pcpu_size_to_slot: a unit-sized area means a wholly free chunk. */
  sizeToSlot(size: number): number {
    return size === this.unitSize ? this.freeSlot : sizeToSlotRaw(size);
  }

  /** pcpu_chunk_slot: the slot a chunk belongs in by its largest free area. */
  chunkSlot(c: number): number {
    const contig = this.chunks.contigHint(c);
    if (this.chunks.freeBytes(c) < MIN_ALLOC || contig === 0) return 0;
    return this.sizeToSlot(contig * MIN_ALLOC);
  }

  /** Address of slot `slot`'s list head. */
  head(slot: number): number {
    return this.listsAddr + slot * LIST_HEAD_SIZE;
  }

  /** The first chunk on slot `slot`, or 0. */
  first(slot: number): number {
    return this.lists.first(this.head(slot));
  }

  /**
   * The bound of a walk over slot `slot`: ListCorrupted once it has visited
   * more chunks than exist (a cycle a stray store made), as list.ts's walks.
   */
  bound(visited: number, slot: number): void {
    this.lists.bound(visited, this.head(slot));
  }

  /** The chunk after `c` on slot `slot`, or 0. */
  next(c: number, slot: number): number {
    const h = this.head(slot);
    const next = this.lists.next(c, h);
    return next === h ? 0 : next;
  }

  /** list_del_init of the chunk's node. */
  del(c: number): void {
    this.lists.delInit(c);
  }

  /** list_move / list_move_tail of the chunk's node onto slot `slot`. */
  private moveTo(c: number, slot: number, front: boolean): void {
    if (front) this.lists.move(c, this.head(slot));
    else this.lists.moveTail(c, this.head(slot));
  }

  /** __pcpu_chunk_move: moves `c` onto slot `slot` (never the reserved chunk). */
  move(c: number, slot: number, front: boolean): void {
    if (!this.chunks.isReserved(c)) this.moveTo(c, slot, front);
  }

  /**
   * pcpu_chunk_relocate: after `c` changed, moves it from `oslot` to the
   * slot of its largest free area: to the front when it grew, to the back
   * when it shrank. `oslot` -1 places a new chunk. Isolated chunks stay.
   */
  relocate(c: number, oslot: number): void {
    if (this.chunks.isIsolated(c)) return;
    const nslot = this.chunkSlot(c);
    if (oslot !== nslot) this.move(c, nslot, oslot < nslot);
  }

  /** pcpu_isolate_chunk: onto to_depopulate, its empty pages out of the global count. */
  isolate(c: number): void {
    const m = this.m;
    const cw = c >> 2;
    if (m[cw + PCPU_CHUNK_W.isolated] === 0) {
      m[cw + PCPU_CHUNK_W.isolated] = 1;
      this.chunks.updateGlobalEmptyPages(-m[cw + PCPU_CHUNK_W.nr_empty_pop_pages]);
    }
    this.moveTo(c, this.toDepopulateSlot, true);
  }

  /** pcpu_reintegrate_chunk: back among the size slots, its empty pages counted again. */
  reintegrate(c: number): void {
    const m = this.m;
    const cw = c >> 2;
    if (m[cw + PCPU_CHUNK_W.isolated] === 0) return;
    m[cw + PCPU_CHUNK_W.isolated] = 0;
    this.chunks.updateGlobalEmptyPages(m[cw + PCPU_CHUNK_W.nr_empty_pop_pages]);
    this.relocate(c, -1);
  }

  /** list_move_tail onto the sidelined slot (the balance worker, after depopulating). */
  sideline(c: number): void {
    this.moveTo(c, this.sidelinedSlot, false);
  }
}
