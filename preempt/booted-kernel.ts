/**
 * The booted kernel: N CPUs over one physical memory, booted like Linux
 * (the image linked, per-CPU areas set up from the `.data..percpu`
 * template, a run queue and an idle task per CPU), with tasks that run
 * guest eBPF programs or native TS generators, timer interrupts, softirqs,
 * preemption and migration. Its constructor is the boot sequence (kernel.ts
 * lists the order); the builder (machine.ts) calls it once.
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
 * const k = new Machine({ cpus: 2 }).boot(); // a BootedKernel, typed Kernel
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
import { type LoadedProgram, loadProgram, type PseudoResolver } from '../cpu/program.ts';
import { PercpuAllocator } from '../percpu/allocator.ts';
import { type PerCpuAreas, setupPerCpuAreas } from '../percpu/per-cpu-areas.ts';
import { PercpuSanitizer } from '../percpu/sanitizer.ts';
import type { AddressMap, Region } from '../segments/address-map.ts';
import { alignUp } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { linkAndLoad } from '../segments/image-loader.ts';
import { KernelHeap } from '../segments/kmalloc.ts';
import type { LinkedImage, Linker } from '../segments/linker.ts';
import { PAGE_SIZE, type PhysicalMemory } from '../segments/memory.ts';
import { Vmalloc } from '../segments/vmalloc.ts';
import { assembledAt } from './assembly-site.ts';
import { BpfMapTable } from './bpf-map-table.ts';
import { BpfProgTable } from './bpf-prog-table.ts';
import { CpuState } from './cpu-state.ts';
import { DebugPreempt } from './debug-preempt.ts';
import { runCpu } from './execution.ts';
import { probeOf, registerGuestInterface } from './guest-interface.ts';
import {
  doSoftirq,
  FIRST_DEVICE_IRQ,
  KERNEL_SOFTIRQS,
  RESCHEDULE_IRQ,
  raiseDeviceIrq,
} from './interrupts.ts';
import type {
  IrqAction,
  Kernel,
  KernelExtensions,
  ObjectSpawnOptions,
  Sleeper,
  SoftirqAction,
  SpawnOptions,
  TaskWait,
  TimerHandler,
} from './kernel.ts';
import { protectKernelData } from './kernel-protection.ts';
import { kernelVarAddrs } from './kernel-vars.ts';
import type { ResolvedMachineOptions } from './machine-options.ts';
import { installPercpuKptr, sanitizerHost } from './percpu-kptr.ts';
import { PerfEventTable } from './perf-event.ts';
import {
  inInterrupt,
  PREEMPT_MASK,
  PREEMPT_OFFSET,
  preemptCountAdd,
  SOFTIRQ_MASK,
  SOFTIRQ_OFFSET,
} from './preempt-count.ts';
import { Rcu } from './rcu.ts';
import { rcuBarrier, synchronizeRcu } from './rcu-sync.ts';
import type { Report, ReportKind } from './reports.ts';
import { RunQueue } from './runqueue.ts';
import { SchedWatch } from './sched-watch.ts';
import { wakeUpProcess } from './scheduler.ts';
import { msecsToTicks, sleepFor } from './sleep.ts';
import { openSpawnableObject, type SpawnableObject } from './spawnable-object.ts';
import { Task, type TaskBody, taskStruct } from './task.ts';
import { type ProgramSource, TextSection } from './text-section.ts';
import {
  type PreemptIrqBody,
  SOFTIRQ_NAMES,
  type TraceEventBody,
  traceFlags,
} from './trace/events.ts';
import { Tracer } from './trace/tracer.ts';

/** What the builder hands to boot: the resolved options, the memory, and the image to link. */
export interface BootImage {
  readonly opts: ResolvedMachineOptions;
  readonly memory: PhysicalMemory;
  readonly map: AddressMap;
  readonly linker: Linker;
  /** Symbols defined with the builder's defineAsmSymbol. */
  readonly asmSymbols: ReadonlyMap<string, AsmSymbol>;
}

