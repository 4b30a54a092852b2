/**
 * The ELF, BTF and .BTF.ext readers on our C fixtures, each build checked
 * against LLVM's and libbpf's own reading: sections, symbols and
 * relocations against `llvm-readelf`, every BTF type against
 * `bpftool btf dump file` (raw format, line for line), line_info against
 * the C source. Then fast-check truncates and corrupts real objects and
 * requires that only typed errors (ErrnoError) come out.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BpfObject } from '../../loader/bpf-object.ts';
import { parseBtf } from '../../loader/btf.ts';
import { parseBtfExt } from '../../loader/btf-ext.ts';
import { parseElf } from '../../loader/elf.ts';
import { ErrnoError } from '../../segments/errno.ts';
import { btfRawDump } from './btf-raw-dump.ts';
import { availableBuilds, compileFixture, findBpftool, fixtureSource } from './compile.ts';

const FIXTURE_NAMES = ['percpu_counter', 'lost_update', 'percpu_kptr'];
const { builds, skipped } = availableBuilds();
for (const why of skipped) console.log(`loader ELF/BTF checks skipped for one compiler: ${why}`);
const bpftool = findBpftool();
if (bpftool === null)
  console.log('bpftool not found (apt-get install bpftool): BTF dump cross-check skipped');
const readelf = spawnSync('llvm-readelf', ['--version']).status === 0 ? 'llvm-readelf' : null;
if (readelf === null)
  console.log('llvm-readelf not found (apt-get install llvm): ELF cross-check skipped');

const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

describe.skipIf(builds.length === 0)('ELF and BTF of compiled fixtures', () => {
  for (const build of builds) {
    for (const fixture of FIXTURE_NAMES) {
      const file = () => compileFixture(fixture, build);
      const bytes = () => readFileSync(file());

      it.skipIf(readelf === null)(
        `${fixture} (${build.label}): sections, symbols, relocations as llvm-readelf reads them`,
        () => {
          const elf = parseElf(bytes());
          const sections = run(readelf!, ['-S', '-W', file()])
            .split('\n')
            .map((l) =>
              /^\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+[0-9a-f]{16}\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(l),
            )
            .filter((m) => m !== null && m[1] !== '0')
            .map((m) => ({
              index: Number(m![1]),
              name: m![2],
              offset: Number.parseInt(m![4], 16),
              size: Number.parseInt(m![5], 16),
            }));
          expect(
            elf.sections
              .slice(1)
              .map((s) => ({ index: s.index, name: s.name, offset: s.offset, size: s.size })),
          ).toEqual(sections);

          const symbols = run(readelf!, ['-s', '-W', file()])
            .split('\n')
            .map((l) =>
              /^\s*(\d+):\s+([0-9a-f]+)\s+(\d+)\s+(\w+)\s+(\w+)\s+\w+\s+(\w+)\s*(\S*)/.exec(l),
            )
            .filter((m) => m !== null)
            .map((m) => ({
              value: Number.parseInt(m![2], 16),
              size: Number(m![3]),
              name: m![7],
              ndx: m![6],
            }));
          expect(
            elf.symbols.map((s) => ({
              value: s.value,
              size: s.size,
              name: s.type === 3 ? elf.sections[s.shndx].name : s.name,
              ndx: s.shndx === 0 ? 'UND' : s.shndx === 0xfff1 ? 'ABS' : String(s.shndx),
            })),
          ).toEqual(symbols);

          const rels: string[] = [];
          for (const [target, list] of elf.rels) {
            if (
              elf.sections[target].name.startsWith('.debug') ||
              elf.sections[target].name.startsWith('.BTF')
            )
              continue;
            for (const r of list)
              rels.push(
                `${elf.sections[target].name} ${r.offset} ${r.type === 1 ? 'R_BPF_64_64' : r.type === 10 ? 'R_BPF_64_32' : r.type} ${r.sym.name || elf.sections[r.sym.shndx].name}`,
              );
          }
          const theirs: string[] = [];
          let current = '';
          for (const line of run(readelf!, ['-r', '-W', file()]).split('\n')) {
            const head = /^Relocation section '\.rel(.*)' at/.exec(line);
            if (head !== null) current = head[1];
            const m = /^([0-9a-f]{16})\s+[0-9a-f]{16}\s+(R_BPF_\w+)\s+[0-9a-f]{16}\s+(\S+)/.exec(
              line,
            );
            if (m !== null && !current.startsWith('.debug') && !current.startsWith('.BTF'))
              theirs.push(`${current} ${Number.parseInt(m[1], 16)} ${m[2]} ${m[3]}`);
          }
          expect(rels).toEqual(theirs);
        },
      );

      it.skipIf(bpftool === null)(
        `${fixture} (${build.label}): every BTF type as bpftool btf dump prints it`,
        () => {
          const btf = parseBtf(parseElf(bytes()).section('.BTF')!.data);
          const theirs = run(bpftool!, ['btf', 'dump', 'file', file()]).trimEnd().split('\n');
          expect(btfRawDump(btf)).toEqual(theirs);
        },
      );

      it(`${fixture} (${build.label}): line_info names lines of the C source; func_info names the functions`, () => {
        const elf = parseElf(bytes());
        const btf = parseBtf(elf.section('.BTF')!.data);
        const ext = parseBtfExt(elf.section('.BTF.ext')!.data, btf);
        const source = readFileSync(fixtureSource(fixture), 'utf8').split('\n');
        let lines = 0;
        for (const [sec, infos] of ext.lineInfo) {
          expect(elf.section(sec)).toBeDefined();
          for (const l of infos) {
            expect(l.file.endsWith(`${fixture}.bpf.c`)).toBe(true);
            if (l.line === 0) continue; // clang 14: code of no particular line
            expect(source[l.line - 1].trim()).toBe(l.text);
            lines++;
          }
        }
        expect(lines).toBeGreaterThan(10);
        const funcs = [...ext.funcInfo.values()].flat().map((f) => btf.type(f.typeId).name);
        const obj = BpfObject.open(bytes());
        expect(funcs.sort()).toEqual(
          [...obj.programs.map((p) => p.name), ...obj.spec.subprogs.map((s) => s.name)].sort(),
        );
      });
    }
  }

  it('truncated and corrupted objects give only typed errors (fast-check)', () => {
    const build = builds[0];
    const objects = FIXTURE_NAMES.map((f) => readFileSync(compileFixture(f, build)));
    fc.assert(
      fc.property(
        fc.nat(objects.length - 1),
        fc.oneof(
          fc.record({ cut: fc.double({ min: 0, max: 1, noNaN: true }) }),
          fc.record({
            flips: fc.array(
              fc.tuple(
                fc.double({ min: 0, max: 1, noNaN: true }),
                fc.integer({ min: 1, max: 255 }),
              ),
              { minLength: 1, maxLength: 8 },
            ),
          }),
        ),
        (which, how) => {
          const original = objects[which];
          let bytes: Uint8Array;
          if ('cut' in how) bytes = original.subarray(0, Math.floor(how.cut * original.length));
          else {
            bytes = original.slice();
            for (const [at, x] of how.flips) bytes[Math.floor(at * (bytes.length - 1))] ^= x;
          }
          try {
            BpfObject.open(bytes);
          } catch (e) {
            if (!(e instanceof ErrnoError)) throw e;
            expect(e.message).toMatch(/^E[A-Z0-9]+: ./);
          }
        },
      ),
      { numRuns: 400, seed: 12 },
    );
  });
});
