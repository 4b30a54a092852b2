import { describe, expect, it } from 'vitest';
import {
  initListHead,
  LIST_POISON1,
  LIST_POISON2,
  ListCorrupted,
  ListRegion,
} from '../../segments/list.ts';
import { PhysicalMemory } from '../../segments/memory.ts';

/** Entries of 32 bytes at 0x2000.. with their list_head 8 bytes in; the head at 0x1000. */
function setup() {
  const memory = new PhysicalMemory(1 << 16);
  const lists = new ListRegion(memory, {
    name: 'test_list',
    start: 0x2000,
    end: 0x2000 + 8 * 32,
    entrySize: 32,
    member: 8,
  });
  const head = 0x1000;
  lists.init(head);
  const entry = (k: number) => 0x2000 + k * 32;
  return { memory, lists, head, entry };
}

describe('ListRegion (list.h in emulated memory)', () => {
  it('starts empty: the head points at itself', () => {
    const { memory, lists, head } = setup();
    expect(lists.empty(head)).toBe(true);
    expect(memory.read32(head)).toBe(head);
    expect(memory.read32(head + 4)).toBe(head);
    expect(lists.first(head)).toBe(0);
    expect(lists.last(head)).toBe(0);
    expect(lists.entries(head)).toEqual([]);
  });

  it('add puts an entry first, addTail last; the links point at list_heads', () => {
    const { memory, lists, head, entry } = setup();
    lists.addTail(entry(1), head);
    lists.add(entry(0), head);
    lists.addTail(entry(2), head);
    expect(lists.entries(head)).toEqual([entry(0), entry(1), entry(2)]);
    expect(lists.count(head)).toBe(3);
    expect(memory.read32(head)).toBe(entry(0) + 8);
    expect(memory.read32(entry(0) + 8)).toBe(entry(1) + 8);
    expect(memory.read32(entry(2) + 8)).toBe(head);
    expect(memory.read32(entry(2) + 12)).toBe(entry(1) + 8);
    expect(lists.next(entry(2), head)).toBe(head);
    expect(lists.prev(entry(0), head)).toBe(head);
    expect(lists.last(head)).toBe(entry(2));
  });

  it('del unlinks and poisons; delInit leaves the entry pointing at itself', () => {
    const { memory, lists, head, entry } = setup();
    for (let k = 0; k < 3; k++) lists.addTail(entry(k), head);
    lists.del(entry(1));
    expect(lists.entries(head)).toEqual([entry(0), entry(2)]);
    expect(memory.read32(entry(1) + 8)).toBe(LIST_POISON1);
    expect(memory.read32(entry(1) + 12)).toBe(LIST_POISON2);
    lists.delInit(entry(0));
    expect(memory.read32(entry(0) + 8)).toBe(entry(0) + 8);
    expect(lists.entries(head)).toEqual([entry(2)]);
  });

  it('move and moveTail take an entry from one list to the front or back of another', () => {
    const { memory, lists, head, entry } = setup();
    const other = 0x1008;
    initListHead(memory, other);
    for (let k = 0; k < 3; k++) lists.addTail(entry(k), head);
    lists.move(entry(2), other);
    lists.moveTail(entry(0), other);
    expect(lists.entries(head)).toEqual([entry(1)]);
    expect(lists.entries(other)).toEqual([entry(2), entry(0)]);
    lists.moveTail(entry(2), other);
    expect(lists.entries(other)).toEqual([entry(0), entry(2)]);
  });

  it('forEach lets the callback delete the entry it is given, and stops on true', () => {
    const { lists, head, entry } = setup();
    for (let k = 0; k < 4; k++) lists.addTail(entry(k), head);
    const seen: number[] = [];
    lists.forEach(head, (e) => {
      seen.push(e);
      lists.del(e);
      return e === entry(2);
    });
    expect(seen).toEqual([entry(0), entry(1), entry(2)]);
    expect(lists.entries(head)).toEqual([entry(3)]);
  });

  it('a link outside the region is ListCorrupted naming the list and the list_head', () => {
    const { memory, lists, head, entry } = setup();
    lists.addTail(entry(0), head);
    lists.addTail(entry(1), head);
    memory.write32(entry(0) + 8, 0x9000);
    const walk = () => lists.entries(head);
    expect(walk).toThrow(ListCorrupted);
    expect(walk).toThrow(
      "EFAULT: test_list list corrupted at 0x2008: link 0x9000 is neither the head 0x1000 nor an entry's in [0x2000, 0x2100)",
    );
    memory.write32(entry(0) + 8, entry(1) + 9);
    expect(walk).toThrow(/link 0x2029/);
  });

  it('a cycle that never returns to the head ends at the region bound', () => {
    const { memory, lists, head, entry } = setup();
    lists.addTail(entry(0), head);
    lists.addTail(entry(1), head);
    memory.write32(entry(1) + 8, entry(0) + 8);
    expect(lists.maxEntries).toBe(8);
    expect(() => lists.count(head)).toThrow(
      'EFAULT: test_list list corrupted at 0x1000: a walk visited more than the 8 entries its region holds without coming back to the head',
    );
    expect(() => lists.forEach(head, () => {})).toThrow(ListCorrupted);
    expect(() => lists.bound(9, head)).toThrow(ListCorrupted);
    expect(() => lists.bound(8, head)).not.toThrow();
  });

  it('refuses a region whose entries cannot hold their links', () => {
    const memory = new PhysicalMemory(1 << 16);
    const make = (entrySize: number, member: number) => () =>
      new ListRegion(memory, { name: 'bad', start: 0x2000, end: 0x3000, entrySize, member });
    expect(make(8, 4)).toThrow(/EINVAL: bad lists/);
    expect(make(16, 2)).toThrow(/EINVAL/);
    expect(make(16, 8)).not.toThrow();
  });
});
