/**
 * Bad input gets a clear error (an errno and a sentence naming what is
 * wrong) and leaves the machine untouched: no map, no program, the next
 * good object loads as if nothing had happened. Also what the `variants`
 * fixture exercises that the others do not: bpf_loop callbacks, __kconfig
 * externs, a __weak kfunc the machine lacks, helpers 14-16, an XDP
 * context, and an oops naming the C source line.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BpfObject } from '../../loader/bpf-object.ts';
import { Machine } from '../../preempt/machine.ts';
import { availableBuilds, compileFixture } from './compile.ts';

const { builds } = availableBuilds();

describe.skipIf(builds.length === 0)('refused objects', () => {
  const build = builds[0];
  const variant = (flag?: string) =>
    compileFixture('variants', build, flag === undefined ? [] : [`-D${flag}`]);
  const good = () => readFileSync(compileFixture('percpu_counter', build));
  const patched = (at: number, value: number) => {
    const b = good().slice();
    b[at] = value;
    return b;
  };

  it.each([
    [
      'not an ELF',
      () => new TextEncoder().encode('#!/bin/sh\necho hi\n'),
      /^ENOEXEC: not an ELF file/,
    ],
    ['a 32-bit ELF', () => patched(4, 1), /^ENOEXEC: ELF class 1 is not ELFCLASS64/],
    [
      'big-endian',
      () => patched(5, 2),
      /^ENOEXEC: ELF data encoding 2 is not little-endian .* not bpfeb/,
    ],
    ['another machine', () => patched(0x12, 62), /^ENOEXEC: e_machine 62 is not EM_BPF \(247\)/],
    [
      'truncated section headers',
      () => good().subarray(0, good().length - 100),
      /^EINVAL: section headers at offset \d+ .* run past the end/,
    ],
  ])('%s', (_what, bytes, error) => {
    expect(() => BpfObject.open(bytes())).toThrow(error);
  });

  it('no BTF: compile with -g', () => {
    const noBtf = compileFixture('percpu_counter', build, ['-g0']);
    expect(() => BpfObject.openFile(noBtf)).toThrow(
      /^EINVAL: the object has no .BTF section: compile with clang -g$/,
    );
  });

  it('-O0: compile with -O2', () => {
    const o0 = compileFixture('percpu_counter', build, ['-O0']);
    expect(() => BpfObject.openFile(o0)).toThrow(
      /EINVAL: section '.*' insn \d+ calls through a register \(callx\): an unoptimised \(-O0\) object; compile with clang -O2/,
    );
  });

  it.each([
    [
      'UNKNOWN_MAP',
      /^EOPNOTSUPP: map 'socks': type 15 is not a map type this machine implements \(BPF_MAP_TYPE_ARRAY, /,
    ],
    ['LEGACY_MAPS', /^EOPNOTSUPP: legacy map definitions in SEC\("maps"\)/],
    [
      'UNKNOWN_SECTION',
      /^ENOTSUPP: program section 'kprobe\/do_sys_open' is not one this loader knows; known: xdp\/cpumap, .*fentry\/<name>, .*syscall$/,
    ],
  ])('at open: %s', (flag, error) => {
    expect(() => BpfObject.openFile(variant(flag))).toThrow(error);
  });

  it.each([
    [
      'UNKNOWN_KFUNC',
      /^ENOENT: program 'calls_missing': kfunc 'bpf_no_such_kfunc' \(insn 0\) is not one this machine has; declare it __weak/,
    ],
    [
      'UNKNOWN_KCONFIG',
      /^ENOENT: __kconfig extern 'CONFIG_NO_SUCH_OPTION' is not a value this machine has \(it has LINUX_KERNEL_VERSION, /,
    ],
    [
      'NOT_GPL',
      /^EINVAL: program 'prints': cannot call GPL-restricted function bpf_trace_printk from a program whose license 'Proprietary' is not GPL-compatible$/,
    ],
  ])('at load, leaving the machine untouched: %s', (flag, error) => {
    const k = new Machine({ cpus: 2 }).boot();
    const obj = BpfObject.openFile(variant(flag));
    expect(() => obj.load(k)).toThrow(error);
    expect(k.maps.entries()).toEqual([]);
    expect(k.image.symbols.all().filter((s) => s.section === '.text')).toEqual([]);
    const next = BpfObject.openFile(compileFixture('percpu_counter', build)).load(k);
    expect(next.maps[0].fd).toBe(3);
    expect(next.program('count').testRun().retval).toBe(0);
  });

  it('a relocation against a symbol that is not there', () => {
    const bytes = readFileSync(compileFixture('percpu_counter', build)).slice();
    const obj = BpfObject.open(bytes);
    const relSec = obj.spec.elf.sections.find((s) => s.name === '.relsyscall')!;
    // Point the first relocation at a symbol index past the table.
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(relSec.offset + 12, 9999, true);
    expect(() => BpfObject.open(bytes)).toThrow(
      /^EINVAL: '.relsyscall' entry at offset 0: symbol 9999 does not exist/,
    );
  });
});

describe.skipIf(builds.length === 0)('the variants fixture', () => {
  const build = builds[0];
  const load = (cpus: number) => {
    const obj = BpfObject.openFile(compileFixture('variants', build));
    const k = new Machine({ cpus }).boot();
    return { obj: obj.load(k), k };
  };

  it('bpf_loop callbacks, __kconfig externs, an absent __weak kfunc, helpers 14-16', () => {
    const { obj } = load(3);
    const r = obj.program('features').testRun({ cpu: 2 });
    // sum of 0..9 (the callback stops at 9), CONFIG_NR_CPUS 3, LINUX_KERNEL_VERSION 6.1.0
    expect(r.retval).toBe(45 + 3 * 1000 + 6 * 100000);
    expect(obj.bss.loops).toBe(10n);
    const pid = BigInt(Number(obj.bss.pid_tgid) & 0xffffffff);
    expect(obj.bss.pid_tgid).toBe((pid << 32n) | pid);
    expect(obj.bss.uid_gid).toBe(0n);
    expect(new TextDecoder().decode(obj.bss.comm as Uint8Array).replace(/\0+$/, '')).toBe(
      'features',
    );
  });

  it('an oops in a loaded program names the function and the C source line', () => {
    const { obj } = load(2);
    const { reports } = obj.program('null_deref').testRun({ cpu: 1 });
    expect(reports).toHaveLength(1);
    expect(reports[0].lines).toContain('RIP: null_deref+0x18/0x30');
    expect(reports[0].lines).toContain('at variants.bpf.c:84: return *p + 1;');
  });

  it('XDP: an xdp_md over the packet (data, data_end)', () => {
    const { obj } = load(2);
    const xdp = obj.program('xdp_count_bytes');
    expect(xdp.type).toBe('xdp');
    expect(xdp.testRun({ dataIn: new Uint8Array([0x45, 0]) }).retval).toBe(2); // XDP_PASS
    expect(xdp.testRun({ dataIn: new Uint8Array([0x60]) }).retval).toBe(3); // XDP_TX
    const empty = xdp.testRun({ dataIn: new Uint8Array(0), repeat: 3 });
    expect(empty.retval).toBe(1); // XDP_DROP
    expect(empty.dataOut).toEqual(new Uint8Array(0));
  });
});
