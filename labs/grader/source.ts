/**
 * A student's files: read from their folder with an error that says what to
 * do when one is missing, and their assembly joined to the lab's harness
 * with assembler errors pointing at the student's file and line.
 *
 * @example
 * const program = assembleWithHarness(k, harness, dir, 'kalloc.s');
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AsmError, type AssembledProgram, ErrnoError, type Kernel } from 'percpu-emu';

/** The text of `file` in the student's folder `dir`; ENOENT naming the command that makes it. */
export function readStudentFile(dir: string, file: string, lab: string): string {
  const path = join(dir, file);
  if (!existsSync(path)) {
    throw new ErrnoError(
      'ENOENT',
      `no ${file} in ${dir}: make the lab's folder with \`npx percpu-emu lab start ${lab} ${dir}\``,
    );
  }
  return readFileSync(path, 'utf8');
}

/**
 * Assembles the lab's `harness` (which starts at slot 0 and calls the
 * student's functions by label) followed by the student's file `file`.
 * An assembler error inside the student's part names the file and its line.
 */
export function assembleWithHarness(
  k: Kernel,
  harness: string,
  dir: string,
  file: string,
  lab: string,
): AssembledProgram {
  const student = readStudentFile(dir, file, lab);
  const harnessLines = harness.split('\n').length;
  try {
    return k.assemble(`${harness}\n${student}`);
  } catch (e) {
    if (e instanceof AsmError && e.line > harnessLines) {
      throw new ErrnoError('EINVAL', `${file}:${e.line - harnessLines}:${e.column}: ${e.reason}`);
    }
    if (e instanceof AsmError) {
      throw new ErrnoError(
        'EINVAL',
        `the lab's harness: ${e.reason} (does ${file} still define every function the harness calls?)`,
      );
    }
    throw e;
  }
}

/**
 * Imports the student's TypeScript module `file` from `dir`. The built
 * package runs as JS, so tsx's loader is registered first (the sources run
 * under tsx or vitest already).
 */
export async function importStudentModule<T>(dir: string, file: string, lab: string): Promise<T> {
  readStudentFile(dir, file, lab);
  if (!import.meta.url.endsWith('.ts')) {
    tsxReady ??= import('tsx/esm/api').then((tsx) => {
      tsx.register();
    });
    await tsxReady;
  }
  return (await import(pathToFileURL(join(dir, file)).href)) as T;
}

let tsxReady: Promise<void> | undefined;
