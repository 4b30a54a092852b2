/**
 * bpf_object__open: read an object file into an ObjectSpec, with no side
 * effect on any machine. Everything that can be refused without a machine
 * is refused here, each with the errno and a sentence a C programmer can
 * act on: not an ELF for BPF, no `.BTF` (compile with -g), an -O0 object
 * (compile with -O2), the legacy `maps` section, an unknown program section
 * or map type, malformed tables.
 *
 * @example
 * const spec = openObject(readFileSync('counter.bpf.o'), 'counter');
 * spec.programs[0].secDef.type; // 'syscall'
 */

import { decode, type Insn } from '../cpu/insn.ts';
import { BPF_CALL, BPF_JMP, BPF_X } from '../cpu/opcodes.ts';
import { BPF_MAP_TYPE, mapTypeName } from '../maps/bpf-uapi.ts';
import { isImplementedMapType, LAYERED_MAP_TYPES, MAP_TYPES } from '../maps/map-types.ts';
import { ErrnoError } from '../segments/errno.ts';
import { BTF_KIND, type Btf, parseBtf } from './btf.ts';
import { type BtfExt, parseBtfExt } from './btf-ext.ts';
import {
  type ElfFile,
  type ElfSection,
  parseElf,
  SHF_EXECINSTR,
  SHN_UNDEF,
  SHT_PROGBITS,
  STB_GLOBAL,
  STB_WEAK,
  STT_FUNC,
} from './elf.ts';
import { collectDataSections, internalMapName } from './global-data.ts';
import { parseMapDefs } from './map-def.ts';
import type { ExternSpec, FuncSpec, MapSpec, ObjectSpec, ProgramSpec } from './object-spec.ts';
import { findSecDef } from './sec-def.ts';

/** Parses `bytes` as an object named `name` (libbpf: the file name up to its first dot). */
export function openObject(bytes: Uint8Array, name: string): ObjectSpec {
  const elf = parseElf(bytes);
  if (elf.section('maps') !== undefined) {
    throw new ErrnoError(
      'EOPNOTSUPP',
      'legacy map definitions in SEC("maps") are not supported (libbpf 1.x refuses them too): use BTF-defined maps in SEC(".maps")',
    );
  }
  const btfSec = elf.section('.BTF');
  if (btfSec === undefined)
    throw new ErrnoError('EINVAL', 'the object has no .BTF section: compile with clang -g');
  const btf = parseBtf(btfSec.data);
  const extSec = elf.section('.BTF.ext');
  const ext: BtfExt = extSec
    ? parseBtfExt(extSec.data, btf)
    : { funcInfo: new Map(), lineInfo: new Map(), coreRelos: new Map() };
  const code = new Map<number, readonly Insn[]>();
  const programs: ProgramSpec[] = [];
  let subprogs: FuncSpec[] = [];
  for (const s of elf.sections) {
    if (s.type !== SHT_PROGBITS || (s.flags & SHF_EXECINSTR) === 0) continue;
    if (s.size % 8 !== 0)
      throw new ErrnoError(
        'EINVAL',
        `code section '${s.name}' is ${s.size} bytes, not whole instructions`,
      );
    const insns = decode(s.data);
    code.set(s.index, insns);
    refuseO0(s, insns);
    const funcs = functionsOf(elf, s);
    if (s.name === '.text') subprogs = funcs;
    else {
      if (funcs.length === 0)
        throw new ErrnoError('EINVAL', `program section '${s.name}' has no global function symbol`);
      const secDef = findSecDef(s.name);
      for (const f of funcs) programs.push({ ...f, secDef });
    }
  }
  const externs = collectExterns(elf, btf);
  const maps = collectMaps(elf, btf, name, externs);
  return {
    name,
    elf,
    btf,
    ext,
    license: licenseOf(elf),
    programs,
    subprogs,
    maps,
    externs,
    code,
  };
}

/** -O0 code calls helpers through function pointers in `.data` (callx). */
function refuseO0(s: ElfSection, insns: readonly Insn[]): void {
  const at = insns.findIndex((i) => i.code === (BPF_JMP | BPF_CALL | BPF_X));
  if (at >= 0) {
    throw new ErrnoError(
      'EINVAL',
      `section '${s.name}' insn ${at} calls through a register (callx): an unoptimised (-O0) object; compile with clang -O2`,
    );
  }
}

