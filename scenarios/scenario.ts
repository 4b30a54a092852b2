/**
 * A scenario: machine options, what to define in the image before boot
 * (per-CPU variables, globals), a setup of the booted kernel that makes
 * maps and starts tasks, and the invariants that must hold when the run
 * ends. It is a plain TS module whose default export is
 * `defineScenario({...})`; the CLI (`percpu-emu run`), tests and labs all
 * run it through runScenario, which boots the machine between `define` and
 * `setup`.
 *
 * @example
 * export default defineScenario({
 *   name: 'counter',
 *   description: 'a worker that counts nothing',
 *   machine: { cpus: 2 },
 *   define(m) {
 *     m.definePerCpu('hits', u64, 0n);
 *   },
 *   setup(k) {
 *     k.spawn({ comm: 'worker', program: k.asm`r0 = 0\nexit` });
 *   },
 *   invariants: [perCpuSumEquals('hits', 0n)],
 * });
 */

import type { Kernel } from '../preempt/kernel.ts';
import type { Machine, MachineOptions } from '../preempt/machine.ts';

export interface Verdict {
  readonly ok: boolean;
  /** What was measured, with the values: `sum of hits over CPUs = 398, expected 400`. */
  readonly detail: string;
}

export interface Invariant {
  readonly name: string;
  /**
   * The per-CPU variables the check reads (static ones, or PERCPU_ARRAY
   * maps by name): a timeline draws every access to them.
   */
  readonly variables?: readonly string[];
  /** Judges the kernel as the run left it. */
  check(k: Kernel): Verdict;
}

export interface Scenario {
  readonly name: string;
  /** One or two sentences: what runs and what could go wrong. */
  readonly description: string;
  /** Machine options; the CLI's --cpus overrides `cpus`. */
  readonly machine?: MachineOptions;
  /** Defines per-CPU variables, globals and assembler symbols, before boot. */
  define?(m: Machine): void;
  /** Sets the booted kernel up: maps, programs, tasks, timer handlers. */
  setup(k: Kernel): void;
  readonly invariants: readonly Invariant[];
  /**
   * How `percpu-emu run` runs it without `--mode`: under the deterministic
   * engine (default), or one worker thread per CPU (scenarios/run-parallel.ts).
   */
  readonly mode?: 'deterministic' | 'parallel';
  /** PCT parameters that suit this scenario. */
  readonly pct?: { readonly depth?: number; readonly steps?: number };
}

export function defineScenario(s: Scenario): Scenario {
  return s;
}

/** The 64-bit values of a per-CPU u64 variable (or array element) on every CPU. */
export function perCpuValues(m: Kernel, name: string, index = 0): bigint[] {
  const p = m.symbol(name) + 8 * index;
  return m.cpus.map((c) => m.memory.read64(m.areas.perCpuPtr(p, c.id)));
}

/** Invariant: the per-CPU u64 `name` summed over all CPUs equals `expected` (a value or a function of the machine). */
export function perCpuSumEquals(
  name: string,
  expected: bigint | ((k: Kernel) => bigint),
): Invariant {
  return {
    name: `sum of ${name} over CPUs is exact`,
    variables: [name],
    check(m) {
      const values = perCpuValues(m, name);
      const sum = values.reduce((a, b) => a + b, 0n);
      const want = typeof expected === 'function' ? expected(m) : expected;
      return {
        ok: sum === want,
        detail: `sum = ${sum} (per CPU: ${values.join(', ')}), expected ${want}`,
      };
    },
  };
}

/** The per-CPU variables the scenario's invariants name, each once, in order. */
export function invariantVariables(s: Scenario): string[] {
  return [...new Set(s.invariants.flatMap((inv) => inv.variables ?? []))];
}

/** Invariant: every task that keeps the run going exited with code 0. */
export const allTasksExited: Invariant = {
  name: 'every task ran to completion',
  check(m) {
    const live = m.liveTasks();
    const failed = [...m.tasks.values()].filter((t) => !t.kthread && t.exited && t.exitCode !== 0n);
    const ok = live.length === 0 && failed.length === 0;
    const parts = [
      live.length > 0 ? `still running: ${live.map((t) => `${t.comm}/${t.pid}`).join(', ')}` : '',
      failed.length > 0
        ? `failed: ${failed.map((t) => `${t.comm}/${t.pid} (${t.exitCode})`).join(', ')}`
        : '',
    ].filter((x) => x !== '');
    return { ok, detail: ok ? `${m.tasks.size} tasks exited with 0` : parts.join('; ') };
  },
};
