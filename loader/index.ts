/**
 * The loader layer's public surface: open a clang-compiled BPF object,
 * set its globals, load it into a booted machine, run its programs and
 * read its maps and globals back (libbpf's bpf_object, in TS).
 *
 * @example
 * import { BpfObject } from '../loader/index.ts';
 * const obj = BpfObject.openFile('counter.bpf.o');
 * obj.rodata.step = 5n;
 * obj.load(k).program('count').testRun({ cpu: 1 });
 */

export { BpfObject, BpfObjectMap, isGplCompatible } from './bpf-object.ts';
export {
  BpfProgram,
  type ProgramRunInput,
  type SpawnProgramOptions,
  type TestRunOptions,
  type TestRunResult,
  XDP_PACKET_HEADROOM,
} from './bpf-program.ts';
export { BTF_KIND, Btf, type BtfMember, type BtfType, btfKindName, parseBtf } from './btf.ts';
export {
  BPF_CORE,
  type BtfExt,
  type CoreRelo,
  coreKindName,
  type LineInfo,
  parseBtfExt,
} from './btf-ext.ts';
export { type CompileOptions, compileBpfC } from './clang.ts';
export { type ElfFile, type ElfRel, type ElfSection, type ElfSymbol, parseElf } from './elf.ts';
export { internalMapName } from './global-data.ts';
export type { GlobalValue } from './globals-view.ts';
export { KCONFIG_NAMES, kconfigValue, LINUX_KERNEL_VERSION } from './kconfig.ts';
export { installLoaderHelpers, LOADER_KFUNCS } from './kernel-helpers.ts';
export type { LinkedProgram, MapRef } from './link.ts';
export type { MapDef } from './map-def.ts';
export type { ObjectSpec, ProgramSpec } from './object-spec.ts';
export { findSecDef, KNOWN_SECTIONS, type ProgType, type SecDef } from './sec-def.ts';
