/**
 * The loader against libbpf's own reading of each fixture (libbpf 1.1
 * through bpftool 7.1): `bpftool -d gen skeleton -L` opens and relocates
 * the object (the light skeleton loads nothing into a kernel) and logs
 * each map with its attributes and each program with its code size and
 * the subprogram instructions appended to it. Our maps, their attributes,
 * global-data names and flags, and each program's relocated instruction
 * count must be what that log says. Skipped where bpftool or clang is absent.
 */

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BpfObject } from '../../loader/bpf-object.ts';
import { Machine } from '../../preempt/machine.ts';
import { availableBuilds, compileFixture, findBpftool } from './compile.ts';

const { builds } = availableBuilds();
const bpftool = findBpftool();
if (bpftool === null)
  console.log('bpftool not found (apt-get install bpftool): libbpf differential check skipped');

interface LibbpfView {
  maps: Map<string, Record<string, number>>;
  insns: Map<string, number>;
}

/** What libbpf's debug log says about maps and programs. */
function libbpfView(file: string): LibbpfView {
  const r = spawnSync(bpftool!, ['-d', 'gen', 'skeleton', '-L', file], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const maps = new Map<string, Record<string, number>>();
  const insns = new Map<string, number>();
  const map = (name: string) => maps.get(name) ?? maps.set(name, {}).get(name)!;
  for (const line of r.stderr.split('\n')) {
    let m =
      /map '(.+)': found (type|max_entries|map_flags|numa_node|map_extra|pinning) = (\d+)\./.exec(
        line,
      );
    if (m) map(m[1])[m[2]] = Number(m[3]);
    m = /map '(.+)': found (key|value) \[\d+\], sz = (\d+)\./.exec(line);
    if (m) map(m[1])[`${m[2]}_size`] = Number(m[3]);
    m = /map '(.+)' \(global data\): at sec_idx \d+, offset \d+, flags ([0-9a-f]+)\./.exec(line);
    if (m)
      Object.assign(map(m[1]), {
        type: 2,
        key_size: 4,
        max_entries: 1,
        map_flags: Number.parseInt(m[2], 16),
      });
    m =
      /sec '(.+)': found program '(.+)' at insn offset \d+ \(\d+ bytes\), code size (\d+) insns/.exec(
        line,
      );
    if (m && m[1] !== '.text') insns.set(m[2], Number(m[3]));
    m = /prog '(.+)': added (\d+) insns from sub-prog/.exec(line);
    if (m) insns.set(m[1], insns.get(m[1])! + Number(m[2]));
  }
  return { maps, insns };
}

describe.skipIf(builds.length === 0 || bpftool === null)(
  'the loader reads objects as libbpf does',
  () => {
    for (const build of builds) {
      for (const fixture of ['percpu_counter', 'lost_update', 'percpu_kptr']) {
        it(`${fixture} (${build.label}): maps, attributes and relocated instruction counts`, () => {
          const file = compileFixture(fixture, build);
          const theirs = libbpfView(file);
          const obj = BpfObject.openFile(file);
          for (const p of obj.programs) p.autoload = true;
          obj.load(new Machine({ cpus: 2 }).boot());
          const ours = new Map(
            obj.maps.map((m) => {
              const d = m.spec.def;
              const attrs: Record<string, number> = {
                type: d.type,
                max_entries: d.maxEntries,
                key_size: d.keySize,
              };
              if (m.spec.kind === 'btf') {
                attrs.value_size = d.valueSize;
                for (const [k, v] of [
                  ['map_flags', d.mapFlags],
                  ['numa_node', d.numaNode],
                  ['map_extra', d.mapExtra],
                  ['pinning', d.pinning],
                ] as const)
                  if (v !== 0) attrs[k] = v;
              } else attrs.map_flags = d.mapFlags;
              return [m.name, attrs] as const;
            }),
          );
          expect(ours).toEqual(theirs.maps);
          expect(new Map(obj.programs.map((p) => [p.name, p.insnCount]))).toEqual(theirs.insns);
        });
      }
    }
  },
);
