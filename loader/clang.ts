/**
 * Compiling a BPF C source on demand, for scenarios that name a `.bpf.c`
 * file rather than an object: `clang -O2 -g -target bpf` with the
 * multiarch include directory (`-target bpf` skips it, and
 * <asm/types.h> lives there), cached by the hash of the source and the
 * flags so that every run, and every worker of a parallel run, reads the
 * same object. The cache file is written under a temporary name and
 * renamed, so concurrent compilers never see half an object.
 *
 * @example
 * const bytes = compileBpfC('scenarios/c/lost_update.bpf.c');
 * BpfObject.open(bytes, { name: 'lost_update' });
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ErrnoError } from '../segments/errno.ts';

export interface CompileOptions {
  /** `-mcpu=` value (v1, v2, v3, v4); clang's default (v1) when absent. */
  mcpu?: string;
  /** The clang to run; $PERCPU_EMU_CLANG, else `clang`. */
  clang?: string;
  /** More flags (-D...). */
  flags?: readonly string[];
}

/** The object bytes of `source`, compiled (or taken from the cache). ENOENT without clang. */
export function compileBpfC(source: string, opts: CompileOptions = {}): Uint8Array {
  const clang = opts.clang ?? process.env.PERCPU_EMU_CLANG ?? 'clang';
  const flags = [
    '-O2',
    '-g',
    '-target',
    'bpf',
    `-I/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    ...(opts.mcpu === undefined ? [] : [`-mcpu=${opts.mcpu}`]),
    ...(opts.flags ?? []),
  ];
  const text = readFileSync(source);
  const hash = createHash('sha256')
    .update(text)
    .update(flags.join(' '))
    .update(clang)
    .digest('hex');
  const dir = path.join(tmpdir(), 'percpu-emu-clang');
  const out = path.join(dir, `${path.basename(source, '.c')}.${hash.slice(0, 16)}.o`);
  if (!existsSync(out)) {
    if (spawnSync(clang, ['--version']).status !== 0) {
      throw new ErrnoError(
        'ENOENT',
        `'${clang}' not found: install clang (apt-get install clang libbpf-dev) to compile ${source}`,
      );
    }
    mkdirSync(dir, { recursive: true });
    const partial = `${out}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    execFileSync(clang, [...flags, '-c', source, '-o', partial], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    renameSync(partial, out);
  }
  return readFileSync(out);
}
