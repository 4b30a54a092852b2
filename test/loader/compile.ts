/**
 * Compiles the C fixtures of test/loader/fixtures at test time (no .o is
 * committed): `clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu`
 * into a temporary directory, with clang 14 (Debian 12's default; cpu v1 or
 * -mcpu=v3) or clang 19 (-mcpu=v4). Where a compiler or libbpf-dev's
 * headers are missing, `findClang` says why, and the tests skip with that
 * sentence printed.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const FIXTURES = path.join(import.meta.dirname, 'fixtures');
/** The C sources the shipped scenarios run, also compiled by the tests. */
const SCENARIO_C = path.join(import.meta.dirname, '../../scenarios/c');

/** fixtures/<name>.bpf.c, or scenarios/c/<name>.bpf.c. */
export function fixtureSource(name: string): string {
  const own = path.join(FIXTURES, `${name}.bpf.c`);
  return existsSync(own) ? own : path.join(SCENARIO_C, `${name}.bpf.c`);
}

export interface Build {
  /** A label for test names: `clang14`, `clang14-v3`, `clang19-v4`. */
  readonly label: string;
  readonly clang: string;
  readonly flags: readonly string[];
}

/** The clang of LLVM `version`, or a sentence saying what is missing. */
export function findClang(version: 14 | 19): string | { missing: string } {
  if (!existsSync('/usr/include/bpf/bpf_helpers.h'))
    return {
      missing: 'libbpf-dev headers (/usr/include/bpf) not found: apt-get install libbpf-dev',
    };
  for (const c of [`/usr/lib/llvm-${version}/bin/clang`, `clang-${version}`, 'clang']) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.includes(`clang version ${version}.`)) return c;
  }
  return {
    missing: `clang ${version} not found: apt-get install clang${version === 19 ? '-19' : ''}`,
  };
}

/** The builds this machine can make: clang 14 (v1, v3) and clang 19 -mcpu=v4, each if present. */
export function availableBuilds(): { builds: Build[]; skipped: string[] } {
  const builds: Build[] = [];
  const skipped: string[] = [];
  const c14 = findClang(14);
  if (typeof c14 === 'string') {
    builds.push({ label: 'clang14', clang: c14, flags: [] });
    builds.push({ label: 'clang14-v3', clang: c14, flags: ['-mcpu=v3'] });
  } else skipped.push(c14.missing);
  const c19 = findClang(19);
  if (typeof c19 === 'string')
    builds.push({ label: 'clang19-v4', clang: c19, flags: ['-mcpu=v4'] });
  else skipped.push(c19.missing);
  return { builds, skipped };
}

let outDir: string | null = null;

/** Compiles fixture `name` (`percpu_counter` for fixtures/percpu_counter.bpf.c); returns the .o path. */
export function compileFixture(name: string, build: Build, extra: readonly string[] = []): string {
  outDir ??= mkdtempSync(path.join(tmpdir(), 'loader-fixtures-'));
  const out = path.join(
    outDir,
    `${name}.${build.label}${extra.join('').replace(/[^\w]/g, '')}.bpf.o`,
  );
  if (!existsSync(out)) {
    execFileSync(build.clang, [
      '-O2',
      '-g',
      '-target',
      'bpf',
      '-I/usr/include/x86_64-linux-gnu',
      ...build.flags,
      ...extra,
      '-c',
      fixtureSource(name),
      '-o',
      out,
    ]);
  }
  return out;
}

/** The bytes of a compiled fixture. */
export function fixtureBytes(
  name: string,
  build: Build,
  extra: readonly string[] = [],
): Uint8Array {
  return readFileSync(compileFixture(name, build, extra));
}

/** `bpftool`'s path, or null. */
export function findBpftool(): string | null {
  for (const c of ['bpftool', '/usr/sbin/bpftool']) {
    const r = spawnSync(c, ['version'], { encoding: 'utf8' });
    if (r.status === 0) return c;
  }
  return null;
}
