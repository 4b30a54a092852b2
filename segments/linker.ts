/**
 * The linker: collects variables into `.data`, `.bss` and `.data..percpu`
 * and lays them out. The per-CPU section follows the kernel's PERCPU_INPUT
 * (include/asm-generic/vmlinux.lds.h):
 *
 *     __per_cpu_start = .;
 *     *(.data..percpu..first)
 *     . = ALIGN(PAGE_SIZE);   *(.data..percpu..page_aligned)
 *     . = ALIGN(cacheline);   *(.data..percpu..read_mostly)
 *     . = ALIGN(cacheline);   *(.data..percpu)
 *                             *(.data..percpu..shared_aligned)
 *     __per_cpu_end = .;
 *
 * and is linked at 0, as on zero-based x86-64: a static per-CPU variable's
 * address is its offset in the template, which boot copies into every unit.
 * `..page_aligned` variables are page-aligned and `..shared_aligned` ones
 * cacheline-aligned, as DEFINE_PER_CPU_PAGE_ALIGNED and
 * DEFINE_PER_CPU_SHARED_ALIGNED make them.
 *
 * @example
 * const linker = new Linker();
 * linker.definePerCpu('counter', u64, 0n);
 * const image = linker.link(dataBase);
 * image.symbols.get('counter')?.address; // offset in .data..percpu
 */

import { alignUp, type CType, encodeValue, isPowerOfTwo } from './ctype.ts';
import { ErrnoError } from './errno.ts';
import { PAGE_SIZE } from './memory.ts';
import { type ImageSymbol, type SectionName, SymbolTable } from './symbol-table.ts';

/** x86-64 L1_CACHE_BYTES. */
export const CACHELINE = 64;

export const PERCPU_SUBSECTIONS = [
  'first',
  'page_aligned',
  'read_mostly',
  'plain',
  'shared_aligned',
] as const;
export type PercpuSubsection = (typeof PERCPU_SUBSECTIONS)[number];

/** The input section name of a per-CPU subsection. */
export function percpuSectionName(sub: PercpuSubsection): string {
  return sub === 'plain' ? '.data..percpu' : `.data..percpu..${sub}`;
}

export interface PlacementOptions {
  subsection?: PercpuSubsection;
  /** Alignment beyond the type's own; a power of two. */
  align?: number;
}

interface InputVar {
  name: string;
  type: CType;
  init: Uint8Array;
  align: number;
}

export interface LinkedImage {
  readonly symbols: SymbolTable;
  /** The `.data..percpu` template, zero-based: `__per_cpu_start` is 0. */
  readonly percpuTemplate: Uint8Array;
  /** `.data` then `.bss`, placed at the base given to `link`. */
  readonly data: { readonly base: number; readonly bytes: Uint8Array; readonly bssSize: number };
}

export class Linker {
  private readonly percpu = new Map<PercpuSubsection, InputVar[]>(
    PERCPU_SUBSECTIONS.map((s) => [s, []]),
  );
  private readonly dataVars: InputVar[] = [];
  private readonly bssVars: InputVar[] = [];
  private readonly names = new Set<string>();
  private linked = false;

  /** DEFINE_PER_CPU and its subsection variants. */
  definePerCpu(name: string, type: CType, init?: unknown, opts: PlacementOptions = {}): void {
    const sub = opts.subsection ?? 'plain';
    if (!PERCPU_SUBSECTIONS.includes(sub)) {
      throw new ErrnoError('EINVAL', `unknown per-CPU subsection '${sub}'`);
    }
    const implied = sub === 'page_aligned' ? PAGE_SIZE : sub === 'shared_aligned' ? CACHELINE : 1;
    this.percpu.get(sub)!.push(this.input(name, type, init, Math.max(implied, opts.align ?? 1)));
  }

  /** A global in `.data` with an initial value. */
  defineData(name: string, type: CType, init?: unknown, align = 1): void {
    this.dataVars.push(this.input(name, type, init, align));
  }

  /** A zero-initialized global in `.bss`. */
  defineBss(name: string, type: CType, align = 1): void {
    this.bssVars.push(this.input(name, type, undefined, align));
  }

  /** The size `.data..percpu` will have: `__per_cpu_end - __per_cpu_start`. */
  percpuSize(): number {
    return this.layoutPercpu().size;
  }

  /** Lays out every section; `.data` and `.bss` start at `dataBase`. */
  link(dataBase: number): LinkedImage {
    if (this.linked) throw new ErrnoError('EBUSY', 'the image is already linked');
    this.linked = true;
    const symbols = new SymbolTable();
    const percpuTemplate = this.linkPercpu(symbols);
    const data = this.linkData(symbols, dataBase);
    return { symbols, percpuTemplate, data };
  }

  private input(name: string, type: CType, init: unknown, align: number): InputVar {
    if (this.linked)
      throw new ErrnoError('EBUSY', `cannot define '${name}': the image is already linked`);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new ErrnoError('EINVAL', `'${name}' is not a C identifier`);
    }
    if (this.names.has(name)) throw new ErrnoError('EEXIST', `symbol '${name}' is already defined`);
    if (!isPowerOfTwo(align))
      throw new ErrnoError('EINVAL', `alignment ${align} of '${name}' is not a power of two`);
    this.names.add(name);
    return { name, type, init: encodeValue(type, init), align: Math.max(align, type.align) };
  }

  /** PERCPU_INPUT: where each per-CPU variable goes, and the section's size. */
  private layoutPercpu(): { placed: [InputVar, number][]; size: number } {
    let dot = 0;
    const placed: [InputVar, number][] = [];
    const place = (vars: InputVar[]) => {
      for (const v of vars) {
        dot = alignUp(dot, v.align);
        placed.push([v, dot]);
        dot += v.type.size;
      }
    };
    place(this.percpu.get('first')!);
    dot = alignUp(dot, PAGE_SIZE);
    place(this.percpu.get('page_aligned')!);
    dot = alignUp(dot, CACHELINE);
    place(this.percpu.get('read_mostly')!);
    dot = alignUp(dot, CACHELINE);
    place(this.percpu.get('plain')!);
    place(this.percpu.get('shared_aligned')!);
    return { placed, size: dot };
  }

  private linkPercpu(symbols: SymbolTable): Uint8Array {
    const { placed, size } = this.layoutPercpu();
    const template = new Uint8Array(size);
    for (const [v, at] of placed) {
      template.set(v.init, at);
      symbols.add(sym(v, '.data..percpu', at));
    }
    return template;
  }

  private linkData(symbols: SymbolTable, base: number) {
    let dot = base;
    const lay = (vars: InputVar[], section: SectionName) =>
      vars.map((v) => {
        dot = alignUp(dot, v.align);
        const at = dot;
        symbols.add(sym(v, section, at));
        dot += v.type.size;
        return [v, at] as const;
      });
    const data = lay(this.dataVars, '.data');
    const dataEnd = dot;
    lay(this.bssVars, '.bss');
    const bytes = new Uint8Array(dataEnd - base);
    for (const [v, at] of data) bytes.set(v.init, at - base);
    return { base, bytes, bssSize: dot - dataEnd };
  }
}

function sym(v: InputVar, section: SectionName, address: number): ImageSymbol {
  return { name: v.name, section, address, size: v.type.size, type: v.type };
}