export class BootedKernel implements Kernel {
  readonly opts: ResolvedMachineOptions;
  readonly nrCpus: number;
  readonly memory: PhysicalMemory;
  readonly map: AddressMap;
  readonly image: LinkedImage;
  readonly areas: PerCpuAreas;
  readonly percpu: PercpuAllocator;
  readonly kheap: KernelHeap;
  readonly vmalloc: Vmalloc;
  readonly sanitizer: PercpuSanitizer | null;
  readonly rcu: Rcu;
  readonly maps = new BpfMapTable();
  readonly progs = new BpfProgTable((source, name) => this.loadText(source, name));
  readonly perfEvents: PerfEventTable;
  readonly tracer: Tracer | null;
  readonly reports: Report[] = [];
  readonly ext: KernelExtensions = {};
  readonly debugPreempt: DebugPreempt;
  readonly helpers = new HelperTable('helper');
  readonly kfuncs = new HelperTable('kfunc');
  readonly text: TextSection;
  readonly cpus: CpuState[] = [];
  /** Shared by the CPUs and run queues: what strategies see changed (sched-watch.ts). */
  private readonly schedWatch = new SchedWatch();
  readonly tasks = new Map<number, Task>();
  readonly timerHandlers: TimerHandler[][] = [];
  readonly irqActions = new Map<number, IrqAction>();
  readonly softirqActions: (SoftirqAction | undefined)[] = [];
  readonly sleepers: Sleeper[] = [];
  steps = 0;
  current: CpuState | null = null;
  /** Free task_struct slots: each one's struct and stack top. */
  private readonly freeSlots: { addr: number; stackTop: number }[];
  private readonly asmSymbols: Map<string, AsmSymbol>;
  /** Objects `spawn` opened by path, by the path as given. */
  private readonly objects = new Map<string, SpawnableObject>();
  private nextPid = 1;
  private oopsCount = 0;
  private liveCount = 0;

  /**
   * Boots: links the image, sets up the per-CPU areas, the per-CPU
   * allocator (and its sanitizer, unless the `sanitizer` option is off),
   * kmalloc and vmalloc, the CPUs, run queues and idle tasks, then RCU and
   * the percpu kptr kfuncs and helpers.
   */
  constructor(boot: BootImage) {
    const { opts, memory, map, linker } = boot;
    this.opts = opts;
    this.nrCpus = opts.cpus;
    this.memory = memory;
    this.map = map;
    this.asmSymbols = new Map(boot.asmSymbols);
    this.debugPreempt = new DebugPreempt(this);
    // Per-CPU pointers are offsets below the template's size; as on x86-64,
    // nothing is mapped there, so one used without this_cpu_ptr faults.
    const hole = alignUp(Math.max(PAGE_SIZE, linker.percpuSize()), PAGE_SIZE);
    map.skipTo(hole);
    memory.lowLimit = hole;
    this.image = linkAndLoad(linker, memory, map);
    const areas = setupPerCpuAreas(memory, map, this.image, this.nrCpus);
    this.areas = areas;
    const currentCpu = () => this.current?.id ?? 0;
    // The first chunk's reserved and dynamic parts, then chunks from their own region.
    // Messages carry mm/percpu.c's pr_fmt prefix; the balance worker runs from the tick.
    this.percpu = new PercpuAllocator({
      memory,
      map,
      areas,
      chunkRegionSize: opts.percpuChunkRegion,
      warn: (line) => this.report('warning', this.current ?? this.cpus[0], [`percpu: ${line}`]),
      currentCpu,
    });
    // vmalloc, then kmalloc, then the stacks: the kmalloc heap's pages and the
    // stacks lie side by side, one window of ordinary pages for the
    // interpreter's fast path (kernel-protection.ts); the kernel's own
    // regions (trace rings, .text, task structs) come after them.
    const vmallocSize =
      opts.vmallocSize || Math.min(16 << 20, alignUp(memory.size / 16, PAGE_SIZE));
    this.vmalloc = Vmalloc.create(memory, map, vmallocSize, { currentCpu });
    this.kheap = KernelHeap.create(memory, map, opts.kmallocHeap, { currentCpu });
    this.perfEvents = new PerfEventTable(this);
    const slots = opts.maxTasks + this.nrCpus;
    const stacks = map.reserve('task stacks', slots * STACK_BYTES);
    const irqStacks = map.reserve('irq stacks', this.nrCpus * STACK_BYTES);
    this.sanitizer = opts.sanitizer
      ? PercpuSanitizer.attach(this.percpu, sanitizerHost(this))
      : null;
    this.tracer = opts.trace
      ? new Tracer(memory, map, this.nrCpus, { bytesPerCpu: opts.traceBytesPerCpu })
      : null;
    if (this.tracer !== null) {
      this.tracer.rings.onCorrupt = (cpu, message) =>
        this.report('warning', this.cpus[cpu] ?? this.cpus[0], [message]);
    }
    const maps = this.maps;
    const resolver: PseudoResolver = {
      mapByFd: (fd) => BigInt(maps.get(fd).addr),
      mapValueByFd: (fd, off) => BigInt(maps.directValue(fd, off)),
    };
    this.text = new TextSection(
      memory,
      map.reserve('.text', opts.textSize),
      this.image.symbols,
      resolver,
    );
    const taskStructs = map.reserve('task structs', slots * taskStruct.size, 8);
    this.freeSlots = Array.from({ length: slots }, (_, k) => ({
      addr: taskStructs.start + k * taskStruct.size,
      stackTop: stacks.start + (k + 1) * STACK_BYTES,
    }));
    registerGuestInterface(this);
    this.bootCpus(irqStacks);
    this.rcu = Rcu.install(this, taskStructs);
    installPercpuKptr(this);
    protectKernelData(this, { taskStructs, stacks });
  }

