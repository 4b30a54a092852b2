/**
 * The machine before boot: the builder. It holds the options, the physical
 * memory and the image being defined: static per-CPU variables
 * (DEFINE_PER_CPU), globals, and extra assembler symbols. `boot()` links
 * the image and brings the kernel up once, returning the booted kernel
 * context (kernel.ts) that tasks, scenarios and every subsystem use. After
 * boot the builder refuses further definitions (EBUSY).
 *
 * @example
 * const m = new Machine({ cpus: 2 });
 * m.definePerCpu('hits', u64, 0n);
 * const k = m.boot();
 * k.spawn({ comm: 'worker', cpu: 0, program: k.asm`r0 = 0\nexit` });
 * runDeterministic(k, roundRobin());
 */

import type { AsmSymbol } from '../cpu/asm/pseudo-c.ts';
import { definePercpuCoreSymbols } from '../percpu/per-cpu-areas.ts';
import { AddressMap } from '../segments/address-map.ts';
import { type CType, u64 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { Linker, type PlacementOptions } from '../segments/linker.ts';
import { PhysicalMemory } from '../segments/memory.ts';
import type { WasmMemory } from '../segments/wasm-api.ts';
import { BootedKernel } from './booted-kernel.ts';
import type { Kernel } from './kernel.ts';
import { defineKernelVars } from './kernel-vars.ts';
import {
  type MachineOptions,
  type ResolvedMachineOptions,
  resolveMachineOptions,
} from './machine-options.ts';

export type { DebugPreemptMode, MachineOptions } from './machine-options.ts';

export class Machine {
  readonly opts: ResolvedMachineOptions;
  private readonly memory: PhysicalMemory;
  private readonly map: AddressMap;
  /** The image being defined; null once booted. */
  private linker: Linker | null = new Linker();
  private readonly asmSymbols = new Map<string, AsmSymbol>();

  /**
   * @param shared `buffer`: build the machine over this SharedArrayBuffer
   *   (memorySize bytes) instead of a new one; the parallel runner's workers
   *   rebuild one machine this way (preempt/parallel/attach.ts).
   */
  constructor(options: MachineOptions = {}, shared?: { buffer: SharedArrayBuffer | WasmMemory }) {
    this.opts = resolveMachineOptions(options);
    this.memory = new PhysicalMemory(this.opts.memorySize, shared?.buffer);
    this.map = new AddressMap(this.memory.size);
    const linker = this.linker!;
    definePercpuCoreSymbols(linker);
    defineKernelVars(linker);
    linker.defineData('jiffies', u64, 0n);
  }

  get booted(): boolean {
    return this.linker === null;
  }

  get nrCpus(): number {
    return this.opts.cpus;
  }

  /**
   * DEFINE_PER_CPU: a static per-CPU variable in the template. After boot,
   * `k.symbol(name)` is its per-CPU pointer (its offset in `.data..percpu`)
   * and `StaticPerCpu.lookup(k, name)` its typed handle.
   *
   * @example
   * m.definePerCpu('hits', u64, 0n);
   */
  definePerCpu(name: string, type: CType, init?: unknown, opts?: PlacementOptions): void {
    this.unbooted(`define per-CPU variable '${name}'`).definePerCpu(name, type, init, opts);
  }

  /**
   * A global in `.data`.
   *
   * @example
   * m.defineData('total', u64, 0n);
   */
  defineData(name: string, type: CType, init?: unknown): void {
    this.unbooted(`define '${name}'`).defineData(name, type, init);
  }

  /**
   * Makes `name` resolvable in `r1 = name ll` of programs the kernel assembles.
   *
   * @example
   * m.defineAsmSymbol('limit', { kind: 'value', value: 64n });
   */
  defineAsmSymbol(name: string, symbol: AsmSymbol): void {
    this.unbooted(`define assembler symbol '${name}'`);
    this.asmSymbols.set(name, symbol);
  }

  /**
   * Links the image and boots the kernel (booted-kernel.ts); once (EBUSY
   * the second time).
   *
   * @example
   * const k = new Machine({ cpus: 2 }).boot();
   */
  boot(): Kernel {
    const linker = this.unbooted('boot twice');
    this.linker = null;
    return new BootedKernel({
      opts: this.opts,
      memory: this.memory,
      map: this.map,
      linker,
      asmSymbols: this.asmSymbols,
    });
  }

  private unbooted(what: string): Linker {
    if (this.linker === null)
      throw new ErrnoError('EBUSY', `cannot ${what}: the machine has booted`);
    return this.linker;
  }
}

/** What builds a machine: a scenario is one. */
export interface MachineRecipe {
  readonly machine?: MachineOptions;
  /** Defines per-CPU variables, globals and assembler symbols before boot. */
  define?(m: Machine): void;
  /** Sets the booted kernel up: maps, programs, tasks. */
  setup(k: Kernel): void;
}

/**
 * Builds `recipe`'s machine (over `shared.buffer` when given), defines its
 * image, boots it and sets it up.
 *
 * @example
 * const k = bootRecipe(scenario, { cpus: 2 }); // what parallel mode's workers run
 */
export function bootRecipe(
  recipe: MachineRecipe,
  options: MachineOptions = {},
  shared?: { buffer: SharedArrayBuffer | WasmMemory },
): Kernel {
  const k = bootUnsetRecipe(recipe, options, shared);
  recipe.setup(k);
  return k;
}

/**
 * `recipe`'s machine booted but not set up: the caller runs the setup
 * itself (runScenario, to report its exceptions and time it).
 *
 * @example
 * const k = bootUnsetRecipe(scenario, { cpus: 2 });
 * scenario.setup(k);
 */
export function bootUnsetRecipe(
  recipe: MachineRecipe,
  options: MachineOptions = {},
  shared?: { buffer: SharedArrayBuffer | WasmMemory },
): Kernel {
  const machine = new Machine({ ...recipe.machine, ...options }, shared);
  recipe.define?.(machine);
  return machine.boot();
}
