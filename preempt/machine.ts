/**
 * The machine: N CPUs over one physical memory, booted like Linux (the image
 * linked, per-CPU areas set up from the `.data..percpu` template, a run
 * queue and an idle task per CPU), with tasks that run guest eBPF programs or
 * native TS generators, timer interrupts, softirqs, preemption and migration.
 *
 * Execution is driven from outside: `runCpu(cpu, quantum)` runs one CPU for
 * a quantum of instructions, taking its interrupts and scheduling on the
 * way. The deterministic engine (engine.ts) decides which CPU runs when; the
 * scheduling rules themselves are in scheduler.ts and interrupts.ts.
 *
 * Emulated time: one instruction is `nsPerInsn` ns, a timer tick every
 * `tickInterval` instructions of a CPU is one jiffy (HZ = 1000 by default, so
 * a tick is 1 ms). The trace's timestamps count instructions over all CPUs
 * in the order they ran, which keeps the merged trace causal.
 *
 * @example
 * const m = new Machine({ cpus: 2 });
 * const hits = m.definePerCpu('hits', u64, 0n);
 * m.boot();
 * m.spawn({ comm: 'worker', cpu: 0, program: m.asm`r0 = 0\nexit` });
 * runDeterministic(m, roundRobin());
 */

import {
  type AsmOptions,
  type AsmSymbol,
  type AssembledProgram,
  assemble,
} from '../cpu/asm/pseudo-c.ts';
import { asmWith } from '../cpu/asm/template.ts';
import { CpuContext, STACK_BYTES } from '../cpu/context.ts';
import { Cpu } from '../cpu/cpu.ts';
import type { DisasmOptions } from '../cpu/disasm.ts';
import { HelperTable } from '../cpu/helpers.ts';
import type { Insn } from '../cpu/insn.ts';
import { type LoadedProgram, loadProgram, type PseudoResolver } from '../cpu/program.ts';
import { PCPU_CHUNK_REGION_SIZE, PercpuAllocator } from '../percpu/allocator.ts';
import { NR_CPUS } from '../percpu/first-chunk.ts';
import {
  definePercpuCoreSymbols,
  type PerCpuAreas,
  setupPerCpuAreas,
} from '../percpu/per-cpu-areas.ts';
import type { PreemptionModel } from '../percpu/preemption-model.ts';
import { AddressMap } from '../segments/address-map.ts';
import { alignUp, type CType, u64 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { linkAndLoad } from '../segments/image-loader.ts';
import { KernelHeap } from '../segments/kmalloc.ts';
import { type LinkedImage, Linker, type PlacementOptions } from '../segments/linker.ts';
import { PAGE_SIZE, PhysicalMemory } from '../segments/memory.ts';
import { Vmalloc } from '../segments/vmalloc.ts';
import { CpuState } from './cpu-state.ts';
import { DebugPreempt } from './debug-preempt.ts';
import { runCpu } from './execution.ts';
import { probeOf, registerGuestInterface } from './guest-interface.ts';
import { doSoftirq } from './interrupts.ts';
import { defineKernelVars, kernelVarAddrs } from './kernel-vars.ts';
import { attachPercpuSanitizer, installPercpuKptr } from './percpu-kptr.ts';
import { inInterrupt, PREEMPT_OFFSET, preemptCountAdd, SOFTIRQ_OFFSET } from './preempt-count.ts';
import type { Report, ReportKind } from './reports.ts';
import { RunQueue } from './runqueue.ts';
import { wakeUpProcess } from './scheduler.ts';
import { Task, type TaskBody, taskStruct } from './task.ts';
import { type ProgramSource, TextSection } from './text-section.ts';
import { type TraceEventBody, traceFlags } from './trace/events.ts';
import { Tracer } from './trace/tracer.ts';

export type DebugPreemptMode = 'warn' | 'fatal' | 'off';

export interface MachineOptions {
  /** Possible CPUs, 1..64. Default 4. */
  cpus?: number;
  /** Physical memory in bytes. Default 64 MiB. */
  memorySize?: number;
  /** Instructions between two timer interrupts of a CPU. Default 1000. */
  tickInterval?: number;
  /** Ticks in a time slice. Default 3. */
  timeSlice?: number;
  /** Ticks between load-balancing passes (SCHED_SOFTIRQ). Default 4. */
  balanceInterval?: number;
  /** DEBUG_PREEMPT: warn, fatal (kill the offending task) or off. Default warn. */
  debugPreempt?: DebugPreemptMode;
  /** The soft-lockup watchdog fires after 2 * watchdogThresh seconds without scheduling. Default 10. */
  watchdogThresh?: number;
  /** Emulated nanoseconds per instruction. Default 1000 (so a 1000-instruction tick is 1 ms). */
  nsPerInsn?: number;
  /** Keep a trace in per-CPU ring buffers. Default true. */
  trace?: boolean;
  /** Bytes of trace ring per CPU. Default 256 KiB. */
  traceBytesPerCpu?: number;
  /** Most tasks alive at once. Default 64. */
  maxTasks?: number;
  /** Bytes of `.text` for loaded programs. Default 1 MiB. */
  textSize?: number;
  /** Bytes of memory for per-CPU chunks beyond the first (the vmalloc area's role). Default 8 MiB. */
  percpuChunkRegion?: number;
  /** Bytes of the kernel heap (kmalloc, segments/kmalloc.ts). Default 4 MiB. */
  kmallocHeap?: number;
  /**
   * Bytes of the vmalloc area (segments/vmalloc.ts), for allocations too big
   * for kmalloc. Default a sixteenth of memorySize, at most 16 MiB.
   */
  vmallocSize?: number;
  /**
   * The per-CPU sanitizer (percpu/sanitizer.ts): double and invalid frees,
   * use after free and out-of-bounds accesses to per-CPU memory by guest
   * instructions, kfuncs and the TS API, reported as `kasan` and, at the end
   * of a scenario run, leaks as `leak`. It makes guest accesses below the end
   * of per-CPU memory (per-CPU variables and globals) take the CPU's slow
   * path. Default true.
   */
  sanitizer?: boolean;
}

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

/** A hardirq handler added to the timer interrupt of a CPU. */
export type TimerHandler = { program: LoadedProgram } | { fn: (m: Machine, cpu: number) => void };

type Required_ = Required<MachineOptions>;

const DEFAULTS: Required_ = {
  cpus: 4,
  memorySize: 64 << 20,
  tickInterval: 1000,
  timeSlice: 3,
  balanceInterval: 4,
  debugPreempt: 'warn',
  watchdogThresh: 10,
  nsPerInsn: 1000,
  trace: true,
  traceBytesPerCpu: 256 << 10,
  maxTasks: 64,
  textSize: 1 << 20,
  percpuChunkRegion: PCPU_CHUNK_REGION_SIZE,
  kmallocHeap: 4 << 20,
  vmallocSize: 0,
  sanitizer: true,
};

export class Machine implements PreemptionModel {
  readonly opts: Required_;
  readonly memory: PhysicalMemory;
  readonly map: AddressMap;
  readonly helpers = new HelperTable('helper');
  readonly kfuncs = new HelperTable('kfunc');
  readonly cpus: CpuState[] = [];
  readonly tasks = new Map<number, Task>();
  readonly reports: Report[] = [];
  readonly timerHandlers: TimerHandler[][] = [];
  /** Sleeping tasks and the tick of their CPU at which they wake. */
  readonly sleepers: { task: Task; cpu: number; wakeAt: number }[] = [];
  /** Instructions executed (or idled) by all CPUs: the trace clock. */
  steps = 0;
  /** The CPU executing right now, while runCpu is on the stack. */
  current: CpuState | null = null;
  tracer: Tracer | null = null;
  private linker: Linker | null = new Linker();
  private imageOrNull: LinkedImage | null = null;
  private areasOrNull: PerCpuAreas | null = null;
  private taskSlots: { addr: number; stackTop: number }[] = [];
  /** Where loaded programs live. */
  text: TextSection | null = null;
  /** How programs' `lddw` map and map-value sources resolve at load (set by maps/). */
  readonly pseudoResolver: PseudoResolver = {};
  private percpuOrNull: PercpuAllocator | null = null;
  private kheapOrNull: KernelHeap | null = null;
  private vmallocOrNull: Vmalloc | null = null;
  private nextPid = 1;
  private oopsCount = 0;
  readonly debugPreempt = new DebugPreempt(this);
  private liveCount = 0;
  private readonly asmSymbols = new Map<string, AsmSymbol>();

  /**
   * @param shared `buffer`: build the machine over this SharedArrayBuffer
   *   (memorySize bytes) instead of a new one; the parallel runner's workers
   *   rebuild one machine this way (preempt/parallel/attach.ts).
   */
  constructor(options: MachineOptions = {}, shared?: { buffer: SharedArrayBuffer }) {
    this.opts = { ...DEFAULTS, ...options };
    const n = this.opts.cpus;
    if (!Number.isInteger(n) || n < 1 || n > NR_CPUS) {
      throw new ErrnoError('EINVAL', `cpus ${n} is not between 1 and ${NR_CPUS}`);
    }
    for (const key of ['tickInterval', 'timeSlice', 'balanceInterval', 'maxTasks'] as const) {
      const v = this.opts[key];
      if (!Number.isInteger(v) || v < 1)
        throw new ErrnoError('EINVAL', `${key} ${v} is not a positive integer`);
    }
    for (const key of ['watchdogThresh', 'nsPerInsn'] as const) {
      const v = this.opts[key];
      if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
        throw new ErrnoError('EINVAL', `${key} ${v} is not a positive number`);
      }
    }
    if (!['warn', 'fatal', 'off'].includes(this.opts.debugPreempt)) {
      throw new ErrnoError(
        'EINVAL',
        `debugPreempt '${this.opts.debugPreempt}' is not warn, fatal or off`,
      );
    }
    this.memory = new PhysicalMemory(this.opts.memorySize, shared?.buffer);
    this.map = new AddressMap(this.memory.size);
    definePercpuCoreSymbols(this.linker!);
    defineKernelVars(this.linker!);
    this.linker!.defineData('jiffies', u64, 0n);
  }

  get booted(): boolean {
    return this.imageOrNull !== null;
  }
  get image(): LinkedImage {
    if (this.imageOrNull === null) throw new ErrnoError('EAGAIN', 'the machine has not booted');
    return this.imageOrNull;
  }
  get areas(): PerCpuAreas {
    if (this.areasOrNull === null) throw new ErrnoError('EAGAIN', 'the machine has not booted');
    return this.areasOrNull;
  }
  /** alloc_percpu / free_percpu: the per-CPU chunk allocator (percpu/allocator.ts). */
  get percpu(): PercpuAllocator {
    if (this.percpuOrNull === null) throw new ErrnoError('EAGAIN', 'the machine has not booted');
    return this.percpuOrNull;
  }
  /** kmalloc / kfree: the kernel heap (segments/kmalloc.ts). */
  get kheap(): KernelHeap {
    if (this.kheapOrNull === null) throw new ErrnoError('EAGAIN', 'the machine has not booted');
    return this.kheapOrNull;
  }
  /** vmalloc / vfree: page runs for what kmalloc cannot hold (segments/vmalloc.ts). */
  get vmalloc(): Vmalloc {
    if (this.vmallocOrNull === null) throw new ErrnoError('EAGAIN', 'the machine has not booted');
    return this.vmallocOrNull;
  }

  get nrCpus(): number {
    return this.opts.cpus;
  }

  // ---- image ----------------------------------------------------------------

  /**
   * DEFINE_PER_CPU: a static per-CPU variable in the template; before boot.
   * After boot, `symbol(name)` is its per-CPU pointer (its offset in
   * `.data..percpu`) and `StaticPerCpu.lookup(m, name)` its typed handle.
   */
  definePerCpu(name: string, type: CType, init?: unknown, opts?: PlacementOptions): void {
    this.unbooted(`define per-CPU variable '${name}'`).definePerCpu(name, type, init, opts);
  }

  /** A global in `.data`; before boot. */
  defineData(name: string, type: CType, init?: unknown): void {
    this.unbooted(`define '${name}'`).defineData(name, type, init);
  }

  /** The address of a symbol: a per-CPU pointer for per-CPU variables. */
  symbol(name: string): number {
    const s = this.image.symbols.get(name);
    if (s === undefined) throw new ErrnoError('ENOENT', `no symbol '${name}'`);
    return s.address;
  }

  /** Makes `name` resolvable in `r1 = name ll` of programs assembled with `m.asm`. */
  defineAsmSymbol(name: string, symbol: AsmSymbol): void {
    this.asmSymbols.set(name, symbol);
  }

  /** Options for the assembler: every linked symbol, extra symbols, and the kfunc names. */
  asmOptions(): AsmOptions {
    if (!this.booted) this.boot();
    const symbols = new Map<string, AsmSymbol>();
    for (const s of this.image.symbols.all())
      symbols.set(s.name, { kind: 'value', value: BigInt(s.address) });
    for (const [k, v] of this.asmSymbols) symbols.set(k, v);
    const kfuncs = new Map(this.kfuncs.entries().map((e) => [e.name, e.id]));
    return { symbols, kfuncs };
  }

  /** The tagged template assembler with this machine's symbols and kfuncs; boots if needed. */
  get asm(): ReturnType<typeof asmWith> {
    return asmWith(this.asmOptions());
  }

  /** Assembles pseudo-C source with this machine's symbols and kfuncs; boots if needed. */
  assemble(source: string): AssembledProgram {
    return assemble(source, this.asmOptions());
  }

  /**
   * Disassembly with this machine's names: kfuncs, helpers, and symbols for
   * `lddw` immediates that are exactly a variable's address or per-CPU pointer.
   */
  disasmOptions(): DisasmOptions {
    const symbols = this.image.symbols;
    const byValue = new Map<bigint, string>();
    for (const s of symbols.all())
      if (!byValue.has(BigInt(s.address))) byValue.set(BigInt(s.address), s.name);
    const kfuncNames = new Map(this.kfuncs.entries().map((e) => [e.id, e.name] as const));
    return { helperNames: true, kfuncNames, symbolOf: (v) => byValue.get(v) };
  }

  private unbooted(what: string): Linker {
    if (this.linker === null)
      throw new ErrnoError('EBUSY', `cannot ${what}: the machine has booted`);
    return this.linker;
  }

  // ---- boot -------------------------------------------------------------------

  /**
   * Links the image, sets up the per-CPU areas, the per-CPU allocator (and
   * its sanitizer, unless the `sanitizer` option is off), the CPUs, run
   * queues and idle tasks, then RCU and the percpu kptr kfuncs and helpers.
   */
  boot(): this {
    const linker = this.unbooted('boot twice');
    // Per-CPU pointers are offsets below the template's size; as on x86-64,
    // nothing is mapped there, so one used without this_cpu_ptr faults.
    const hole = alignUp(Math.max(PAGE_SIZE, linker.percpuSize()), PAGE_SIZE);
    this.map.skipTo(hole);
    this.memory.lowLimit = hole;
    this.imageOrNull = linkAndLoad(linker, this.memory, this.map);
    this.linker = null;
    const areas = setupPerCpuAreas(this.memory, this.map, this.image, this.nrCpus);
    this.areasOrNull = areas;
    // The first chunk's reserved and dynamic parts, then chunks from their own region.
    // Messages carry mm/percpu.c's pr_fmt prefix; the balance worker runs from the tick.
    this.percpuOrNull = new PercpuAllocator({
      memory: this.memory,
      map: this.map,
      areas,
      chunkRegionSize: this.opts.percpuChunkRegion,
      warn: (line) => this.report('warning', this.current ?? this.cpus[0], [`percpu: ${line}`]),
      currentCpu: () => this.current?.id ?? 0,
    });
    this.kheapOrNull = KernelHeap.create(this.memory, this.map, this.opts.kmallocHeap, {
      currentCpu: () => this.current?.id ?? 0,
    });
    const vmallocSize =
      this.opts.vmallocSize || Math.min(16 << 20, alignUp(this.memory.size / 16, PAGE_SIZE));
    this.vmallocOrNull = Vmalloc.create(this.memory, this.map, vmallocSize, {
      currentCpu: () => this.current?.id ?? 0,
    });
    const sanitizer = this.opts.sanitizer ? attachPercpuSanitizer(this) : undefined;
    if (this.opts.trace) {
      this.tracer = new Tracer(this.memory, this.map, this.nrCpus, {
        bytesPerCpu: this.opts.traceBytesPerCpu,
      });
    }
    this.text = new TextSection(
      this.memory,
      this.map.reserve('.text', this.opts.textSize),
      this.image.symbols,
      this.pseudoResolver,
    );
    this.reserveTaskSlots();
    registerGuestInterface(this);
    const irqStacks = this.map.reserve('irq stacks', this.nrCpus * STACK_BYTES);
    for (let id = 0; id < this.nrCpus; id++) {
      const vars = kernelVarAddrs(areas, id);
      const cpu = new Cpu({
        memory: this.memory,
        id,
        helpers: this.helpers,
        kfuncs: this.kfuncs,
        gsBase: areas.offsets[id],
      });
      cpu.probe = probeOf(this);
      const idle = this.createTask(
        { comm: `swapper/${id}`, cpu: id, allowed: [id] },
        { kind: 'idle' },
        0,
      );
      const irqCtx = new CpuContext(
        loadProgram([{ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }]),
        irqStacks.start + (id + 1) * STACK_BYTES,
      );
      const state = new CpuState(
        id,
        cpu,
        this.memory,
        vars,
        new RunQueue(this.memory, vars.runqueue, id),
        idle,
        irqCtx,
        this.opts.tickInterval,
      );
      state.rq.curr = idle.addr;
      this.memory.write64(vars.currentTask, BigInt(idle.addr));
      this.cpus.push(state);
      this.timerHandlers.push([]);
    }
    installPercpuKptr(this, this.percpu, sanitizer);
    return this;
  }

  private reserveTaskSlots(): void {
    const n = this.opts.maxTasks + this.nrCpus;
    const structs = this.map.reserve('task structs', n * taskStruct.size, 8);
    const stacks = this.map.reserve('task stacks', n * STACK_BYTES);
    this.taskSlots = Array.from({ length: n }, (_, k) => ({
      addr: structs.start + k * taskStruct.size,
      stackTop: stacks.start + (k + 1) * STACK_BYTES,
    }));
  }

  // ---- tasks --------------------------------------------------------------------

  /**
   * Creates a task and queues it on its CPU. Exactly one of `program` and
   * `body` is given.
   */
  spawn(opts: SpawnOptions): Task {
    if (!this.booted) this.boot();
    if ((opts.program === undefined) === (opts.body === undefined)) {
      throw new ErrnoError('EINVAL', `task '${opts.comm}' needs exactly one of program and body`);
    }
    const cpu = opts.cpu ?? 0;
    this.areas.checkCpu(cpu);
    const allowed = opts.kthread ? [cpu] : (opts.allowed ?? this.cpus.map((c) => c.id));
    if (!allowed.includes(cpu)) {
      throw new ErrnoError(
        'EINVAL',
        `task '${opts.comm}' starts on CPU ${cpu}, outside its allowed CPUs`,
      );
    }
    let task: Task;
    if (opts.program !== undefined) {
      const program = this.loadText(opts.program, opts.comm);
      task = this.createTask({ ...opts, allowed }, { kind: 'program', program }, this.nextPid++);
      (opts.args ?? []).forEach((v, k) => {
        task.ctx!.setReg(k + 1, BigInt(v));
      });
    } else {
      const gen: { body?: TaskBody } = {};
      task = this.createTask(
        { ...opts, allowed },
        { kind: 'native', body: lazyBody(gen) },
        this.nextPid++,
      );
      gen.body = opts.body!(task);
    }
    task.kthread = opts.kthread ?? false;
    this.tasks.set(task.pid, task);
    if (!task.kthread) this.liveCount++;
    wakeUpProcess(this, task, cpu);
    return task;
  }

  private createTask(
    opts: { comm: string; cpu?: number; allowed?: readonly number[] },
    body: ConstructorParameters<typeof Task>[2],
    pid: number,
  ): Task {
    const slot = this.taskSlots.shift();
    if (slot === undefined)
      throw new ErrnoError(
        'EAGAIN',
        `no room for task '${opts.comm}': maxTasks ${this.opts.maxTasks} reached`,
      );
    let mask = 0n;
    for (const c of opts.allowed ?? []) mask |= 1n << BigInt(c);
    Task.init(this.memory, slot.addr, {
      pid,
      comm: opts.comm,
      cpu: opts.cpu ?? 0,
      cpusAllowed: mask,
      stackTop: slot.stackTop,
    });
    return new Task(this.memory, slot.addr, body);
  }

  /** Loads a program into `.text` (once per source); see text-section.ts. */
  loadText(source: ProgramSource, name: string): LoadedProgram {
    if (this.text === null) this.boot();
    return this.text!.load(source, name);
  }

  /** Tasks that keep a run going: spawned, not kthreads, not yet exited. */
  liveTasks(): Task[] {
    return [...this.tasks.values()].filter((t) => !t.kthread && !t.exited);
  }

  get finished(): boolean {
    return this.booted && this.liveCount === 0;
  }

  /** Called by do_exit: one fewer task keeps the run going. */
  noteExit(task: Task): void {
    if (!task.kthread) this.liveCount--;
  }

  /** Adds a hardirq handler to CPU `cpu`'s timer interrupt ('all' for every CPU). */
  onTimer(cpu: number | 'all', handler: TimerHandler | LoadedProgram | AssembledProgram): void {
    if (!this.booted) this.boot();
    const h: TimerHandler =
      'program' in handler || 'fn' in handler
        ? (handler as TimerHandler)
        : { program: this.loadText(handler, 'timer_handler') };
    const ids = cpu === 'all' ? this.cpus.map((c) => c.id) : [cpu];
    for (const id of ids) {
      this.areas.checkCpu(id);
      this.timerHandlers[id].push(h);
    }
  }

  // ---- execution ------------------------------------------------------------------

  /** Runs CPU `id` for `quantum` instructions (see execution.ts); returns those used. */
  runCpu(id: number, quantum: number): number {
    return runCpu(this, this.cpus[id], quantum);
  }

  /** Moves this CPU's clock and the trace clock forward. */
  advance(c: CpuState, n: number): void {
    c.clock += n;
    this.steps += n;
  }

  /** The number of the next oops report (`Oops: ... [#n]`). */
  nextOops(): number {
    return ++this.oopsCount;
  }

  // ---- reports and trace ----------------------------------------------------------

  report(kind: ReportKind, c: CpuState, lines: string[]): void {
    const task = c.curr;
    const r: Report = { kind, cpu: c.id, pid: task.pid, comm: task.comm, ts: this.now(), lines };
    this.reports.push(r);
    const event = kind === 'oops' ? 'oops' : kind === 'debug_preempt' ? 'debug_preempt' : 'print';
    for (const text of lines) this.trace(c, { type: event, text } as TraceEventBody);
  }

  /** Emulated time in ns, exact to the instruction even inside a run. */
  now(): number {
    const c = this.current;
    const inRun = c !== null && c.cpu.current !== null ? c.cpu.executed : 0;
    return (this.steps + inRun) * this.opts.nsPerInsn;
  }

  /** Emits a trace event on CPU `c` with the header of its current state. */
  trace(c: CpuState, body: TraceEventBody): void {
    if (this.tracer === null) return;
    const task = c.curr;
    this.tracer.emit({
      ts: this.now(),
      cpu: c.id,
      pid: task.pid,
      comm: task.comm,
      flags: traceFlags({
        preemptCount: c.preemptCount,
        irqsOff: !c.irqsEnabled,
        needResched: c.needResched,
        migrationDisabled: task.migrationDisabled,
      }),
      ...body,
    });
  }

  // ---- PreemptionModel: the calling code's CPU ------------------------------------

  /** The CPU executing the caller; EPERM outside any CPU. */
  here(): CpuState {
    if (this.current === null) {
      throw new ErrnoError(
        'EPERM',
        'not running on any CPU: call this from a task, a helper or a handler',
      );
    }
    return this.current;
  }

  rawSmpProcessorId(): number {
    return this.here().id;
  }

  smpProcessorId(): number {
    this.checkPreemptionDisabled('smp_processor_id', '');
    return this.here().id;
  }

  preemptDisable(): void {
    const c = this.here();
    preemptCountAdd(this.memory, c.vars.preemptCount, PREEMPT_OFFSET);
  }

  preemptEnable(): void {
    const c = this.here();
    this.preemptEnableNoResched();
    if (c.preemptCount === 0 && c.needResched && c.irqsEnabled) c.reschedRequested = true;
  }

  preemptEnableNoResched(): void {
    const c = this.here();
    if ((c.preemptCount & 0xff) === 0) {
      this.report('warning', c, [
        `WARNING: CPU: ${c.id} PID: ${c.curr.pid} preempt_enable() with preempt_count 0`,
      ]);
      return;
    }
    preemptCountAdd(this.memory, c.vars.preemptCount, -PREEMPT_OFFSET);
  }

  migrateDisable(): void {
    const task = this.here().curr;
    task.migrationDisabled = task.migrationDisabled + 1;
  }

  migrateEnable(): void {
    const c = this.here();
    const task = c.curr;
    if (task.migrationDisabled === 0) {
      this.report('warning', c, [
        `WARNING: CPU: ${c.id} PID: ${task.pid} migrate_enable() without migrate_disable()`,
      ]);
      return;
    }
    task.migrationDisabled = task.migrationDisabled - 1;
  }

  localIrqSave(): number {
    return this.here().setIrqsEnabled(false);
  }

  localIrqRestore(flags: number): void {
    const c = this.here();
    c.setIrqsEnabled((flags & 0x200) !== 0);
    // Interrupts raised while disabled are taken right after the restore.
    if (c.irqsEnabled && c.pendingIrqs !== 0) c.reschedRequested = true;
  }

  localBhDisable(): void {
    preemptCountAdd(this.memory, this.here().vars.preemptCount, 2 * SOFTIRQ_OFFSET);
  }

  /** __local_bh_enable_ip(): softirqs raised meanwhile run now, unless in interrupt context. */
  localBhEnable(): void {
    const c = this.here();
    preemptCountAdd(this.memory, c.vars.preemptCount, -2 * SOFTIRQ_OFFSET);
    if (!inInterrupt(c.preemptCount) && c.softirqPending !== 0) doSoftirq(this, c);
    if (c.preemptCount === 0 && c.needResched) c.reschedRequested = true;
  }

  preemptible(): boolean {
    return this.here().preemptible();
  }

  /** DEBUG_PREEMPT's check_preemption_disabled(); see debug-preempt.ts. */
  checkPreemptionDisabled(what1: string, what2: string, pc?: number): void {
    this.debugPreempt.check(this.here(), what1, what2, pc);
  }

  /** DEBUG_PREEMPT reports made, including those the rate limit suppressed. */
  get debugPreemptReports(): number {
    return this.debugPreempt.count;
  }
}

/** A generator that forwards to one created after the task exists (it may need the task). */
function* lazyBody(holder: { body?: TaskBody }): TaskBody {
  return yield* holder.body!;
}
