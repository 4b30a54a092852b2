/**
 * Where a program the kernel assembles comes from, for its errors: an
 * AsmError from `k.assemble(source, name)` or `k.asm\`...\`` names the
 * program as the CLI names a file (`inc:3:7: reason`), or, without a name,
 * the scenario code that assembled it, from the call stack
 * (`/tmp/my-counter.ts:20:23: program line 3, column 7: reason`): the first
 * frame outside the kernel (preempt/) and the processor (cpu/).
 *
 * @example
 * return assembledAt(name, () => assemble(source, options));
 */

import { AsmError } from '../cpu/asm/asm-error.ts';

const PACKAGE_ROOT = new URL('../', import.meta.url).href;
const INSIDE = [`${PACKAGE_ROOT}preempt/`, `${PACKAGE_ROOT}cpu/`];

/** Runs `assembleIt`; an AsmError it throws comes out naming the program. */
export function assembledAt<T>(name: string | undefined, assembleIt: () => T): T {
  try {
    return assembleIt();
  } catch (e) {
    if (!(e instanceof AsmError) || e.program !== undefined) throw e;
    if (name !== undefined) throw e.inProgram({ name });
    // A fresh stack: the assembler's own frames would push the caller's out of the limit.
    const site = callSite(new Error().stack ?? '');
    throw site === undefined ? e : e.inProgram({ site });
  }
}

/** `file:line:col` of the first stack frame outside preempt/ and cpu/ (a path for file URLs). */
function callSite(stack: string): string | undefined {
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?((?:file|node):[^\s()]*?|\/[^\s()]*?):(\d+):(\d+)\)?$/.exec(line.trim());
    if (m === null) continue;
    const [, file, row, col] = m;
    if (file.startsWith('node:') || INSIDE.some((dir) => file.startsWith(dir))) continue;
    if (file.startsWith('/') && INSIDE.some((dir) => `file://${file}`.startsWith(dir))) continue;
    const path = file.startsWith('file://') ? decodeURIComponent(new URL(file).pathname) : file;
    return `${path}:${row}:${col}`;
  }
  return undefined;
}
