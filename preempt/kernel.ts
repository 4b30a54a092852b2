/**
 * The kernel context: a booted machine, as every subsystem and every
 * scenario sees it. The builder (machine.ts) defines the image and boots;
 * what boot makes is a `Kernel`, with each service an explicit field and
 * nothing found by name or looked up on the side:
 *
 *   memory, map, image          physical memory, its address map, the linked image
 *   areas                       per-CPU areas and __per_cpu_offset[] (percpu/)
 *   percpu, kheap, vmalloc      alloc_percpu, kmalloc, vmalloc
 *   sanitizer                   the per-CPU sanitizer, or null when the option is off
 *   rcu                         RCU (rcu.ts)
 *   maps                        the BPF maps table (bpf-map-table.ts; the types are maps/')
 *   progs                       loaded BPF programs, their ids and fds (bpf-prog-table.ts)
 *   perfEvents                  perf events with their ring buffers (perf-event.ts)
 *   tracer, reports             the trace rings (null when tracing is off), kernel messages
 *   ext                         what the layers above attach (KernelExtensions)
 *   helpers, kfuncs, text       what guest programs call, where they are loaded
 *   cpus, tasks                 per-CPU state and run queues, every task
 *
 * Boot order (booted-kernel.ts): link the image; per-CPU areas; the per-CPU
 * allocator, kmalloc, vmalloc; the sanitizer; the tracer; `.text`; task
 * slots; the guest interface; IRQ stacks; each CPU with its idle task; RCU;
 * the percpu kptr kfuncs and helpers. Every field is set when boot returns.
 *
 * Native TS task code (a `body` generator) uses the task API:
 * `yield* k.msleep(ms)`, `yield* k.synchronizeRcu()`, `yield* k.rcuBarrier()`,
 * and spawns tasks and kthreads with `k.spawn`.
 *
 * The kernel is also the PreemptionModel of the percpu/ layer: every
 * preemption control acts on the CPU executing the caller.
 *
 * @example
 * const m = new Machine({ cpus: 2 });
 * m.definePerCpu('hits', u64, 0n);
 * const k = m.boot();
 * k.spawn({ comm: 'worker', cpu: 0, program: k.asm`r0 = 0\nexit` });
 * runDeterministic(k, roundRobin());
 */

import type { AsmOptions, AsmSymbol, AssembledProgram } from '../cpu/asm/pseudo-c.ts';
import type { asmWith } from '../cpu/asm/template.ts';
import type { DisasmOptions } from '../cpu/disasm.ts';
import type { HelperTable } from '../cpu/helpers.ts';
import type { Insn } from '../cpu/insn.ts';
import type { LoadedProgram } from '../cpu/program.ts';
import type { PercpuAllocator } from '../percpu/allocator.ts';
import type { PerCpuAreas } from '../percpu/per-cpu-areas.ts';
import type { PreemptionModel } from '../percpu/preemption-model.ts';
import type { PercpuSanitizer } from '../percpu/sanitizer.ts';
import type { AddressMap } from '../segments/address-map.ts';
import type { KernelHeap } from '../segments/kmalloc.ts';
import type { LinkedImage } from '../segments/linker.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import type { Vmalloc } from '../segments/vmalloc.ts';
import type { BpfMapTable } from './bpf-map-table.ts';
import type { BpfProgTable } from './bpf-prog-table.ts';
import type { CpuState } from './cpu-state.ts';
import type { DebugPreempt } from './debug-preempt.ts';
import type { ResolvedMachineOptions } from './machine-options.ts';
import type { PerfEventTable } from './perf-event.ts';
import type { Rcu } from './rcu.ts';
import type { Report, ReportKind } from './reports.ts';
import type { SpawnableObject } from './spawnable-object.ts';
import type { Task, TaskBody } from './task.ts';
import type { ProgramSource, TextSection } from './text-section.ts';
import type { TraceEventBody } from './trace/events.ts';
import type { Tracer } from './trace/tracer.ts';

export interface SpawnOptions {
  comm: string;
  /** The CPU whose run queue gets the task first. Default 0. */
  cpu?: number;
  /** CPUs the task may run on; all by default. */
  allowed?: readonly number[];
  /** A guest program (instructions, bytes, or an assembled program). */
  program?: LoadedProgram | AssembledProgram | readonly Insn[];
  /** Native TS code: a generator function yielding at preemption points. */
  body?: (task: Task) => TaskBody;
  /** Initial r1..r5 of a program task. */
  args?: readonly (number | bigint)[];
  /** A kthread: bound to `cpu`, never migrates, does not keep the run going. */
  kthread?: boolean;
}

