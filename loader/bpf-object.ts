/**
 * A compiled BPF object in libbpf's shape (`struct bpf_object`): open it
 * (parse only), set its `const volatile` globals and choose what to load,
 * load it into a booted machine (create its maps, relocate and load its
 * programs), then run its programs and read its maps and globals back.
 *
 * Load either succeeds whole or leaves the machine as it was: programs are
 * linked and validated before any map exists, and maps made before a
 * failure are closed again (also when a program passes a CPUMAP or DEVMAP
 * to a helper the verifier would not let it, which needs the maps). (Programs go into `.text` only once every map
 * exists, and nothing can fail after that.)
 *
 * @example
 * const obj = BpfObject.openFile('percpu_counter.bpf.o');
 * obj.rodata.step = 5n;
 * obj.load(k);
 * obj.program('count').testRun({ cpu: 1 }).retval; // 0
 * obj.bss.runs;                                     // 1n
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type LoadedProgram, loadProgram } from '../cpu/program.ts';
import { validate } from '../cpu/validate.ts';
import { BPF_MAP_TYPE, type BpfMapType } from '../maps/bpf-uapi.ts';
import { checkMapFuncCompatibility } from '../maps/map-func-compat.ts';
import { type BpfMapHandle, bpfMapCreate } from '../maps/syscall.ts';
import { BPF_PROG_TYPE, type BpfProgType } from '../preempt/bpf-prog-table.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { registerObjectOpener, type SpawnableObject } from '../preempt/spawnable-object.ts';
import { ErrnoError } from '../segments/errno.ts';
import { BpfProgram } from './bpf-program.ts';
import { BTF_KIND } from './btf.ts';
import { compileBpfC } from './clang.ts';
import { type GlobalStore, type GlobalValue, globalsView } from './globals-view.ts';
import { KCONFIG_NAMES, kconfigValue } from './kconfig.ts';
import { installLoaderHelpers } from './kernel-helpers.ts';
import { type LinkedProgram, linkProgram } from './link.ts';
import type { MapSpec, ObjectSpec } from './object-spec.ts';
import { openObject } from './open-object.ts';
import type { ProgType } from './sec-def.ts';

/** The BPF_PROG_TYPE each SEC() kind loads as. */
const PROG_TYPES: Record<ProgType, BpfProgType> = {
  xdp: BPF_PROG_TYPE.XDP,
  tracepoint: BPF_PROG_TYPE.TRACEPOINT,
  tracing: BPF_PROG_TYPE.TRACING,
  syscall: BPF_PROG_TYPE.SYSCALL,
};

/** Helpers only GPL-compatible programs may call (gpl_only in their bpf_func_proto). */
const GPL_ONLY_HELPERS = new Map([[6, 'bpf_trace_printk']]);

/** license_is_gpl_compatible (include/linux/license.h). */
export function isGplCompatible(license: string): boolean {
  return [
    'GPL',
    'GPL v2',
    'GPL and additional rights',
    'Dual BSD/GPL',
    'Dual MIT/GPL',
    'Dual MPL/GPL',
  ].includes(license);
}

/** A map of the object; `handle` once loaded. */
export class BpfObjectMap {
  handle: BpfMapHandle | null = null;

  constructor(readonly spec: MapSpec) {}

  get name(): string {
    return this.spec.name;
  }

  /** The map's fd; EBADF before load. */
  get fd(): number {
    return this.loaded().fd;
  }

  /** The handle of the created map (lookupElem, updateElem, ...); EBADF before load. */
  loaded(): BpfMapHandle {
    if (this.handle === null) throw new ErrnoError('EBADF', `map '${this.name}' is not loaded`);
    return this.handle;
  }
}

export class BpfObject implements SpawnableObject {
  readonly programs: readonly BpfProgram[];
  readonly maps: readonly BpfObjectMap[];
  /** The `.rodata`, `.data` and `.bss` variables, skeleton style (typed from BTF). */
  readonly rodata: Record<string, GlobalValue>;
  readonly data: Record<string, GlobalValue>;
  readonly bss: Record<string, GlobalValue>;
  private kernel: Kernel | null = null;

  private constructor(readonly spec: ObjectSpec) {
    this.programs = spec.programs.map((p) => new BpfProgram(p));
    this.maps = spec.maps.map((m) => new BpfObjectMap(m));
    this.rodata = this.globals('.rodata');
    this.data = this.globals('.data');
    this.bss = this.globals('.bss');
  }

  /**
   * bpf_object__open_mem: parses an object; `name` defaults to 'obj'.
   * Throws an ErrnoError for anything the loader would refuse.
   */
  static open(bytes: Uint8Array, opts: { name?: string } = {}): BpfObject {
    return new BpfObject(openObject(bytes, opts.name ?? 'obj'));
  }

