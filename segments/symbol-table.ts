/**
 * Symbols of the linked image: name, section, address and size. The
 * assembler resolves names through it, the disassembler and oops reports
 * turn addresses back into `name+offset`.
 *
 * Per-CPU symbols have zero-based addresses (offsets in `.data..percpu`, as
 * on x86-64), so they overlap page 0 of physical memory: `lookup` takes the
 * section to search.
 *
 * @example
 * table.get('cpu_number')?.address; // its offset in the per-CPU template
 * table.lookup(0x40, '.data..percpu'); // 'this_cpu_off+0'
 */

import type { CType } from './ctype.ts';
import { ErrnoError } from './errno.ts';

export type SectionName = '.text' | '.data' | '.bss' | '.data..percpu';

export interface ImageSymbol {
  readonly name: string;
  readonly section: SectionName;
  readonly address: number;
  readonly size: number;
  readonly type?: CType;
}

export class SymbolTable {
  private readonly byName = new Map<string, ImageSymbol>();

  add(sym: ImageSymbol): ImageSymbol {
    if (this.byName.has(sym.name)) {
      throw new ErrnoError('EEXIST', `symbol '${sym.name}' is already defined`);
    }
    this.byName.set(sym.name, Object.freeze({ ...sym }));
    return sym;
  }

  get(name: string): ImageSymbol | undefined {
    return this.byName.get(name);
  }

  /** The symbol of `section` containing `address`, as `name+offset`, or undefined. */
  lookup(address: number, section: SectionName): string | undefined {
    for (const s of this.byName.values()) {
      if (
        s.section === section &&
        address >= s.address &&
        address < s.address + Math.max(1, s.size)
      ) {
        return `${s.name}+${address - s.address}`;
      }
    }
    return undefined;
  }

  all(): ImageSymbol[] {
    return [...this.byName.values()].sort((a, b) => a.address - b.address);
  }
}
