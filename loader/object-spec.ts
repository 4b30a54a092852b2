/**
 * What `openObject` learns from an object file without touching any
 * machine: its programs and subprograms, its maps (BTF-defined, global
 * data, `.kconfig`), its externs and its license. The loader (bpf-object.ts)
 * and the linker (link.ts) work from this.
 *
 * @example
 * spec.programs.map((p) => p.name); // ['count', 'total']
 */

import type { Insn } from '../cpu/insn.ts';
import type { Btf } from './btf.ts';
import type { BtfExt } from './btf-ext.ts';
import type { ElfFile, ElfSection } from './elf.ts';
import type { DataSection } from './global-data.ts';
import type { MapDef } from './map-def.ts';
import type { SecDef } from './sec-def.ts';

/** A function in a code section: a program, or a subprogram of `.text`. */
export interface FuncSpec {
  readonly name: string;
  readonly section: ElfSection;
  /** First instruction, as an index into the section. */
  readonly start: number;
  readonly length: number;
}

export interface ProgramSpec extends FuncSpec {
  readonly secDef: SecDef;
}

/** A map the object asks for: `def` says what BPF_MAP_CREATE gets. */
export interface MapSpec {
  readonly name: string;
  readonly kind: 'btf' | 'data' | 'kconfig';
  readonly def: Omit<MapDef, 'offset' | 'name'>;
  /** BTF maps: the symbol offset in `.maps`. */
  readonly offset: number;
  /** Global data maps: the section and its variables. */
  readonly data?: DataSection;
  /** The `.kconfig` map's initial value. */
  readonly kconfig?: Uint8Array;
}

export interface ExternSpec {
  readonly name: string;
  readonly kind: 'kfunc' | 'kconfig';
  readonly weak: boolean;
  /** `.kconfig` externs: the offset in the `.kconfig` map and the size. */
  readonly offset: number;
  readonly size: number;
}

export interface ObjectSpec {
  /** The object's name: the file name up to its first dot (libbpf's). */
  readonly name: string;
  readonly elf: ElfFile;
  readonly btf: Btf;
  readonly ext: BtfExt;
  readonly license: string;
  readonly programs: readonly ProgramSpec[];
  readonly subprogs: readonly FuncSpec[];
  readonly maps: readonly MapSpec[];
  /** By symbol name. */
  readonly externs: ReadonlyMap<string, ExternSpec>;
  /** Each code section's instructions, by section index. */
  readonly code: ReadonlyMap<number, readonly Insn[]>;
}
