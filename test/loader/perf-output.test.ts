/**
 * bpf_perf_event_output from clang-compiled C (fixtures/perf_output.bpf.c,
 * after the kernel's prog_tests/perf_buffer.c): a BTF-defined
 * PERF_EVENT_ARRAY without max_entries sized to the CPUs as libbpf does,
 * a perf buffer over it, and each run's event read back from the ring of
 * the CPU it ran on, under every compiler build.
 */

import { describe, expect, it } from 'vitest';
import { BpfObject } from '../../loader/bpf-object.ts';
import { PerfBuffer } from '../../maps/perf-buffer.ts';
import { Machine } from '../../preempt/machine.ts';
import { availableBuilds, compileFixture } from './compile.ts';

const { builds, skipped } = availableBuilds();
for (const why of skipped) console.log(`perf output tests skipped for one compiler: ${why}`);

describe.skipIf(builds.length === 0)('bpf_perf_event_output from C', () => {
  for (const build of builds) {
    it(`${build.label}: events reach the ring of the CPU that sent them, in order`, () => {
      const obj = BpfObject.openFile(compileFixture('perf_output', build));
      const k = new Machine({ cpus: 3 }).boot();
      obj.load(k);
      const events = obj.map('perf_buf_map').loaded();
      expect(events.map.maxEntries).toBe(3);
      const seen: string[] = [];
      const pb = PerfBuffer.open(events, 1, {
        sample: (cpu, data, size) => {
          const v = new DataView(data.buffer, data.byteOffset);
          expect(size).toBe(20); // round_up(16 + 4, 8) - 4
          expect(v.getBigUint64(8, true)).toBe(0xfeedf00dn);
          seen.push(`ring ${cpu}: cpu ${v.getUint32(0, true)} seq ${v.getUint32(4, true)}`);
        },
      });
      for (const cpu of [2, 0, 2, 1]) {
        expect(obj.program('emit').testRun({ cpu, dataIn: new Uint8Array(64) }).retval).toBe(2);
        expect(obj.bss.last_err).toBe(0n);
      }
      expect(pb.poll()).toBe(3);
      expect(seen).toEqual([
        'ring 0: cpu 0 seq 1',
        'ring 1: cpu 1 seq 3',
        'ring 2: cpu 2 seq 0',
        'ring 2: cpu 2 seq 2',
      ]);
      pb.free();
      obj.program('emit').testRun({ dataIn: new Uint8Array(64) });
      expect(obj.bss.last_err).toBe(-2n); // ENOENT: the buffer emptied its slots
    });
  }
});
