/**
 * An ELF64 reader for what clang emits with `-target bpf`: a little-endian
 * relocatable object (ET_REL) for EM_BPF, its section headers and names,
 * its symbol table and its REL relocation sections (BPF has no RELA).
 *
 * Every offset and size is checked against the file before it is read, so
 * a truncated or corrupted object gives an ENOEXEC (not an ELF we can read)
 * or EINVAL (a table that does not fit) naming the section and the offset,
 * never a RangeError or an out-of-bounds read.
 *
 * @example
 * const elf = parseElf(readFileSync('counter.bpf.o'));
 * elf.sections.find((s) => s.name === '.maps')?.size; // 32
 */

import { ErrnoError } from '../segments/errno.ts';

export const EM_BPF = 247;
export const ET_REL = 1;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_REL = 9;
export const SHT_NOBITS = 8;
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
/** R_BPF_64_64: the 64-bit immediate of an ld_imm64. */
export const R_BPF_64_64 = 1;
/** R_BPF_64_32: the 32-bit immediate of a call. */
export const R_BPF_64_32 = 10;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;

export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly entsize: number;
  /** The bytes in the file; empty for NOBITS. */
  readonly data: Uint8Array;
}

export interface ElfSymbol {
  readonly index: number;
  readonly name: string;
  readonly value: number;
  readonly size: number;
  /** STB_*. */
  readonly bind: number;
  /** STT_*. */
  readonly type: number;
  /** The section index (st_shndx): SHN_UNDEF for an extern. */
  readonly shndx: number;
}

export interface ElfRel {
  /** Byte offset in the target section. */
  readonly offset: number;
  readonly type: number;
  readonly sym: ElfSymbol;
}

export interface ElfFile {
  readonly sections: readonly ElfSection[];
  readonly symbols: readonly ElfSymbol[];
  /** Relocations by the index of the section they apply to (sh_info). */
  readonly rels: ReadonlyMap<number, readonly ElfRel[]>;
  section(name: string): ElfSection | undefined;
}

const bad = (detail: string) => new ErrnoError('EINVAL', detail);

/**
 * Parses an EM_BPF relocatable object. Throws ENOEXEC for something that
 * is not a 64-bit little-endian BPF ELF relocatable, EINVAL for headers or
 * tables that point outside the file or do not add up.
 */
export function parseElf(bytes: Uint8Array): ElfFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkHeader(bytes, view);
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  const shstrndx = view.getUint16(0x3e, true);
  if (shentsize !== SHDR_SIZE)
    throw bad(`e_shentsize ${shentsize} is not ${SHDR_SIZE} (Elf64_Shdr)`);
  if (shnum === 0) throw bad('the object has no section headers');
  if (shoff > bytes.length || shoff + shnum * SHDR_SIZE > bytes.length) {
    throw bad(
      `section headers at offset ${shoff} (${shnum} x ${SHDR_SIZE} bytes) run past the end of the ${bytes.length}-byte file`,
    );
  }
  if (shstrndx >= shnum) throw bad(`e_shstrndx ${shstrndx} is not a section (${shnum})`);
  const raw = Array.from({ length: shnum }, (_, i) =>
    readShdr(bytes, view, shoff + i * SHDR_SIZE, i),
  );
  const shstr = raw[shstrndx];
  if (shstr.type !== SHT_STRTAB) throw bad(`section ${shstrndx} (e_shstrndx) is not a STRTAB`);
  const sections: ElfSection[] = raw.map((s) => ({
    ...s,
    name: cString(shstr.data, s.nameOff, `section ${s.index}'s name`),
  }));
  const symtab = sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtab.length !== 1) throw bad(`the object has ${symtab.length} symbol tables, not 1`);
  const symbols = readSymbols(sections, symtab[0]);
  const rels = new Map<number, ElfRel[]>();
  for (const s of sections) {
    if (s.type !== SHT_REL) continue;
    if (s.info >= sections.length)
      throw bad(
        `relocation section '${s.name}' applies to section ${s.info}, which does not exist`,
      );
    rels.set(s.info, readRels(s, symbols));
  }
  const byName = new Map(sections.map((s) => [s.name, s] as const));
  return { sections, symbols, rels, section: (name) => byName.get(name) };
}

