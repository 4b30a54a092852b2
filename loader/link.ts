/**
 * Linking one program, as libbpf's bpf_object__relocate does: copy the
 * program's instructions, then, depth first as bpf_object__reloc_code goes,
 * append each `.text` subprogram it reaches (by calls and callbacks, once
 * each) and point every call at the copy; apply the ELF relocations of
 * each copied instruction and the CO-RE relocations of `.BTF.ext`.
 *
 * - R_BPF_64_64 on an ld_imm64: a map of `.maps` (BPF_PSEUDO_MAP_FD), a
 *   global-data or `.kconfig` variable (BPF_PSEUDO_MAP_VALUE, the offset in
 *   the next imm), or a `.text` function as a callback (BPF_PSEUDO_FUNC).
 * - R_BPF_64_32 on a call: a subprogram (`call` src 1) or a kfunc extern
 *   (src 2, BPF_PSEUDO_KFUNC_CALL, imm = the machine's kfunc id).
 * - Calls with src 1 and no relocation are pc-relative inside their section.
 * - CO-RE: BPF_CORE_TYPE_ID_LOCAL puts the local BTF id in the imm; every
 *   other kind needs the target kernel's BTF, which this machine has not.
 *
 * Map fds are not known yet: map operands are recorded as MapRefs and
 * patched in once the maps exist, so linking touches no machine state.
 *
 * Then what the verifier would do for the kfunc ABI: bpf_percpu_obj_new_impl
 * receives a BTF type id in r1 and the verifier turns it into the type's
 * size; we rewrite the constant loaded into r1 before the call the same way.
 *
 * @example
 * const linked = linkProgram(spec, spec.programs[0], { kfuncId: (n) => k.kfuncs.byNameLookup(n)?.id });
 * linked.insns.length; // program + reached subprograms
 */

import type { Insn } from '../cpu/insn.ts';
import {
  BPF_CALL,
  BPF_JMP,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  LDDW,
} from '../cpu/opcodes.ts';
import { ErrnoError } from '../segments/errno.ts';
import { BTF_KIND } from './btf.ts';
import { BPF_CORE, type CoreRelo, coreKindName, type LineInfo } from './btf-ext.ts';
import { type ElfRel, R_BPF_64_32, R_BPF_64_64, SHN_UNDEF } from './elf.ts';
import type { FuncSpec, ObjectSpec, ProgramSpec } from './object-spec.ts';

const CALL = BPF_JMP | BPF_CALL;

/** A map operand to patch once the map has an fd. */
export interface MapRef {
  /** The ld_imm64's index in the linked program. */
  readonly at: number;
  /** Index into the object's maps. */
  readonly map: number;
  /** BPF_PSEUDO_MAP_VALUE's offset, or null for BPF_PSEUDO_MAP_FD. */
  readonly offset: number | null;
}

export interface LinkedProgram {
  readonly insns: Insn[];
  readonly mapRefs: readonly MapRef[];
  /** Function entries (the program, then its subprograms) by instruction index. */
  readonly symbols: Map<number, string>;
  /** Source lines, by instruction index of the linked program, sorted. */
  readonly lines: readonly LineInfo[];
  /** Kfunc externs called, and helper ids called. */
  readonly kfuncs: ReadonlySet<string>;
  readonly helpers: ReadonlySet<number>;
}

export interface LinkEnv {
  /** The machine's id of kfunc `name`, or undefined when it has none. */
  kfuncId(name: string): number | undefined;
}

export function linkProgram(spec: ObjectSpec, prog: ProgramSpec, env: LinkEnv): LinkedProgram {
  return new ProgramLinker(spec, prog, env).link();
}

class ProgramLinker {
  private readonly insns: Insn[] = [];
  /** For each linked instruction: its function and index in the section. */
  private readonly origin: { func: FuncSpec; idx: number }[] = [];
  private readonly placed = new Map<FuncSpec, number>();
  private readonly mapRefs: MapRef[] = [];
  private readonly symbols = new Map<number, string>();
  private readonly kfuncs = new Set<string>();
  private readonly helpers = new Set<number>();

  constructor(
    private readonly spec: ObjectSpec,
    private readonly prog: ProgramSpec,
    private readonly env: LinkEnv,
  ) {}

  link(): LinkedProgram {
    this.place(this.prog);
    this.fixObjNewTypeIds();
    const lines: LineInfo[] = [];
    for (const [func, base] of this.placed) {
      for (const l of this.spec.ext.lineInfo.get(func.section.name) ?? []) {
        if (l.insn >= func.start && l.insn < func.start + func.length)
          lines.push({ ...l, insn: l.insn - func.start + base });
      }
    }
    lines.sort((a, b) => a.insn - b.insn);
    return {
      insns: this.insns,
      mapRefs: this.mapRefs,
      symbols: this.symbols,
      lines,
      kfuncs: this.kfuncs,
      helpers: this.helpers,
    };
  }