  /** bpf_object__open_file: the object's name is the file name up to its first dot. */
  static openFile(file: string): BpfObject {
    const name = path.basename(file).split('.')[0];
    return BpfObject.open(readFileSync(file), { name });
  }

  get name(): string {
    return this.spec.name;
  }

  get license(): string {
    return this.spec.license;
  }

  /** The kernel it was loaded into, or null. */
  get machine(): Kernel | null {
    return this.kernel;
  }

  /** bpf_object__find_program_by_name; ENOENT listing the programs. */
  program(name: string): BpfProgram {
    const p = this.programs.find((x) => x.name === name);
    if (p === undefined) {
      throw new ErrnoError(
        'ENOENT',
        `no program '${name}' in '${this.name}' (it has ${this.programs.map((x) => x.name).join(', ')})`,
      );
    }
    return p;
  }

  /** bpf_object__find_map_by_name; ENOENT listing the maps. */
  map(name: string): BpfObjectMap {
    const m = this.maps.find((x) => x.name === name);
    if (m === undefined)
      throw new ErrnoError(
        'ENOENT',
        `no map '${name}' in '${this.name}' (it has ${this.maps.map((x) => x.name).join(', ')})`,
      );
    return m;
  }

  /** The variables of data section `section` (`.rodata`, `.data.custom`, ...); empty when it has none. */
  globals(section: string): Record<string, GlobalValue> {
    const index = this.spec.maps.findIndex((m) => m.data?.section.name === section);
    if (index < 0) return {};
    const spec = this.spec.maps[index];
    const data = spec.data!;
    const image: GlobalStore = {
      read: (off, size) => data.image.subarray(off, off + size),
      write: (off, bytes) => {
        if (this.kernel !== null)
          throw new ErrnoError('EPERM', `${section} is frozen: the object is loaded`);
        data.image.set(bytes, off);
      },
    };
    const store = (): GlobalStore => {
      const k = this.kernel;
      if (k === null) return image;
      const base = k.maps.directValue(this.maps[index].fd, 0);
      return {
        read: (off, size) => k.memory.readBytes(base + off, size),
        write: (off, bytes) => {
          if (data.kind === 'rodata')
            throw new ErrnoError('EPERM', `${section} is frozen: read-only after load`);
          k.memory.writeBytes(base + off, bytes);
        },
      };
    };
    return globalsView(this.spec.btf, section, data.vars, store);
  }

  /** Every global variable of every data section, by name (what `prog run` prints). */
  allGlobals(): Record<string, GlobalValue> {
    const out: Record<string, GlobalValue> = {};
    for (const m of this.spec.maps) {
      if (m.data === undefined) continue;
      Object.assign(out, Object.fromEntries(Object.entries(this.globals(m.data.section.name))));
    }
    return out;
  }

  /**
   * bpf_object__load: creates the maps on `k` (global data with its
   * initial values, `.rodata` frozen), links every program whose autoload
   * is on, and loads them into the machine. EBUSY when already loaded.
   */
  load(k: Kernel): this {
    if (this.kernel !== null)
      throw new ErrnoError('EBUSY', `object '${this.name}' is loaded already`);
    installLoaderHelpers(k);
    const kfuncId = (name: string) => k.kfuncs.byNameLookup(name)?.id;
    const chosen = this.programs.filter((p) => p.autoload);
    const linked = chosen.map((p) => {
      const l = linkProgram(this.spec, p.spec, { kfuncId });
      this.checkLicense(p.name, l);
      validateLinked(p.name, l);
      return l;
    });
    const kconfig = this.kconfigImage(k);
    const created: BpfMapHandle[] = [];
    try {
      for (const m of this.maps) {
        m.handle = this.createMap(k, m.spec, kconfig);
        created.push(m.handle);
      }
    } catch (e) {
      this.closeCreated(created);
      throw e;
    }
    try {
      chosen.forEach((p, n) => {
        const l = linked[n];
        for (const ref of l.mapRefs) l.insns[ref.at].imm = this.maps[ref.map].fd;
        checkMapFuncCompatibility(k.maps, { name: p.name, insns: l.insns });
      });
    } catch (e) {
      this.closeCreated(created);
      throw e;
    }
    const resolver = {
      mapByFd: (fd: number) => BigInt(k.maps.get(fd).addr),
      mapValueByFd: (fd: number, off: number) => BigInt(k.maps.directValue(fd, off)),
    };
    chosen.forEach((p, n) => {
      const l = linked[n];
      const loaded = loadProgram(l.insns, {
        name: p.name,
        symbols: l.symbols,
        lines: l.lines,
        resolver,
      });
      const info = k.progs.load(loaded, {
        name: p.name,
        type: PROG_TYPES[p.type],
        expectedAttachType: p.expectedAttachType,
      });
      p.attachLoaded(k, info.prog, l, info.fd);
    });
    this.kernel = k;
    return this;
  }