  /** Each CPU: its interpreter on its per-CPU area, its run queue, its idle task. */
  private bootCpus(irqStacks: Region): void {
    for (let id = 0; id < this.nrCpus; id++) {
      const vars = kernelVarAddrs(this.areas, id);
      const cpu = new Cpu({
        memory: this.memory,
        id,
        helpers: this.helpers,
        kfuncs: this.kfuncs,
        gsBase: this.areas.offsets[id],
        tier: this.opts.tier,
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
        new RunQueue(this.memory, vars.runqueue, id, this.schedWatch),
        idle,
        irqCtx,
        this.opts.tickInterval,
        this.schedWatch,
      );
      state.rq.curr = idle.addr;
      this.memory.write64(vars.currentTask, BigInt(idle.addr));
      this.cpus.push(state);
      this.timerHandlers.push([]);
    }
  }

  // ---- image and programs --------------------------------------------------------

  symbol(name: string): number {
    const s = this.image.symbols.get(name);
    if (s === undefined) throw new ErrnoError('ENOENT', `no symbol '${name}'`);
    return s.address;
  }

  defineAsmSymbol(name: string, symbol: AsmSymbol): void {
    this.asmSymbols.set(name, symbol);
  }

  asmOptions(): AsmOptions {
    const symbols = new Map<string, AsmSymbol>();
    for (const s of this.image.symbols.all())
      symbols.set(s.name, { kind: 'value', value: BigInt(s.address) });
    for (const [k, v] of this.asmSymbols) symbols.set(k, v);
    const kfuncs = new Map(this.kfuncs.entries().map((e) => [e.name, e.id]));
    return { symbols, kfuncs };
  }

  get asm(): ReturnType<typeof asmWith> {
    const tag = asmWith(this.asmOptions());
    return (strings, ...values) => assembledAt(undefined, () => tag(strings, ...values));
  }

  assemble(source: string, name?: string): AssembledProgram {
    return assembledAt(name, () => assemble(source, this.asmOptions()));
  }

  disasmOptions(): DisasmOptions {
    const byValue = new Map<bigint, string>();
    for (const s of this.image.symbols.all())
      if (!byValue.has(BigInt(s.address))) byValue.set(BigInt(s.address), s.name);
    const kfuncNames = new Map(this.kfuncs.entries().map((e) => [e.id, e.name] as const));
    return { helperNames: true, kfuncNames, symbolOf: (v) => byValue.get(v) };
  }

  loadText(source: ProgramSource, name: string): LoadedProgram {
    return this.text.load(source, name);
  }

  // ---- tasks -------------------------------------------------------------------------

  spawn(given: SpawnOptions | ObjectSpawnOptions): Task {
    const opts = 'object' in given ? this.objectTask(given) : given;
    if ((opts.program === undefined) === (opts.body === undefined)) {
      throw new ErrnoError('EINVAL', `task '${opts.comm}' needs exactly one of program and body`);
    }
    checkSpawnOptions(opts, this.nrCpus);
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

  /** The task options of a program of an object (spawnable-object.ts); a path is opened once per kernel. */
  private objectTask(o: ObjectSpawnOptions): SpawnOptions {
    if (typeof o.program !== 'string' || o.program === '')
      throw new ErrnoError('EINVAL', 'spawn of an object needs the name of one of its programs');
    let object = o.object;
    if (typeof object === 'string') {
      const file = object;
      object = this.objects.get(file) ?? openSpawnableObject(file);
      this.objects.set(file, object);
    }
    const { program, args } = object.taskProgram(this, o.program);
    return { comm: o.comm ?? o.program, cpu: o.cpu, allowed: o.allowed, program, args };
  }

  private createTask(
    opts: { comm: string; cpu?: number; allowed?: readonly number[] },
    body: ConstructorParameters<typeof Task>[2],
    pid: number,
  ): Task {
    const slot = this.freeSlots.shift();
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

  liveTasks(): Task[] {
    return [...this.tasks.values()].filter((t) => !t.kthread && !t.exited);
  }

  get finished(): boolean {
    return this.liveCount === 0;
  }

  noteExit(task: Task): void {
    if (!task.kthread) this.liveCount--;
  }

  onTimer(cpu: number | 'all', handler: TimerHandler | LoadedProgram | AssembledProgram): void {
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

  requestIrq(irq: number, name: string, handler: IrqAction['handler']): void {
    if (!Number.isInteger(irq) || irq < FIRST_DEVICE_IRQ || irq > 255 || irq === RESCHEDULE_IRQ) {
      throw new ErrnoError('EINVAL', `irq ${irq} is not a device vector ${FIRST_DEVICE_IRQ}..255`);
    }
    const had = this.irqActions.get(irq);
    if (had !== undefined) throw new ErrnoError('EBUSY', `irq ${irq} is taken by ${had.name}`);
    this.irqActions.set(irq, { name, handler });
  }

  raiseIrq(cpu: number, irq: number): void {
    this.areas.checkCpu(cpu);
    if (!this.irqActions.has(irq)) throw new ErrnoError('EINVAL', `irq ${irq} has no handler`);
    raiseDeviceIrq(this.cpus[cpu], irq);
  }

  openSoftirq(vec: number, action: SoftirqAction): void {
    if (!Number.isInteger(vec) || vec < 0 || vec >= SOFTIRQ_NAMES.length) {
      throw new ErrnoError('EINVAL', `softirq vector ${vec} is not 0..${SOFTIRQ_NAMES.length - 1}`);
    }
    if (KERNEL_SOFTIRQS.includes(vec) || this.softirqActions[vec] !== undefined) {
      throw new ErrnoError('EBUSY', `softirq ${SOFTIRQ_NAMES[vec]} has an action`);
    }
    this.softirqActions[vec] = action;
  }

  raiseSoftirq(cpu: number, vec: number): void {
    this.areas.checkCpu(cpu);
    const c = this.cpus[cpu];
    c.softirqPending |= 1 << vec;
  }

  // ---- native tasks' blocking calls -----------------------------------------------------

  *msleep(ms: number): TaskWait {
    yield* this.sleepTicks(msecsToTicks(this.opts, ms));
  }

  *sleepTicks(ticks: number): TaskWait {
    sleepFor(this, this.here(), ticks);
    yield;
  }

  synchronizeRcu(): TaskWait {
    return synchronizeRcu(this);
  }

  rcuBarrier(): TaskWait {
    return rcuBarrier(this);
  }

  // ---- execution ------------------------------------------------------------------------

  runCpu(id: number, quantum: number): number {
    return runCpu(this, this.cpus[id], quantum);
  }

  advance(c: CpuState, n: number): void {
    c.clock += n;
    this.steps += n;
  }

  nextOops(): number {
    return ++this.oopsCount;
  }

  // ---- reports and trace ------------------------------------------------------------------

  report(kind: ReportKind, c: CpuState, lines: string[]): void {
    const task = c.curr;
    const r: Report = { kind, cpu: c.id, pid: task.pid, comm: task.comm, ts: this.now(), lines };
    this.reports.push(r);
    const event = kind === 'oops' ? 'oops' : kind === 'debug_preempt' ? 'debug_preempt' : 'print';
    for (const text of lines) this.trace(c, { type: event, text } as TraceEventBody);
  }

  now(): number {
    const c = this.current;
    const inRun = c !== null && c.cpu.current !== null ? c.cpu.executed : 0;
    return (this.steps + inRun) * this.opts.nsPerInsn;
  }

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

  /**
   * The preemptirq tracepoints, when selected: the caller is the guest
   * instruction of the kfunc call (its pc is just past it), -1 from native code.
   */
  private tracePreemptIrq(c: CpuState, type: PreemptIrqBody['type']): void {
    if (this.tracer === null || !this.tracer.wants(type)) return;
    const ctx = c.cpu.current;
    this.trace(c, { type, callerPc: ctx === null ? -1 : ctx.pc - 1 });
  }

  // ---- PreemptionModel: the calling code's CPU ----------------------------------------------

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
    const count = preemptCountAdd(this.memory, c.vars.preemptCount, PREEMPT_OFFSET);
    if ((count & PREEMPT_MASK) === 1) this.tracePreemptIrq(c, 'preempt_disable');
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
    const count = preemptCountAdd(this.memory, c.vars.preemptCount, -PREEMPT_OFFSET);
    if ((count & PREEMPT_MASK) === 0) this.tracePreemptIrq(c, 'preempt_enable');
  }

  migrateDisable(): void {
    const c = this.here();
    const task = c.curr;
    task.migrationDisabled = task.migrationDisabled + 1;
    if (task.migrationDisabled === 1) this.tracePreemptIrq(c, 'migrate_disable');
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
    if (task.migrationDisabled === 0) this.tracePreemptIrq(c, 'migrate_enable');
  }

  localIrqSave(): number {
    const c = this.here();
    if (c.irqsEnabled) this.tracePreemptIrq(c, 'irq_disable');
    return c.setIrqsEnabled(false);
  }

  localIrqRestore(flags: number): void {
    const c = this.here();
    const on = (flags & 0x200) !== 0;
    if (on !== c.irqsEnabled) this.tracePreemptIrq(c, on ? 'irq_enable' : 'irq_disable');
    c.setIrqsEnabled(on);
    // Interrupts raised while disabled are taken right after the restore.
    if (c.irqsEnabled && c.pendingIrqs !== 0) c.reschedRequested = true;
  }

  localBhDisable(): void {
    preemptCountAdd(this.memory, this.here().vars.preemptCount, 2 * SOFTIRQ_OFFSET);
  }

  localBhEnable(): void {
    const c = this.here();
    // The kernel's DEBUG_LOCKS_WARN_ON in __local_bh_enable_ip: an unbalanced enable changes nothing.
    if ((c.preemptCount & SOFTIRQ_MASK) < 2 * SOFTIRQ_OFFSET) {
      this.report('warning', c, [
        `WARNING: CPU: ${c.id} PID: ${c.curr.pid} local_bh_enable() without local_bh_disable() (softirq count ${(c.preemptCount & SOFTIRQ_MASK) >> 8})`,
      ]);
      return;
    }
    preemptCountAdd(this.memory, c.vars.preemptCount, -2 * SOFTIRQ_OFFSET);
    if (!inInterrupt(c.preemptCount) && c.softirqPending !== 0) doSoftirq(this, c);
    if (c.preemptCount === 0 && c.needResched) c.reschedRequested = true;
  }

  preemptible(): boolean {
    return this.here().preemptible();
  }

  checkPreemptionDisabled(what1: string, what2: string, pc?: number): void {
    this.debugPreempt.check(this.here(), what1, what2, pc);
  }

  get debugPreemptReports(): number {
    return this.debugPreempt.count;
  }
}

/** Arguments go in r1..r5 (BPF's argument registers); r6-r10, pc and depth are the kernel's. */
const MAX_SPAWN_ARGS = 5;

/** EINVAL for spawn options no task can have, naming the option and its value. */
function checkSpawnOptions(opts: SpawnOptions, nrCpus: number): void {
  const bad = (what: string) => new ErrnoError('EINVAL', `task '${opts.comm}': ${what}`);
  if (typeof opts.comm !== 'string' || opts.comm === '')
    throw bad('comm must be a non-empty string');
  const args = opts.args ?? [];
  if (args.length > MAX_SPAWN_ARGS) {
    throw bad(`${args.length} args: a program takes at most ${MAX_SPAWN_ARGS} (r1..r5)`);
  }
  if (args.length > 0 && opts.program === undefined)
    throw bad('args are for program tasks (r1..r5)');
  args.forEach((v, k) => {
    const ok = typeof v === 'bigint' ? v >= -(1n << 63n) && v < 1n << 64n : Number.isSafeInteger(v);
    if (!ok) throw bad(`args[${k}] = ${String(v)} is not a 64-bit integer`);
  });
  if (
    opts.cpu !== undefined &&
    (!Number.isInteger(opts.cpu) || opts.cpu < 0 || opts.cpu >= nrCpus)
  ) {
    throw bad(`cpu ${opts.cpu} does not exist (CPUs 0..${nrCpus - 1})`);
  }
  if (opts.allowed !== undefined) {
    if (opts.allowed.length === 0) throw bad('allowed names no CPU');
    for (const c of opts.allowed) {
      if (!Number.isInteger(c) || c < 0 || c >= nrCpus) {
        throw bad(`allowed CPU ${c} does not exist (CPUs 0..${nrCpus - 1})`);
      }
    }
  }
}

/** A generator that forwards to one created after the task exists (it may need the task). */
function* lazyBody(holder: { body?: TaskBody }): TaskBody {
  return yield* holder.body!;
}