  /** Appends `func` (once) and relocates its instructions, depth first; returns its base. */
  private place(func: FuncSpec): number {
    const known = this.placed.get(func);
    if (known !== undefined) return known;
    const base = this.insns.length;
    this.placed.set(func, base);
    this.symbols.set(base, func.name);
    const code = this.spec.code.get(func.section.index)!;
    for (let k = 0; k < func.length; k++) {
      this.insns.push({ ...code[func.start + k] });
      this.origin.push({ func, idx: func.start + k });
    }
    for (let i = base; i < base + func.length; i++) {
      this.relocate(i);
      if (this.insns[i].code === LDDW) i++;
    }
    return base;
  }

  private relocate(i: number): void {
    const ins = this.insns[i];
    const { func, idx } = this.origin[i];
    const core = coreReloAt(this.spec, func.section.name, idx);
    if (core !== undefined) this.applyCore(i, core);
    const rel = this.spec.elf.rels.get(func.section.index)?.find((r) => r.offset === idx * 8);
    if (rel !== undefined) {
      this.applyRel(i, rel);
      return;
    }
    if (ins.code === CALL && ins.src === BPF_PSEUDO_CALL) {
      this.callTo(i, func, idx + ins.imm + 1);
    } else if (ins.code === CALL && ins.src === 0) {
      this.helpers.add(ins.imm);
    } else if (ins.code === LDDW && ins.src === BPF_PSEUDO_FUNC) {
      this.callTo(i, func, idx + ins.imm + 1);
    }
  }

  /** Points the call or ld_imm64 at `i` to instruction `target` of `from`'s section. */
  private callTo(i: number, from: FuncSpec, target: number): void {
    const ins = this.insns[i];
    let dest: number;
    if (from.section === this.spec.subprogs[0]?.section || from.section.name === '.text') {
      const sub = this.subprogAt(target, i);
      dest = this.place(sub) + (target - sub.start);
    } else {
      if (target < from.start || target >= from.start + from.length)
        throw this.relErr(
          i,
          `jumps to instruction ${target} of '${from.section.name}', outside '${from.name}'`,
        );
      dest = this.placed.get(from)! + (target - from.start);
    }
    ins.imm = dest - (i + 1);
  }

  private subprogAt(target: number, i: number): FuncSpec {
    const sub = this.spec.subprogs.find((s) => target >= s.start && target < s.start + s.length);
    if (sub === undefined)
      throw this.relErr(i, `calls .text instruction ${target}, which is in no function`);
    return sub;
  }

  private applyRel(i: number, rel: ElfRel): void {
    const ins = this.insns[i];
    const sym = rel.sym;
    const secName = this.spec.elf.sections[sym.shndx]?.name;
    if (rel.type === R_BPF_64_32) {
      if (ins.code !== CALL)
        throw this.relErr(i, `R_BPF_64_32 against '${sym.name}' is not on a call`);
      if (sym.shndx === SHN_UNDEF) {
        this.kfuncCall(i, sym.name);
      } else if (secName === '.text') {
        ins.src = BPF_PSEUDO_CALL;
        const target = sym.value / 8 + ins.imm + 1;
        const sub = this.subprogAt(target, i);
        ins.imm = this.place(sub) + (target - sub.start) - (i + 1);
      } else {
        throw this.relErr(
          i,
          `call against '${sym.name}' in section '${secName}', which holds no subprograms`,
        );
      }
      return;
    }
    if (rel.type !== R_BPF_64_64)
      throw this.relErr(
        i,
        `relocation type ${rel.type} against '${sym.name}' is not R_BPF_64_64 or R_BPF_64_32`,
      );
    if (ins.code !== LDDW)
      throw this.relErr(i, `R_BPF_64_64 against '${sym.name}' is not on an ld_imm64`);
    if (sym.shndx === SHN_UNDEF) {
      const ext = this.spec.externs.get(sym.name);
      if (ext?.kind === 'kfunc' && this.spec.btf.byName(sym.name, BTF_KIND.FUNC) !== undefined) {
        this.kfuncAddress(i, sym.name, ext.weak);
        return;
      }
      if (ext?.kind !== 'kconfig')
        throw this.relErr(
          i,
          `ld_imm64 of extern '${sym.name}', which is not a __kconfig variable (typed __ksym variables are not supported)`,
        );
      const map = this.spec.maps.findIndex((m) => m.kind === 'kconfig');
      this.mapValue(i, map, ext.offset);
      return;
    }
    if (secName === '.text') {
      const target = (sym.value + ins.imm) / 8;
      if (!Number.isInteger(target))
        throw this.relErr(i, `callback offset ${sym.value + ins.imm} is not a whole instruction`);
      ins.src = BPF_PSEUDO_FUNC;
      const sub = this.subprogAt(target, i);
      ins.imm = this.place(sub) + (target - sub.start) - (i + 1);
      return;
    }
    const mapIdx = this.spec.maps.findIndex(
      (m) =>
        (m.kind === 'btf' && secName === '.maps' && m.offset === sym.value) ||
        (m.kind === 'data' && m.data!.section.index === sym.shndx),
    );
    if (mapIdx < 0) {
      throw this.relErr(
        i,
        `ld_imm64 against '${sym.name}' in section '${secName ?? sym.shndx}', which is no map and no global data`,
      );
    }
    const map = this.spec.maps[mapIdx];
    if (map.kind === 'btf') {
      ins.src = BPF_PSEUDO_MAP_FD;
      ins.imm = 0;
      this.mapRefs.push({ at: i, map: mapIdx, offset: null });
    } else {
      this.mapValue(i, mapIdx, ins.imm + (sym.type === 3 ? 0 : sym.value));
    }
  }

