/**
 * Starting a program of a compiled object as a task:
 * `k.spawn({ object, program: 'name', cpu })`. The object loader sits
 * above this layer, so the kernel knows an object only through this
 * interface, which the loader's `BpfObject` implements, and opens a file
 * (a `.bpf.c` source or a `.o`) through the opener the loader registers
 * when it is imported (as nic/ registers its map types). The kernel keeps
 * the objects it opened by path, so every task naming the same file runs
 * against the same maps and globals.
 *
 * @example
 * k.spawn({ object: 'scenarios/c/lost_update.bpf.c', program: 'count_racy', cpu: 0 });
 */

import type { LoadedProgram } from '../cpu/program.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { Kernel } from './kernel.ts';

/** What k.spawn asks of an object (the loader's BpfObject). */
export interface SpawnableObject {
  /**
   * Loads the object into `k` unless it is loaded there already, and gives
   * the named program's code with its first argument (r1: the program's
   * context, made in kernel memory). ENOENT for a program it lacks, EBUSY
   * when it is loaded into another kernel.
   */
  taskProgram(k: Kernel, program: string): { program: LoadedProgram; args: readonly number[] };
}

/** Opens the object at `file` (compiling a `.c` first); what the loader registers. */
export type ObjectOpener = (file: string) => SpawnableObject;

let opener: ObjectOpener | null = null;

/** Sets the opener for objects named by path (the loader calls it when imported). */
export function registerObjectOpener(open: ObjectOpener): void {
  opener = open;
}

/** The object at `file`; ENOSYS when no loader is there to open it. */
export function openSpawnableObject(file: string): SpawnableObject {
  if (opener === null)
    throw new ErrnoError(
      'ENOSYS',
      `cannot open '${file}': the object loader is not loaded (import it from 'percpu-emu')`,
    );
  return opener(file);
}
