/**
 * `.text`: where loaded programs live in emulated memory. Each program
 * source is loaded once, however many tasks run it; its bytes are written
 * into the region and a `.text` symbol (name, address, size) is added to the
 * image's symbol table, so a snapshot of memory holds the code too.
 *
 * @example
 * const prog = text.load(m.assemble('r0 = 0\nexit'), 'worker');
 * text.addressOf(prog); // its address in .text
 */

import type { AssembledProgram } from '../cpu/asm/pseudo-c.ts';
import type { Insn } from '../cpu/insn.ts';
import { LoadedProgram, loadProgram, type PseudoResolver } from '../cpu/program.ts';
import type { Region } from '../segments/address-map.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import type { SymbolTable } from '../segments/symbol-table.ts';

export type ProgramSource = LoadedProgram | AssembledProgram | readonly Insn[];

export class TextSection {
  private used = 0;
  private readonly addresses = new Map<LoadedProgram, number>();
  private readonly loaded = new WeakMap<object, LoadedProgram>();

  constructor(
    private readonly memory: PhysicalMemory,
    readonly region: Region,
    private readonly symbols: SymbolTable,
    /** How `lddw` pseudo sources (maps, map values) resolve at load. */
    private readonly resolver: PseudoResolver = {},
  ) {}

  /** Loads `source` (named `name` unless it has a name) and returns the loaded program. */
  load(source: ProgramSource, name: string): LoadedProgram {
    const cached = this.loaded.get(source);
    if (cached !== undefined) return cached;
    const program = toLoaded(source, name, this.resolver);
    this.loaded.set(source, program);
    if (this.addresses.has(program)) return program;
    const bytes = program.bytes();
    if (this.used + bytes.length > this.region.size) {
      throw new ErrnoError(
        'ENOMEM',
        `.text is full: ${bytes.length} more bytes for '${name}' do not fit in ${this.region.size}`,
      );
    }
    const addr = this.region.start + this.used;
    this.memory.writeBytes(addr, bytes);
    this.used += bytes.length;
    this.addresses.set(program, addr);
    let symbol = program.name;
    for (let k = 2; this.symbols.get(symbol) !== undefined; k++) symbol = `${program.name}.${k}`;
    this.symbols.add({ name: symbol, section: '.text', address: addr, size: bytes.length });
    return program;
  }

  addressOf(program: LoadedProgram): number | undefined {
    return this.addresses.get(program);
  }
}

/** A program ready to run, its labels as symbols and `name` at its first instruction. */
function toLoaded(p: ProgramSource, name: string, resolver: PseudoResolver): LoadedProgram {
  if (p instanceof LoadedProgram) return p;
  if ('insns' in p) {
    const symbols = new Map([...p.labels].map(([label, at]) => [at, label] as const));
    if (!symbols.has(0)) symbols.set(0, name);
    return loadProgram(p.insns, { name, symbols, resolver });
  }
  return loadProgram(p as readonly Insn[], { name, symbols: new Map([[0, name]]), resolver });
}
