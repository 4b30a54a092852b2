/**
 * The address map of physical memory: named regions handed out in order
 * from the end of page 0, each page-aligned unless asked otherwise. It is the
 * machine's single record of where everything lives (images, per-CPU units,
 * task structs, stacks, map storage), and it answers "what is at address X"
 * for reports.
 *
 * @example
 * const map = new AddressMap(memory.size);
 * const units = map.reserve('percpu first chunk', 4 * 32768);
 * map.describe(units.start + 8); // 'percpu first chunk+8'
 */

import { alignUp } from './ctype.ts';
import { ErrnoError } from './errno.ts';
import { PAGE_SIZE } from './memory.ts';

export interface Region {
  readonly name: string;
  readonly start: number;
  readonly size: number;
}

export class AddressMap {
  private readonly list: Region[] = [];
  private next = PAGE_SIZE;

  constructor(readonly memorySize: number) {}

  /** Reserves `size` bytes aligned to `align` (a page by default). */
  reserve(name: string, size: number, align = PAGE_SIZE): Region {
    if (!Number.isInteger(size) || size <= 0) {
      throw new ErrnoError('EINVAL', `region '${name}' size ${size} is not a positive integer`);
    }
    const start = alignUp(this.next, align);
    if (start + size > this.memorySize) {
      throw new ErrnoError(
        'ENOMEM',
        `region '${name}' of ${size} bytes does not fit: ${this.memorySize - start} bytes left of ${this.memorySize}`,
      );
    }
    const region = Object.freeze({ name, start, size });
    this.list.push(region);
    this.next = start + size;
    return region;
  }

  /** Leaves [current, addr) unreserved: nothing will be placed below `addr`. */
  skipTo(addr: number): void {
    if (addr < this.next) {
      throw new ErrnoError(
        'EBUSY',
        `cannot skip to 0x${addr.toString(16)}: memory up to 0x${this.next.toString(16)} is reserved`,
      );
    }
    this.next = addr;
  }

  /** The address the next `reserve` with this alignment would return. */
  peek(align = PAGE_SIZE): number {
    return alignUp(this.next, align);
  }

  /** Bytes not yet reserved. */
  get free(): number {
    return this.memorySize - this.next;
  }

  regions(): readonly Region[] {
    return this.list;
  }

  find(addr: number): Region | undefined {
    return this.list.find((r) => addr >= r.start && addr < r.start + r.size);
  }

  /** `region+offset` for an address, or its hex value when nothing is there. */
  describe(addr: number): string {
    const r = this.find(addr);
    return r === undefined ? `0x${addr.toString(16)}` : `${r.name}+${addr - r.start}`;
  }
}
