/**
 * What `percpu-emu prog show|dump|run` do (commands/prog.ts declares them):
 * open an object as libbpf does, print it, disassemble it, or load it and
 * test-run its programs.
 *
 * @example
 * process.exitCode = show(openObject('counter.bpf.o'));
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { disassembleInsn } from '../../cpu/disasm.ts';
import { LDDW } from '../../cpu/opcodes.ts';
import { BpfObject } from '../../loader/bpf-object.ts';
import { compileBpfC } from '../../loader/clang.ts';
import type { GlobalValue } from '../../loader/globals-view.ts';
import { mapTypeName } from '../../maps/bpf-uapi.ts';
import { netOf } from '../../nic/net-setup.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { sourceLocation } from '../../preempt/oops.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { EXIT_FAILED, EXIT_OK, InputError } from './exit-status.ts';

export interface ProgRunFlags {
  prog: string[];
  cpu: number;
  cpus: number;
  set: [string, string][];
  dataIn?: string;
  repeat: number;
  json?: boolean;
}

/** The object in `file`: a `.o`, or a `.c` compiled with clang first. */
export function openObject(file: string): BpfObject {
  const name = path.basename(file).split('.')[0];
  let bytes: Uint8Array;
  try {
    bytes = file.endsWith('.c') ? compileBpfC(file) : readFileSync(file);
  } catch (e) {
    if (e instanceof ErrnoError) throw e;
    throw new InputError(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return BpfObject.open(bytes, { name });
  } catch (e) {
    if (e instanceof ErrnoError) throw new InputError(`${file}: ${e.message}`);
    throw e;
  }
}

export function show(obj: BpfObject): number {
  const out: string[] = [`object '${obj.name}', license '${obj.license}'`, '', 'sections:'];
  for (const s of obj.spec.elf.sections.slice(1)) {
    if (s.name.startsWith('.debug') || s.name.startsWith('.rel') || s.name === '.llvm_addrsig')
      continue;
    out.push(`  [${s.index}] ${s.name.padEnd(28)} ${String(s.size).padStart(6)} bytes`);
  }
  out.push('', 'programs:');
  for (const p of obj.programs) {
    out.push(
      `  ${p.name}: ${p.type} sec '${p.section}' ${p.insnCount} insns${p.autoload ? '' : ' (autoload off)'}`,
    );
  }
  out.push('', 'maps:');
  for (const m of obj.maps) {
    const d = m.spec.def;
    out.push(
      `  ${m.name}: ${mapTypeName(d.type)} key ${d.keySize}B value ${d.valueSize}B max_entries ${d.maxEntries} flags 0x${d.mapFlags.toString(16)}${d.pinning ? ' pinned by name' : ''}`,
    );
  }
  out.push('', 'globals:');
  for (const m of obj.spec.maps) {
    if (m.data === undefined) continue;
    const view = obj.globals(m.data.section.name);
    for (const v of m.data.vars) {
      const type = v.typeId === 0 ? `${v.size} bytes` : obj.spec.btf.describe(v.typeId);
      out.push(`  ${m.data.section.name} +${v.offset} ${type} ${v.name} = ${format(view[v.name])}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT_OK;
}

export function dump(obj: BpfObject, only: string | undefined): number {
  if (only !== undefined) obj.program(only);
  for (const p of obj.programs) p.autoload = only === undefined || p.name === only;
  obj.load(new Machine({ cpus: 1 }).boot());
  const out: string[] = [];
  for (const p of obj.programs.filter((x) => x.autoload)) {
    const prog = p.loaded;
    out.push(`${p.name}: sec '${p.section}', ${p.type}, ${prog.length} insns`);
    let lastLine = '';
    for (let i = 0; i < prog.length; i++) {
      const label = prog.symbols.get(i);
      if (label !== undefined && i > 0) out.push(`${label}:`);
      const src = prog.sourceLine(i);
      const here =
        src === undefined || src.line === 0 ? '' : `; ${src.text} [${sourceLocation(src)}]`;
      if (here !== '' && here !== lastLine) out.push(here);
      lastLine = here || lastLine;
      out.push(
        `${String(i).padStart(5)}: ${disassembleInsn(prog.insns, i, { helperNames: true })}`,
      );
      if (prog.insns[i].code === LDDW) i++;
    }
    out.push('');
  }
  process.stdout.write(out.join('\n'));
  return EXIT_OK;
}

export function runPrograms(file: string, a: ProgRunFlags): number {
  const obj = openObject(file);
  for (const [name, text] of a.set) setGlobal(obj, name, text);
  for (const name of a.prog) obj.program(name).autoload = true;
  const k = new Machine({ cpus: a.cpus }).boot();
  // XDP programs call its helpers (bpf_redirect_map ...); it also registers CPUMAP and DEVMAP.
  if (obj.programs.some((p) => p.type === 'xdp')) netOf(k);
  obj.load(k);
  const dataIn = a.dataIn === undefined ? undefined : new Uint8Array(readFileSync(a.dataIn));
  const programs: {
    name: string;
    cpu: number;
    retval: number;
    duration: number;
    printk: string[];
  }[] = [];
  let reports = 0;
  for (const name of a.prog) {
    const seen = printkCount(k);
    const r = obj.program(name).testRun({ cpu: a.cpu, repeat: a.repeat, dataIn });
    const printk = printkLines(k).slice(seen);
    programs.push({ name, cpu: a.cpu, retval: r.retval, duration: r.duration, printk });
    for (const rep of r.reports) process.stderr.write(`${rep.lines.join('\n')}\n`);
    reports += r.reports.length;
  }
  const globals = Object.fromEntries(
    Object.entries(obj.allGlobals()).map(([n, v]) => [n, jsonValue(v)]),
  );
  const maps: Record<string, Record<string, unknown>> = {};
  for (const m of obj.maps) maps[m.name] = mapContents(m.loaded());
  if (a.json) {
    process.stdout.write(`${JSON.stringify({ programs, globals, maps }, null, 2)}\n`);
    return reports > 0 ? EXIT_FAILED : EXIT_OK;
  }
  const out: string[] = [];
  for (const p of programs) {
    out.push(`${p.name} on CPU ${p.cpu}: retval ${p.retval} (${p.duration} insns per run)`);
    for (const line of p.printk) out.push(`  bpf_trace_printk: ${line}`);
  }
  out.push('', 'globals:');
  for (const [n, v] of Object.entries(globals)) out.push(`  ${n} = ${JSON.stringify(v)}`);
  out.push('', 'maps:');
  for (const [n, contents] of Object.entries(maps)) out.push(`  ${n}: ${JSON.stringify(contents)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return reports > 0 ? EXIT_FAILED : EXIT_OK;
}

function setGlobal(obj: BpfObject, name: string, text: string): void {
  for (const m of obj.spec.maps) {
    if (m.data === undefined || !m.data.vars.some((v) => v.name === name)) continue;
    const view = obj.globals(m.data.section.name);
    const current = view[name];
    if (typeof current === 'bigint') view[name] = BigInt(text);
    else if (typeof current === 'number') view[name] = Number(text);
    else if (typeof current === 'boolean') view[name] = text === 'true' || text === '1';
    else
      throw new ErrnoError(
        'EINVAL',
        `--set ${name}: only integer globals can be set from the command line`,
      );
    return;
  }
  throw new ErrnoError(
    'ENOENT',
    `--set ${name}: no global '${name}' (it has ${Object.keys(obj.allGlobals()).join(', ')})`,
  );
}

function printkLines(k: Kernel): string[] {
  const events = k.tracer?.events() ?? [];
  return events.flatMap((e) => (e.type === 'bpf_trace_printk' ? [e.text] : []));
}

function printkCount(k: Kernel): number {
  return printkLines(k).length;
}

/** Keys and values as numbers when they are 1, 2, 4 or 8 bytes, hex otherwise; per-CPU values as arrays. */
function mapContents(h: ReturnType<BpfObject['maps'][number]['loaded']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const map = h.map;
  for (const key of h.keys()) {
    const value = lookupPresent(h, key);
    if (value === null) continue;
    const shown = map.percpu
      ? Array.from({ length: value.length / map.percpuStride }, (_, c) =>
          bytesValue(value.subarray(c * map.percpuStride, c * map.percpuStride + map.valueSize)),
        )
      : bytesValue(value);
    out[String(bytesValue(key))] = shown;
  }
  return out;
}

/** The value of `key`, or null for a slot get_next_key lists but lookup finds empty (CPUMAP, DEVMAP), as bpftool skips it. */
function lookupPresent(
  h: ReturnType<BpfObject['maps'][number]['loaded']>,
  key: Uint8Array,
): Uint8Array | null {
  try {
    return h.lookupElem(key);
  } catch (e) {
    if (e instanceof ErrnoError && e.errno === 'ENOENT') return null;
    throw e;
  }
}

function bytesValue(b: Uint8Array): number | string {
  if (![1, 2, 4, 8].includes(b.length)) return Buffer.from(b).toString('hex');
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

function jsonValue(v: GlobalValue): unknown {
  if (typeof v === 'bigint')
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return v;
}

function format(v: GlobalValue): string {
  return JSON.stringify(jsonValue(v));
}