/**
 * A task running a program of a compiled object: `k.spawn({ object,
 * program: 'count', cpu })`. The object is loaded into the kernel on
 * first use (a path is opened once per kernel, so tasks naming the same
 * file share its maps); r1 is the program's context.
 */
export interface ObjectSpawnOptions {
  /** A BpfObject (opened or loaded), or the path of a `.bpf.c` source or a `.o`. */
  object: SpawnableObject | string;
  /** The program's name in the object. */
  program: string;
  /** The task's comm; the program's name by default. */
  comm?: string;
  cpu?: number;
  allowed?: readonly number[];
}

/** A hardirq handler added to the timer interrupt of a CPU. */
export type TimerHandler = { program: LoadedProgram } | { fn: (k: Kernel, cpu: number) => void };

/** A device interrupt's handler (request_irq): runs in hardirq context on the CPU the line was raised on. */
export interface IrqAction {
  readonly name: string;
  readonly handler: (k: Kernel, cpu: number) => void;
}

/** A softirq vector's action (open_softirq): runs in softirq context on its CPU. */
export type SoftirqAction = (k: Kernel, c: CpuState) => void;

/** A sleeping task and the tick of its CPU at which it wakes. */
export interface Sleeper {
  readonly task: Task;
  readonly cpu: number;
  readonly wakeAt: number;
}

/** What a native task's blocking calls return: `yield*` it. */
export type TaskWait = Generator<void, void, void>;