  /**
   * What `k.spawn({ object, program })` calls (preempt/spawnable-object.ts):
   * loads the object into `k` on first use; EBUSY when it is loaded into
   * another kernel.
   */
  taskProgram(k: Kernel, program: string): { program: LoadedProgram; args: readonly number[] } {
    if (this.kernel === null) this.load(k);
    else if (this.kernel !== k)
      throw new ErrnoError(
        'EBUSY',
        `object '${this.name}' is loaded into another machine: open it again for this one`,
      );
    return this.program(program).taskProgram();
  }

  /** Closes every map (the process's fds); the programs stay in `.text` but cannot run. */
  close(): void {
    for (const m of this.maps) {
      m.handle?.close();
      m.handle = null;
    }
    for (const p of this.programs) p.detach();
    this.kernel = null;
  }

  /** Undoes a failed load: the maps made so far are closed. */
  private closeCreated(created: readonly BpfMapHandle[]): void {
    for (const h of created) h.close();
    for (const m of this.maps) m.handle = null;
  }

  private checkLicense(prog: string, l: LinkedProgram): void {
    if (isGplCompatible(this.license)) return;
    const gplOnly = [...l.helpers]
      .filter((h) => GPL_ONLY_HELPERS.has(h))
      .map((h) => GPL_ONLY_HELPERS.get(h)!);
    const names = [...gplOnly, ...l.kfuncs];
    if (names.length > 0) {
      throw new ErrnoError(
        'EINVAL',
        `program '${prog}': cannot call GPL-restricted function ${names[0]} from a program whose license '${this.license}' is not GPL-compatible`,
      );
    }
  }

  private createMap(k: Kernel, spec: MapSpec, kconfig: Uint8Array | null): BpfMapHandle {
    const d = spec.def;
    const handle = bpfMapCreate(
      k,
      d.type as BpfMapType,
      spec.name.slice(0, 15),
      d.keySize,
      d.valueSize,
      // libbpf sizes a PERF_EVENT_ARRAY without max_entries to the possible CPUs.
      d.type === BPF_MAP_TYPE.PERF_EVENT_ARRAY && d.maxEntries === 0 ? k.nrCpus : d.maxEntries,
      {
        mapFlags: d.mapFlags,
        spinLockOff: this.spinLockOff(d.valueType),
      },
    );
    const init = spec.data?.image ?? (spec.kind === 'kconfig' ? kconfig : null);
    if (init !== null) {
      handle.updateElem(new Uint8Array(4), init);
      if ((d.mapFlags & 0x80) !== 0) handle.freeze();
    }
    return handle;
  }

  /** The offset of a top-level `struct bpf_spin_lock` member of the value type, as map_check_btf finds it. */
  private spinLockOff(valueType: number): number | undefined {
    if (valueType === 0) return undefined;
    const btf = this.spec.btf;
    const t = btf.skipModifiers(valueType);
    if (t.kind !== BTF_KIND.STRUCT) return undefined;
    const m = t.members.find((x) => btf.skipModifiers(x.type).name === 'bpf_spin_lock');
    return m === undefined ? undefined : m.offset / 8;
  }

  /** The `.kconfig` map's value for `k`; null without kconfig externs. */
  private kconfigImage(k: Kernel): Uint8Array | null {
    const spec = this.spec.maps.find((m) => m.kind === 'kconfig');
    if (spec === undefined) return null;
    const image = new Uint8Array(spec.def.valueSize);
    const view = new DataView(image.buffer);
    for (const e of this.spec.externs.values()) {
      if (e.kind !== 'kconfig') continue;
      const v = kconfigValue(k, e.name);
      if (v === undefined && !e.weak) {
        throw new ErrnoError(
          'ENOENT',
          `__kconfig extern '${e.name}' is not a value this machine has (it has ${KCONFIG_NAMES.join(', ')}); declare it __weak to read 0`,
        );
      }
      const value = v ?? 0n;
      if (e.size === 8) view.setBigUint64(e.offset, value, true);
      else if (e.size === 4) view.setUint32(e.offset, Number(value), true);
      else if (e.size === 2) view.setUint16(e.offset, Number(value), true);
      else image[e.offset] = Number(value);
    }
    return image;
  }
}

// k.spawn({ object: 'x.bpf.c', program }) opens files through the loader.
registerObjectOpener((file) =>
  file.endsWith('.c')
    ? BpfObject.open(compileBpfC(file), { name: path.basename(file).split('.')[0] })
    : BpfObject.openFile(file),
);

/** The encoding checks of cpu/validate.ts, before any map exists; the error names the program. */
function validateLinked(name: string, l: LinkedProgram): void {
  try {
    validate(l.insns);
  } catch (e) {
    if (e instanceof ErrnoError) throw new ErrnoError(e.errno, `program '${name}': ${e.detail}`);
    throw e;
  }
}
