/**
 * bpf_tail_call from clang-compiled C (fixtures/tailcall.bpf.c, after the
 * kernel's tailcall2.c and tailcall3.c): a BTF-defined PROG_ARRAY filled
 * from userspace with the programs' fds, MAX_TAIL_CALL_CNT counted in a
 * global, and a chain cut where a slot is emptied, under every compiler
 * build.
 */

import { describe, expect, it } from 'vitest';
import { BpfObject } from '../../loader/bpf-object.ts';
import { Machine } from '../../preempt/machine.ts';
import { u32b } from '../maps/map-bytes.ts';
import { availableBuilds, compileFixture } from './compile.ts';

const { builds, skipped } = availableBuilds();
for (const why of skipped) console.log(`tail call tests skipped for one compiler: ${why}`);

describe.skipIf(builds.length === 0)('bpf_tail_call from C', () => {
  for (const build of builds) {
    it(`${build.label}: tailcall_3's limit of 33, then a chain 0 -> 1 -> 2 cut at its end`, () => {
      const obj = BpfObject.openFile(compileFixture('tailcall', build));
      obj.load(new Machine({ cpus: 2 }).boot());
      const jmp = obj.map('jmp_table').loaded();
      const fd = (name: string) => obj.program(name).fd;
      jmp.updateElem(u32b(0), u32b(fd('classifier_0')));
      expect(obj.program('entry').testRun({ dataIn: new Uint8Array(64) }).retval).toBe(1);
      expect(obj.bss.count).toBe(33);

      obj.bss.count = 0;
      obj.bss.next_slot = 1;
      jmp.updateElem(u32b(1), u32b(fd('classifier_1')));
      jmp.updateElem(u32b(2), u32b(fd('classifier_2')));
      expect(obj.program('entry').testRun({ cpu: 1, dataIn: new Uint8Array(64) }).retval).toBe(22);
      expect(obj.bss.count).toBe(1);
      jmp.deleteElem(u32b(2));
      expect(obj.program('entry').testRun({ dataIn: new Uint8Array(64) }).retval).toBe(11);
      jmp.deleteElem(u32b(0));
      expect(obj.program('entry').testRun({ dataIn: new Uint8Array(64) }).retval).toBe(0);
    });
  }
});
