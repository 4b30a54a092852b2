/**
 * list.h for structures in emulated memory: circular doubly linked lists of
 * `struct list_head { next, prev }` (u32 guest addresses) embedded in the
 * structures they link (a page descriptor, a percpu chunk, an LRU node),
 * with heads that are bare list_heads. An empty list's head points at
 * itself; `del` poisons the entry's links with LIST_POISON1/2, which lie in
 * page 0, so following them faults.
 *
 * Entries are named by the address of the structure that embeds the links
 * (what list_entry gives), the links being `member` bytes into it; heads by
 * their own address. The links in memory point at list_heads, as the
 * kernel's do.
 *
 * Bounded walks. A ListRegion knows where its entries can lie: in [start,
 * end), at least `entrySize` bytes apart. Every link a walk follows (`next`,
 * `prev`, `first`, `last`, the iteration helpers) must be the walk's head or
 * 4-aligned and inside an entry of the region, and a walk visits at most `maxEntries`
 * entries (`bound` checks a hand-written loop); otherwise ListCorrupted
 * (EFAULT) names the list, the entry and the link. The kernel's
 * CONFIG_DEBUG_LIST checks back links on add and del; these checks are the
 * ones that keep a corrupted list from looping or leaving its region.
 *
 * Locking: none here; the lists' owner holds its lock (the zone lock, a
 * cache's list_lock, pcpu_lock, the LRU locks).
 *
 * @example
 * const lists = new ListRegion(memory, { name: 'free_area', start, end, entrySize: 32, member: 8 });
 * lists.init(head);
 * lists.addTail(entry, head);
 * lists.first(head); // entry
 * lists.del(entry);
 * lists.empty(head); // true
 */

import { struct, u32 } from './ctype.ts';
import { ErrnoError } from './errno.ts';
import type { PhysicalMemory } from './memory.ts';

/** `struct list_head`: the links embedded in an entry, and a list's head. */
export const listHeadType = struct('list_head', [
  ['next', u32],
  ['prev', u32],
]);

/** list_del's poison values (LIST_POISON1/2 without POISON_POINTER_DELTA): in page 0, so they fault. */
export const LIST_POISON1 = 0x100;
export const LIST_POISON2 = 0x122;

/**
 * INIT_LIST_HEAD of a bare head, before any ListRegion exists (structure
 * setup at boot).
 *
 * @example
 * initListHead(memory, cacheAddr + partialOffset);
 */
export function initListHead(memory: PhysicalMemory, head: number): void {
  memory.write32(head, head);
  memory.write32(head + 4, head);
}

/** A list that leaves its region or does not lead back to its head. */
export class ListCorrupted extends ErrnoError {
  constructor(
    /** The ListRegion's name. */
    readonly list: string,
    /** The list_head whose link is bad, or the head of a walk that did not end. */
    readonly addr: number,
    detail: string,
  ) {
    super('EFAULT', `${list} list corrupted at 0x${addr.toString(16)}: ${detail}`);
  }
}

export interface ListRegionOptions {
  /** Names the lists in errors: the kernel structure they thread, e.g. 'pcpu_chunk_lists'. */
  name: string;
  /** The entries' list_heads lie in [start, end). */
  start: number;
  end: number;
  /** The least distance between two entries: the size of the structure embedding them. */
  entrySize: number;
  /** offsetof(entry type, its list_head): 0 by default. */
  member?: number;
}

export class ListRegion {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  /** No walk visits more entries than the region holds. */
  readonly maxEntries: number;
  /** offsetof(entry type, its list_head). */
  readonly member: number;
  private readonly w: Int32Array;

  constructor(memory: PhysicalMemory, opts: ListRegionOptions) {
    const { name, start, end, entrySize } = opts;
    const member = opts.member ?? 0;
    if (
      !(start <= end) ||
      start % 4 !== 0 ||
      member % 4 !== 0 ||
      !(member >= 0 && member + listHeadType.size <= entrySize)
    ) {
      throw new ErrnoError(
        'EINVAL',
        `${name} lists: [0x${start.toString(16)}, 0x${end.toString(16)}) of ${entrySize}-byte entries with links at ${member} is not a 4-aligned region of entries that hold their links`,
      );
    }
    this.member = member;
    this.name = name;
    this.start = start;
    this.end = end;
    this.maxEntries = Math.floor((end - start) / entrySize);
    this.w = new Int32Array(memory.buffer);
  }

  /** INIT_LIST_HEAD of a bare head. */
  init(head: number): void {
    this.w[head >> 2] = head;
    this.w[(head >> 2) + 1] = head;
  }

  /** list_empty. */
  empty(head: number): boolean {
    return this.w[head >> 2] >>> 0 === head;
  }

  /** list_add: `entry` right after `head`, first on the list. */
  add(entry: number, head: number): void {
    this.insert(entry + this.member, head, this.w[head >> 2] >>> 0);
  }

