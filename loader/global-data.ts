/**
 * Global data as libbpf makes it: one single-element ARRAY map per data
 * section (`.data*`, `.rodata*`, `.bss*`), key 4 bytes, value the whole
 * section (zeros for NOBITS), named `<object name prefix><section name>`
 * with libbpf's truncation rules, `.rodata*` with BPF_F_RDONLY_PROG |
 * BPF_F_MMAPABLE and frozen once its initial value is written, the others
 * BPF_F_MMAPABLE.
 *
 * Each section's variables are its ELF object symbols (which give the
 * offsets: clang writes offset 0 for global VARs in the DATASEC), typed by
 * the BTF VAR of the same name. Before load they live in the section's
 * image, writable as a skeleton's `skel->rodata->x = 5` is; after load in
 * the map's value in emulated memory (the mmap'ed view).
 *
 * @example
 * internalMapName('percpu_counter', '.rodata'); // 'percpu_c.rodata'
 */

import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_OBJ_NAME_LEN } from '../maps/bpf-uapi.ts';
import { ErrnoError } from '../segments/errno.ts';
import { BTF_KIND, type Btf } from './btf.ts';
import { type ElfFile, type ElfSection, SHT_NOBITS, STT_OBJECT } from './elf.ts';

export type DataKind = 'data' | 'rodata' | 'bss';

export interface GlobalVar {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  /** The BTF type of its VAR; 0 without one. */
  readonly typeId: number;
}

export interface DataSection {
  readonly section: ElfSection;
  readonly kind: DataKind;
  /** The map's name, as libbpf's internal_map_name makes it. */
  readonly mapName: string;
  readonly mapFlags: number;
  /** The initial value: the section's bytes, zeros for NOBITS; writable before load. */
  readonly image: Uint8Array;
  readonly vars: readonly GlobalVar[];
}

/** The kind of data section `name` is, or undefined. */
export function dataKind(name: string): DataKind | undefined {
  for (const kind of ['data', 'rodata', 'bss'] as const)
    if (name === `.${kind}` || name.startsWith(`.${kind}.`)) return kind;
  return undefined;
}

/**
 * libbpf 1.x's internal_map_name: `.data`, `.rodata`, `.bss` (and
 * `.kconfig`) get as much of the object's name as fits in front with at
 * least 7 characters kept for the suffix; a section with a second dot
 * (`.rodata.str1.1`) is its own name; all cut at 15 characters and every
 * character the kernel refuses made `_`.
 */
export function internalMapName(objName: string, secName: string): string {
  const max = BPF_OBJ_NAME_LEN - 1;
  const sfxLen = Math.min(Math.max(7, secName.length), max);
  const pfxLen = secName.indexOf('.', 1) >= 0 ? 0 : Math.min(max - sfxLen, objName.length);
  const name = objName.slice(0, pfxLen) + secName.slice(0, sfxLen);
  return name.slice(0, max).replace(/[^A-Za-z0-9_.]/g, '_');
}

/** The data sections of `elf` and their variables. */
export function collectDataSections(elf: ElfFile, btf: Btf, objName: string): DataSection[] {
  const out: DataSection[] = [];
  for (const section of elf.sections) {
    const kind = dataKind(section.name);
    if (kind === undefined) continue;
    const image = section.type === SHT_NOBITS ? new Uint8Array(section.size) : section.data.slice();
    const vars = elf.symbols
      .filter((s) => s.shndx === section.index && s.type === STT_OBJECT && !s.name.startsWith('.'))
      .map((s) => {
        if (s.value + s.size > section.size) {
          throw new ErrnoError(
            'EINVAL',
            `symbol '${s.name}' (offset ${s.value}, ${s.size} bytes) runs past section '${section.name}' (${section.size} bytes)`,
          );
        }
        return { name: s.name, offset: s.value, size: s.size, typeId: varType(btf, s.name) };
      })
      .sort((a, b) => a.offset - b.offset);
    out.push({
      section,
      kind,
      mapName: internalMapName(objName, section.name),
      mapFlags: kind === 'rodata' ? BPF_F_RDONLY_PROG | BPF_F_MMAPABLE : BPF_F_MMAPABLE,
      image,
      vars,
    });
  }
  return out;
}

/** The type of the VAR called `name`, skipping the VAR itself; 0 if BTF has none. */
function varType(btf: Btf, name: string): number {
  const id = btf.byName(name, BTF_KIND.VAR);
  return id === undefined ? 0 : btf.type(id).sizeOrType;
}