function checkHeader(bytes: Uint8Array, view: DataView): void {
  if (
    bytes.length < 4 ||
    bytes[0] !== 0x7f ||
    bytes[1] !== 0x45 ||
    bytes[2] !== 0x4c ||
    bytes[3] !== 0x46
  ) {
    throw new ErrnoError('ENOEXEC', 'not an ELF file: the first bytes are not \\x7fELF');
  }
  if (bytes.length < EHDR_SIZE)
    throw new ErrnoError('ENOEXEC', `ELF header truncated: ${bytes.length} of ${EHDR_SIZE} bytes`);
  if (bytes[4] !== 2)
    throw new ErrnoError(
      'ENOEXEC',
      `ELF class ${bytes[4]} is not ELFCLASS64 (2): BPF objects are 64-bit`,
    );
  if (bytes[5] !== 1) {
    throw new ErrnoError(
      'ENOEXEC',
      `ELF data encoding ${bytes[5]} is not little-endian (1): compile with -target bpf (bpfel), not bpfeb`,
    );
  }
  const type = view.getUint16(0x10, true);
  const machine = view.getUint16(0x12, true);
  if (machine !== EM_BPF)
    throw new ErrnoError(
      'ENOEXEC',
      `e_machine ${machine} is not EM_BPF (${EM_BPF}): compile with clang -target bpf`,
    );
  if (type !== ET_REL)
    throw new ErrnoError(
      'ENOEXEC',
      `e_type ${type} is not ET_REL (1): a BPF object is relocatable (clang -c)`,
    );
}

function readShdr(bytes: Uint8Array, view: DataView, at: number, index: number) {
  const type = view.getUint32(at + 4, true);
  const offset = Number(view.getBigUint64(at + 0x18, true));
  const size = Number(view.getBigUint64(at + 0x20, true));
  const fileBytes = type === SHT_NOBITS || type === 0 ? 0 : size;
  if (offset > bytes.length || offset + fileBytes > bytes.length) {
    throw bad(
      `section ${index} (offset ${offset}, ${size} bytes) runs past the end of the ${bytes.length}-byte file`,
    );
  }
  return {
    index,
    nameOff: view.getUint32(at, true),
    type,
    flags: Number(view.getBigUint64(at + 8, true)),
    offset,
    size,
    link: view.getUint32(at + 0x28, true),
    info: view.getUint32(at + 0x2c, true),
    entsize: Number(view.getBigUint64(at + 0x38, true)),
    data: bytes.subarray(offset, offset + fileBytes),
  };
}

/** The NUL-terminated string at `off` of a string table. */
export function cString(table: Uint8Array, off: number, what: string): string {
  if (off >= table.length && !(off === 0 && table.length === 0))
    throw bad(`${what}: string offset ${off} is outside its ${table.length}-byte string table`);
  const end = table.indexOf(0, off);
  if (end < 0) throw bad(`${what}: string at offset ${off} is not NUL-terminated`);
  return new TextDecoder().decode(table.subarray(off, end));
}

function readSymbols(sections: readonly ElfSection[], symtab: ElfSection): ElfSymbol[] {
  if (symtab.size % SYM_SIZE !== 0)
    throw bad(
      `'${symtab.name}' is ${symtab.size} bytes, not a multiple of ${SYM_SIZE} (Elf64_Sym)`,
    );
  const strtab = sections[symtab.link];
  if (strtab === undefined || strtab.type !== SHT_STRTAB)
    throw bad(`'${symtab.name}' links to section ${symtab.link}, which is not a STRTAB`);
  const d = symtab.data;
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const out: ElfSymbol[] = [];
  for (let i = 0; i * SYM_SIZE < d.length; i++) {
    const at = i * SYM_SIZE;
    const info = d[at + 4];
    const shndx = view.getUint16(at + 6, true);
    const sym: ElfSymbol = {
      index: i,
      name: cString(strtab.data, view.getUint32(at, true), `symbol ${i}`),
      bind: info >> 4,
      type: info & 0xf,
      shndx,
      value: Number(view.getBigUint64(at + 8, true)),
      size: Number(view.getBigUint64(at + 16, true)),
    };
    if (shndx !== SHN_UNDEF && shndx < 0xff00 && shndx >= sections.length)
      throw bad(`symbol ${i} '${sym.name}' is in section ${shndx}, which does not exist`);
    out.push(sym);
  }
  return out;
}

function readRels(s: ElfSection, symbols: readonly ElfSymbol[]): ElfRel[] {
  if (s.size % REL_SIZE !== 0)
    throw bad(
      `relocation section '${s.name}' is ${s.size} bytes, not a multiple of ${REL_SIZE} (Elf64_Rel)`,
    );
  const view = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
  const out: ElfRel[] = [];
  for (let at = 0; at < s.size; at += REL_SIZE) {
    const offset = Number(view.getBigUint64(at, true));
    const type = view.getUint32(at + 8, true);
    const symIndex = view.getUint32(at + 12, true);
    const sym = symbols[symIndex];
    if (sym === undefined)
      throw bad(
        `'${s.name}' entry at offset ${at}: symbol ${symIndex} does not exist (${symbols.length} symbols)`,
      );
    out.push({ offset, type, sym });
  }
  return out;
}