  /** list_add_tail: `entry` right before `head`, last on the list. */
  addTail(entry: number, head: number): void {
    this.insert(entry + this.member, this.w[(head >> 2) + 1] >>> 0, head);
  }

  /** list_del: unlinks `entry` and poisons its links. */
  del(entry: number): void {
    const node = entry + this.member;
    this.unlink(node);
    this.w[node >> 2] = LIST_POISON1;
    this.w[(node >> 2) + 1] = LIST_POISON2;
  }

  /** list_del_init: unlinks `entry`, whose links then point at themselves. */
  delInit(entry: number): void {
    const node = entry + this.member;
    this.unlink(node);
    this.init(node);
  }

  /** list_move: from its list to the front of `head`'s. */
  move(entry: number, head: number): void {
    this.unlink(entry + this.member);
    this.add(entry, head);
  }

  /** list_move_tail: from its list to the back of `head`'s. */
  moveTail(entry: number, head: number): void {
    this.unlink(entry + this.member);
    this.addTail(entry, head);
  }

  /**
   * The entry after `at` (an entry, or `head` to start) on the list headed by
   * `head`; `head` itself after the last entry.
   */
  next(at: number, head: number): number {
    const node = at === head ? head : at + this.member;
    return this.entryOf(node, this.w[node >> 2] >>> 0, head);
  }

  /** The entry before `at` (an entry, or `head`); `head` itself before the first entry. */
  prev(at: number, head: number): number {
    const node = at === head ? head : at + this.member;
    return this.entryOf(node, this.w[(node >> 2) + 1] >>> 0, head);
  }

  /** list_first_entry_or_null: the first entry, or 0 when the list is empty. */
  first(head: number): number {
    const e = this.next(head, head);
    return e === head ? 0 : e;
  }

  /** list_last_entry_or_null: the last entry, or 0 when the list is empty. */
  last(head: number): number {
    const e = this.prev(head, head);
    return e === head ? 0 : e;
  }

  /**
   * The bound of a hand-written walk: throws ListCorrupted once a walk from
   * `head` has visited more than `maxEntries` entries (`visited` counts them).
   *
   * @example
   * for (let node = lists.prev(head, head), n = 0; node !== head; node = older) {
   *   lists.bound(++n, head);
   *   const older = lists.prev(node, head);
   * }
   */
  bound(visited: number, head: number): void {
    if (visited > this.maxEntries) {
      throw new ListCorrupted(
        this.name,
        head,
        `a walk visited more than the ${this.maxEntries} entries its region holds without coming back to the head`,
      );
    }
  }

  /**
   * list_for_each_safe: calls `fn` on every entry from the first, reading the
   * next link before the call, so `fn` may delete or move the entry; stops
   * early when `fn` returns true. Bounded.
   *
   * @example
   * lists.forEach(head, (entry) => entry === wanted);
   */
  forEach(head: number, fn: (entry: number) => unknown): void {
    let n = 0;
    for (let e = this.next(head, head); e !== head; ) {
      this.bound(++n, head);
      const next = this.next(e, head);
      if (fn(e) === true) return;
      e = next;
    }
  }

  /**
   * The entries from first to last. Allocates: for tests, statistics and
   * error paths, not hot paths.
   *
   * @example
   * lists.entries(head); // [0x12000, 0x12040]
   */
  entries(head: number): number[] {
    const out: number[] = [];
    this.forEach(head, (e) => {
      out.push(e);
    });
    return out;
  }

  /** list_count_nodes. Bounded. */
  count(head: number): number {
    let n = 0;
    for (let e = this.next(head, head); e !== head; e = this.next(e, head)) this.bound(++n, head);
    return n;
  }

  private insert(entry: number, prev: number, next: number): void {
    const w = this.w;
    w[(next >> 2) + 1] = entry;
    w[entry >> 2] = next;
    w[(entry >> 2) + 1] = prev;
    w[prev >> 2] = entry;
  }

  /** __list_del_entry: the neighbours point at each other; `entry`'s links stay. */
  private unlink(entry: number): void {
    const w = this.w;
    const next = w[entry >> 2] >>> 0;
    const prev = w[(entry >> 2) + 1] >>> 0;
    w[(next >> 2) + 1] = prev;
    w[prev >> 2] = next;
  }

  /**
   * The entry whose links are at `link` (read from the list_head at `node`),
   * or `head` itself: anything else outside the region's entries is corruption.
   */
  private entryOf(node: number, link: number, head: number): number {
    if (link === head) return head;
    const entry = link - this.member;
    if (entry < this.start || entry >= this.end || (link & 3) !== 0) {
      throw new ListCorrupted(
        this.name,
        node,
        `link 0x${link.toString(16)} is neither the head 0x${head.toString(16)} nor an entry's in [0x${this.start.toString(16)}, 0x${this.end.toString(16)})`,
      );
    }
    return entry;
  }
}