/**
 * What the layers above keep on a kernel: one optional slot per layer,
 * which that layer declares by adding a member to this interface
 * (declaration merging: `declare module '../preempt/kernel.ts'`) and fills
 * when it sets itself up on the kernel (nic/ its network stack, maps/ the
 * map types those layers register). preempt/ names none of their types.
 *
 * @example
 * declare module '../preempt/kernel.ts' {
 *   interface KernelExtensions { net?: NetStack }
 * }
 * k.ext.net = new NetStack(k);
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the layers above through declaration merging
export interface KernelExtensions {}

export interface Kernel extends PreemptionModel {
  // ---- configuration and memory services ----------------------------------------
  readonly opts: ResolvedMachineOptions;
  readonly nrCpus: number;
  readonly memory: PhysicalMemory;
  readonly map: AddressMap;
  readonly image: LinkedImage;
  readonly areas: PerCpuAreas;
  /** alloc_percpu / free_percpu: the per-CPU chunk allocator (percpu/allocator.ts). */
  readonly percpu: PercpuAllocator;
  /** kmalloc / kfree: the kernel heap (segments/kmalloc.ts). */
  readonly kheap: KernelHeap;
  /** vmalloc / vfree: page runs for what kmalloc cannot hold (segments/vmalloc.ts). */
  readonly vmalloc: Vmalloc;
  /** The per-CPU sanitizer watching `percpu`; null when the `sanitizer` option is off. */
  readonly sanitizer: PercpuSanitizer | null;
  readonly rcu: Rcu;
  /** The BPF maps and their fds. */
  readonly maps: BpfMapTable;
  /** The loaded BPF programs and their fds (BPF_PROG_LOAD). */
  readonly progs: BpfProgTable;
  /** Open perf events (BPF output events and their ring buffers) and their fds. */
  readonly perfEvents: PerfEventTable;
  /** The trace rings; null when the `trace` option is off. */
  readonly tracer: Tracer | null;
  /** Kernel messages, in order (`report` adds them; the parallel runner merges its workers'). */
  readonly reports: Report[];
  readonly debugPreempt: DebugPreempt;
  /** DEBUG_PREEMPT reports made, including those the rate limit suppressed. */
  readonly debugPreemptReports: number;
  /** The slots of the layers above (KernelExtensions), empty at boot. */
  readonly ext: KernelExtensions;

  // ---- guest programs --------------------------------------------------------------
  readonly helpers: HelperTable;
  readonly kfuncs: HelperTable;
  /** Where loaded programs live. */
  readonly text: TextSection;
  /** The address of a symbol: a per-CPU pointer for per-CPU variables; ENOENT if none. */
  symbol(name: string): number;
  /** Makes `name` resolvable in `r1 = name ll` of programs assembled from now on. */
  defineAsmSymbol(name: string, symbol: AsmSymbol): void;
  /** Options for the assembler: every linked symbol, extra symbols, and the kfunc names. */
  asmOptions(): AsmOptions;
  /** The tagged template assembler with this kernel's symbols and kfuncs. */
  readonly asm: ReturnType<typeof asmWith>;
  /**
   * Assembles pseudo-C source with this kernel's symbols and kfuncs. An
   * AsmError names the program: `name` (`inc:3:7: reason`), or else the
   * scenario code that called (`my.ts:20:23: program line 3, column 7: reason`).
   */
  assemble(source: string, name?: string): AssembledProgram;
  /** Disassembly with this kernel's names: kfuncs, helpers, symbols for `lddw` immediates. */
  disasmOptions(): DisasmOptions;
  /** Loads a program into `.text` (once per source); see text-section.ts. */
  loadText(source: ProgramSource, name: string): LoadedProgram;

  // ---- CPUs and tasks ----------------------------------------------------------------
  readonly cpus: readonly CpuState[];
  readonly tasks: ReadonlyMap<number, Task>;
  /** Per CPU, the hardirq handlers of its timer interrupt. */
  readonly timerHandlers: readonly (readonly TimerHandler[])[];
  /** Sleeping tasks (sleep.ts adds and wakes them). */
  readonly sleepers: Sleeper[];
  /** Instructions executed (or idled) by all CPUs: the trace clock. */
  steps: number;
  /** The CPU executing right now, while a CPU runs (runCpu, the parallel loop); else null. */
  current: CpuState | null;
  /** Every task that keeps the run going has exited. */
  readonly finished: boolean;
  /**
   * Creates a task and queues it on its CPU. Exactly one of `program` and
   * `body` is given, or an object and the name of one of its programs.
   */
  spawn(opts: SpawnOptions | ObjectSpawnOptions): Task;
  /** Tasks that keep a run going: spawned, not kthreads, not yet exited. */
  liveTasks(): Task[];
  /** Called by do_exit: one fewer task keeps the run going. */
  noteExit(task: Task): void;
  /** Device interrupt handlers by irq number (requestIrq). */
  readonly irqActions: ReadonlyMap<number, IrqAction>;
  /** Softirq actions by vector, beyond the kernel's own (openSoftirq). */
  readonly softirqActions: readonly (SoftirqAction | undefined)[];
  /**
   * request_irq(): `handler` serves device interrupt `irq` (32..255, not the
   * reschedule vector); EBUSY if it has one.
   */
  requestIrq(irq: number, name: string, handler: IrqAction['handler']): void;
  /** The device raises `irq` with its affinity on `cpu`; taken when `cpu` has interrupts on. */
  raiseIrq(cpu: number, irq: number): void;
  /** open_softirq(): `action` runs when `vec` is pending (NET_RX_SOFTIRQ, ...); EBUSY if taken. */
  openSoftirq(vec: number, action: SoftirqAction): void;
  /** raise_softirq_irqoff() on `cpu`: the vector runs at its next irq exit or local_bh_enable. */
  raiseSoftirq(cpu: number, vec: number): void;
  /** Adds a hardirq handler to CPU `cpu`'s timer interrupt ('all' for every CPU). */
  onTimer(cpu: number | 'all', handler: TimerHandler | LoadedProgram | AssembledProgram): void;
  /** Runs CPU `id` for `quantum` instructions (see execution.ts); returns those used. */
  runCpu(id: number, quantum: number): number;
  /** Moves this CPU's clock and the trace clock forward. */
  advance(c: CpuState, n: number): void;
  /** The number of the next oops report (`Oops: ... [#n]`). */
  nextOops(): number;

  // ---- reports and trace ---------------------------------------------------------------
  /** Records a kernel message from CPU `c` and traces its lines. */
  report(kind: ReportKind, c: CpuState, lines: string[]): void;
  /** Emulated time in ns, exact to the instruction even inside a run. */
  now(): number;
  /** Emits a trace event on CPU `c` with the header of its current state. */
  trace(c: CpuState, body: TraceEventBody): void;

  // ---- the calling code's CPU -------------------------------------------------------------
  /** The CPU executing the caller; EPERM outside any CPU. */
  here(): CpuState;
  localBhDisable(): void;
  /** __local_bh_enable_ip(): softirqs raised meanwhile run now, unless in interrupt context. */
  localBhEnable(): void;
  /** DEBUG_PREEMPT's check_preemption_disabled(); `pc` is the guest instruction that asked. */
  checkPreemptionDisabled(what1: string, what2: string, pc?: number): void;

  // ---- native tasks' blocking calls (inside a `body` generator, on its CPU) ---------------
  /** msleep(): sleeps `ms` milliseconds of emulated time, at least one tick. */
  msleep(ms: number): TaskWait;
  /** Sleeps until `ticks` timer ticks of this CPU have passed, counted from the next one. */
  sleepTicks(ticks: number): TaskWait;
  /** synchronize_rcu(): returns once a full grace period has elapsed (rcu-sync.ts). */
  synchronizeRcu(): TaskWait;
  /** rcu_barrier(): returns once every RCU callback queued before the call has run. */
  rcuBarrier(): TaskWait;
}
