/**
 * One machine, rebuilt in every thread over the same memory. The main
 * thread builds the machine from a recipe (a scenario: machine options,
 * what to define before boot, and a setup of the booted kernel) over a new
 * SharedArrayBuffer; then each worker, one after the other, zeroes what
 * boot and setup wrote and builds, boots and sets up the same over the same
 * buffer. Setup is deterministic, so every thread ends with the same memory
 * bytes and with JS handles (tasks, CPUs, programs, symbols) on the same
 * addresses; the layout fingerprint checks it. Nothing runs until every
 * thread has attached (runner.ts), so rewriting identical bytes is harmless.
 *
 * What each thread keeps in JS is then either its own CPU's (CpuState
 * clocks and pending interrupt lines, the sleepers it put to sleep, its
 * reports) or a copy that nothing changes while running (the tasks Map,
 * loaded programs). Other CPUs' `curr` is read from their run queue's `curr`
 * in memory (`viewRemoteCpus`), so load balancing sees what runs there.
 *
 * Limits, refused or reported rather than run wrongly:
 *  - native TS tasks run in one worker only, so each must be bound to one
 *    CPU (a kthread, or `allowed: [cpu]`): EINVAL at attach otherwise;
 *  - tasks spawned while running exist in one worker only: the CPU loop
 *    stops the machine with ENOTSUPP (cpu-loop.ts);
 *  - the per-CPU sanitizer's shadow is per-thread JS state
 *    (percpu/sanitizer.ts), so parallel machines run without the sanitizer
 *    (the runner sets `sanitizer: false`); RCU's shared state is in memory
 *    (preempt/rcu.ts) and its callbacks run on the CPU that queued them.
 *
 * @example
 * const buffer = PhysicalMemory.allocate(64 << 20); // or a bare SharedArrayBuffer (no fast tier)
 * const a = attachMachine(recipe, {}, buffer, 0);        // main thread
 * const b = attachMachine(recipe, {}, buffer, a.dirtyEnd); // a worker: same layout
 * a.layout === b.layout; // true
 */

import { ErrnoError } from '../../segments/errno.ts';
import { type WasmMemory, wasm } from '../../segments/wasm-api.ts';
import type { CpuState } from '../cpu-state.ts';
import type { Kernel } from '../kernel.ts';
import { bootRecipe, type MachineOptions, type MachineRecipe } from '../machine.ts';
import type { Task } from '../task.ts';
import { ParallelControl } from './mailbox.ts';

export interface AttachedMachine {
  readonly machine: Kernel;
  readonly ctl: ParallelControl;
  /** The address map and the tasks: equal in every thread that rebuilt the same machine. */
  readonly layout: string;
  /** End of the memory that setup wrote: what the next thread must zero first. */
  readonly dirtyEnd: number;
  /** The tasks that keep the run going (not kthreads), fixed at setup. */
  readonly liveTasks: readonly Task[];
}

/**
 * Builds `recipe`'s machine over `buffer`, after zeroing its first
 * `dirtyEnd` bytes (what a previous thread's setup wrote), and reserves the
 * parallel control block.
 */
export function attachMachine(
  recipe: MachineRecipe,
  options: MachineOptions,
  buffer: SharedArrayBuffer | WasmMemory,
  dirtyEnd: number,
): AttachedMachine {
  // By 32-bit words: several times faster than bytes on shared memory.
  const bytes = buffer instanceof wasm.Memory ? buffer.buffer : buffer;
  new Int32Array(bytes, 0, Math.ceil(dirtyEnd / 4)).fill(0);
  const machine = bootRecipe(recipe, options, { buffer });
  for (const t of machine.tasks.values()) checkNativeBound(t);
  const ctl = ParallelControl.reserve(machine);
  const tasks = [...machine.tasks.values()];
  const layout = JSON.stringify({
    regions: machine.map.regions(),
    tasks: tasks.map((t) => [t.pid, t.addr, t.comm]),
  });
  return {
    machine,
    ctl,
    layout,
    dirtyEnd: machine.map.peek(1),
    liveTasks: tasks.filter((t) => !t.kthread),
  };
}

function checkNativeBound(t: Task): void {
  if (t.body.kind !== 'native') return;
  const mask = t.cpusAllowed;
  if ((mask & (mask - 1n)) !== 0n) {
    throw new ErrnoError(
      'EINVAL',
      `native task '${t.comm}' (pid ${t.pid}) may run on CPU mask 0x${mask.toString(16)}: in parallel mode native TS code runs in one CPU's worker, so bind it to one CPU (kthread, or allowed: [cpu])`,
    );
  }
}

/**
 * Makes every CPU of `k` but `own` read its running task from its run
 * queue's `curr` in memory, where that CPU's worker writes it (under the
 * scheduler lock), instead of this thread's stale copy.
 */
export function viewRemoteCpus(k: Kernel, own: number): void {
  const byAddr = new Map<number, Task>();
  for (const t of k.tasks.values()) byAddr.set(t.addr, t);
  for (const c of k.cpus) byAddr.set(c.idle.addr, c.idle);
  for (const c of k.cpus) {
    if (c.id === own) continue;
    Object.defineProperty(c, 'curr', {
      get: (): Task => byAddr.get((c as CpuState).rq.curr) ?? c.idle,
      set: () => {
        throw new ErrnoError('EPERM', `CPU ${c.id}'s running task is set by its own worker`);
      },
    });
  }
}

/** True when every task that keeps the run going has exited (read from memory). */
export function allExited(tasks: readonly Task[]): boolean {
  for (const t of tasks) if (!t.exited) return false;
  return true;
}