  private mapValue(i: number, map: number, offset: number): void {
    const ins = this.insns[i];
    ins.src = BPF_PSEUDO_MAP_VALUE;
    ins.imm = 0;
    this.insns[i + 1].imm = offset;
    this.mapRefs.push({ at: i, map, offset });
  }

  private kfuncCall(i: number, name: string): void {
    const ext = this.spec.externs.get(name);
    const ins = this.insns[i];
    ins.src = BPF_PSEUDO_KFUNC_CALL;
    ins.off = 0;
    const id = this.env.kfuncId(name);
    if (id === undefined) {
      if (ext?.weak) {
        ins.imm = 0;
        return;
      }
      throw new ErrnoError(
        'ENOENT',
        `program '${this.prog.name}': kfunc '${name}' (insn ${i}) is not one this machine has; declare it __weak to allow its absence`,
      );
    }
    ins.imm = id;
    this.kfuncs.add(name);
  }

  /**
   * bpf_ksym_exists(kfunc): an ld_imm64 of the kfunc's address. Ours is not
   * an address but only ever compared with 0: the id when the machine has
   * the kfunc, 0 for an absent __weak one (libbpf's value too).
   */
  private kfuncAddress(i: number, name: string, weak: boolean): void {
    const id = this.env.kfuncId(name);
    if (id === undefined && !weak)
      throw new ErrnoError(
        'ENOENT',
        `program '${this.prog.name}': kfunc '${name}' (insn ${i}) is not one this machine has`,
      );
    this.insns[i].src = 0;
    this.insns[i].imm = id ?? 0;
    this.insns[i + 1].imm = 0;
  }

  private applyCore(i: number, relo: CoreRelo): void {
    if (relo.kind !== BPF_CORE.TYPE_ID_LOCAL) {
      throw new ErrnoError(
        'EOPNOTSUPP',
        `program '${this.prog.name}' insn ${i}: CO-RE relocation ${coreKindName(relo.kind)} (type ${relo.typeId}, access '${relo.access}') needs the target kernel's BTF, which this machine has not; only BPF_CORE_TYPE_ID_LOCAL is applied`,
      );
    }
    const ins = this.insns[i];
    ins.imm = relo.typeId;
    if (ins.code === LDDW) this.insns[i + 1].imm = 0;
  }

  /** bpf_percpu_obj_new_impl(type id, meta): the verifier passes sizeof(type) instead. */
  private fixObjNewTypeIds(): void {
    const id = this.env.kfuncId('bpf_percpu_obj_new_impl');
    if (id === undefined || !this.kfuncs.has('bpf_percpu_obj_new_impl')) return;
    for (let i = 0; i < this.insns.length; i++) {
      const call = this.insns[i];
      if (call.code !== CALL || call.src !== BPF_PSEUDO_KFUNC_CALL || call.imm !== id) continue;
      const at = this.lastWriteOfR1(i);
      if (at < 0)
        throw this.relErr(
          i,
          'bpf_percpu_obj_new_impl: r1 is not a constant BTF type id (use bpf_percpu_obj_new(type))',
        );
      const ld = this.insns[at];
      const size = this.spec.btf.size(ld.imm);
      ld.imm = size;
      if (ld.code === LDDW) this.insns[at + 1].imm = 0;
    }
  }

  /** The index of the ld_imm64 or `mov r1, imm` that last sets r1 before `i` in straight-line code. */
  private lastWriteOfR1(i: number): number {
    for (let k = i - 1; k >= 0; k--) {
      const ins = this.insns[k];
      if (k > 0 && this.insns[k - 1].code === LDDW) continue;
      if ((ins.code & 0x07) === 0x05 || (ins.code & 0x07) === 0x06) return -1;
      if (ins.dst !== 1) continue;
      if (ins.code === LDDW || ins.code === 0xb7) return k;
      if ((ins.code & 0x07) === 0x04 || (ins.code & 0x07) === 0x07 || (ins.code & 0x07) === 0x01)
        return -1;
    }
    return -1;
  }

  private relErr(i: number, what: string): ErrnoError {
    const { func, idx } = this.origin[i];
    return new ErrnoError(
      'EINVAL',
      `program '${this.prog.name}': relocation at '${func.section.name}'+0x${(idx * 8).toString(16)} (insn ${i}): ${what}`,
    );
  }
}

function coreReloAt(spec: ObjectSpec, section: string, idx: number): CoreRelo | undefined {
  return spec.ext.coreRelos.get(section)?.find((r) => r.insn === idx);
}