/** The FUNC symbols of a code section, checked against its size. */
function functionsOf(elf: ElfFile, s: ElfSection): FuncSpec[] {
  return elf.symbols
    .filter((sym) => sym.shndx === s.index && sym.type === STT_FUNC)
    .filter((sym) => s.name === '.text' || sym.bind === STB_GLOBAL || sym.bind === STB_WEAK)
    .map((sym) => {
      if (sym.value % 8 !== 0 || sym.size % 8 !== 0 || sym.value + sym.size > s.size) {
        throw new ErrnoError(
          'EINVAL',
          `function '${sym.name}' (offset ${sym.value}, ${sym.size} bytes) is not whole instructions inside '${s.name}' (${s.size} bytes)`,
        );
      }
      return { name: sym.name, section: s, start: sym.value / 8, length: sym.size / 8 };
    })
    .sort((a, b) => a.start - b.start);
}

function licenseOf(elf: ElfFile): string {
  const s = elf.section('license');
  if (s === undefined) return '';
  const end = s.data.indexOf(0);
  return new TextDecoder().decode(end < 0 ? s.data : s.data.subarray(0, end));
}

/** Undefined symbols: kfuncs (a BTF FUNC of that name) and `.kconfig` variables, laid out in order. */
function collectExterns(elf: ElfFile, btf: Btf): Map<string, ExternSpec> {
  const kconfigVars = new Set<string>();
  const kcfg = btf.byName('.kconfig', BTF_KIND.DATASEC);
  if (kcfg !== undefined)
    for (const m of btf.type(kcfg).members) kconfigVars.add(btf.type(m.type).name);
  const out = new Map<string, ExternSpec>();
  let off = 0;
  for (const sym of elf.symbols) {
    if (
      sym.shndx !== SHN_UNDEF ||
      sym.name === '' ||
      (sym.bind !== STB_GLOBAL && sym.bind !== STB_WEAK)
    )
      continue;
    const weak = sym.bind === STB_WEAK;
    if (kconfigVars.has(sym.name)) {
      const vid = btf.byName(sym.name, BTF_KIND.VAR)!;
      const size = btf.size(btf.type(vid).sizeOrType);
      const align = Math.min(8, size & -size || 1);
      off = Math.ceil(off / align) * align;
      out.set(sym.name, { name: sym.name, kind: 'kconfig', weak, offset: off, size });
      off += size;
    } else {
      out.set(sym.name, { name: sym.name, kind: 'kfunc', weak, offset: 0, size: 0 });
    }
  }
  return out;
}

/** The object's maps in libbpf's order: `.maps`, then data sections in section order, then `.kconfig`. */
function collectMaps(
  elf: ElfFile,
  btf: Btf,
  objName: string,
  externs: ReadonlyMap<string, ExternSpec>,
): MapSpec[] {
  const maps: MapSpec[] = parseMapDefs(elf, btf).map((d) => {
    if (!isImplementedMapType(d.type)) {
      const known = [...MAP_TYPES.keys(), ...LAYERED_MAP_TYPES].map(mapTypeName).join(', ');
      throw new ErrnoError(
        'EOPNOTSUPP',
        `map '${d.name}': ${mapTypeName(d.type)} is not a map type this machine implements (${known})`,
      );
    }
    const { name, offset, ...def } = d;
    return { name, kind: 'btf', def, offset };
  });
  const dataDef = (valueSize: number, mapFlags: number) => ({
    type: BPF_MAP_TYPE.ARRAY,
    keySize: 4,
    valueSize,
    maxEntries: 1,
    mapFlags,
    numaNode: 0,
    mapExtra: 0,
    pinning: 0,
    keyType: 0,
    valueType: 0,
  });
  for (const data of collectDataSections(elf, btf, objName)) {
    if (data.section.size === 0) continue;
    maps.push({
      name: data.mapName,
      kind: 'data',
      def: dataDef(data.section.size, data.mapFlags),
      offset: 0,
      data,
    });
  }
  const kconfig = [...externs.values()].filter((e) => e.kind === 'kconfig');
  if (kconfig.length > 0) {
    const size = Math.max(...kconfig.map((e) => e.offset + e.size));
    maps.push({
      name: internalMapName(objName, '.kconfig'),
      kind: 'kconfig',
      def: dataDef(Math.ceil(size / 8) * 8, 0x480),
      offset: 0,
    });
  }
  return maps;
}
