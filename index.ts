/**
 * percpu-emu's package entry: everything a scenario file, a regression test
 * or a lab needs, from `import { ... } from 'percpu-emu'`. The layers below
 * (segments, cpu, percpu, maps, preempt, loader, nic, scenarios) keep their own files;
 * this module only gathers their public surface.
 *
 * @example
 * import { defineScenario, perCpuSumEquals, runScenario, u64 } from 'percpu-emu';
 *
 * const s = defineScenario({
 *   name: 'counter',
 *   description: 'one task counts on CPU 0',
 *   define: (m) => m.definePerCpu('counter', u64, 0n),
 *   setup: (k) => k.spawn({ comm: 'inc', cpu: 0, program: k.assemble('r0 = 0\nexit') }),
 *   invariants: [perCpuSumEquals('counter', 0n)],
 * });
 * runScenario(s, { strategy: 'pct', seed: 1 }).ok; // true
 */

export { AsmError } from './cpu/asm/asm-error.ts';
export { type AsmOptions, type AssembledProgram, assemble } from './cpu/asm/pseudo-c.ts';
// The processor: assembler, disassembler, programs and a bare CPU.
export { type AsmTag, asm, asmWith } from './cpu/asm/template.ts';
export { CpuContext } from './cpu/context.ts';
export { Cpu, type CpuOptions, StopReason } from './cpu/cpu.ts';
export { disassemble } from './cpu/disasm.ts';
export { CpuFault } from './cpu/fault.ts';
export type { Insn } from './cpu/insn.ts';
export { LoadedProgram, loadProgram } from './cpu/program.ts';
// The object loader: clang-compiled BPF C programs, libbpf's bpf_object in TS.
export * from './loader/index.ts';
// BPF maps: creation, typed views, the ring buffer consumer, the uapi numbers.
export * from './maps/index.ts';
// The network layer: devices, RSS, NAPI, XDP, CPUMAP and the traffic source.
export * from './nic/index.ts';
// The per-CPU layer: guards, the typed per-CPU API, the allocator and the sanitizer.
export * from './percpu/index.ts';
export { type BpfMapObject, BpfMapTable } from './preempt/bpf-map-table.ts';
export {
  BPF_PROG_TYPE,
  type BpfProgInfo,
  type BpfProgLoadOpts,
  BpfProgTable,
  type BpfProgType,
} from './preempt/bpf-prog-table.ts';
export {
  type EngineOptions,
  type EngineResult,
  runDeterministic,
  type Strategy,
} from './preempt/engine.ts';
export type { Kernel, SpawnOptions, TaskWait, TimerHandler } from './preempt/kernel.ts';
// The kernel context: the machine builder, the booted kernel, its options and reports.
export { type DebugPreemptMode, Machine, type MachineOptions } from './preempt/machine.ts';
export {
  type ParallelEnd,
  ParallelRunner,
  type ParallelRunOptions,
  type ParallelRunResult,
} from './preempt/parallel/runner.ts';
export {
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_RECORD_LOST,
  PERF_RECORD_SAMPLE,
  PERF_TYPE_SOFTWARE,
  type PerfEvent,
  type PerfEventAttr,
  PerfEventTable,
} from './preempt/perf-event.ts';
export type { Report, ReportKind } from './preempt/reports.ts';
export { type PctOptions, pct } from './preempt/strategies/pct.ts';
export { type RandomOptions, random } from './preempt/strategies/random.ts';
export { replay } from './preempt/strategies/replay.ts';
export { roundRobin } from './preempt/strategies/round-robin.ts';
export type { Task } from './preempt/task.ts';
export { type ExploreOptions, type ExploreResult, explore } from './scenarios/explore.ts';
export {
  type ExplorePoolOptions,
  explorePool,
  SeedThreads,
} from './scenarios/explore-pool.ts';
export { loadScenario } from './scenarios/load-scenario.ts';
export {
  type MinimizeOptions,
  type MinimizeResult,
  minimize,
  type ScheduleCost,
} from './scenarios/minimize.ts';
export { formatReport } from './scenarios/report.ts';
export {
  type ParallelScenarioOptions,
  type ParallelScenarioResult,
  runScenarioParallel,
} from './scenarios/run-parallel.ts';
export {
  type RunScenarioOptions,
  runScenario,
  type ScenarioResult,
  type StrategyName,
} from './scenarios/run-scenario.ts';
// Scenarios: defining, running, exploring, reporting.
export {
  allTasksExited,
  defineScenario,
  type Invariant,
  perCpuSumEquals,
  perCpuValues,
  type Scenario,
  type Verdict,
} from './scenarios/scenario.ts';
export { runTimeline, type TimelineRun, timelineOf } from './scenarios/timeline-run.ts';
export {
  type ArrayType,
  array,
  type CType,
  decodeValue,
  encodeValue,
  type IntType,
  type StructType,
  s8,
  s16,
  s32,
  s64,
  struct,
  u8,
  u16,
  u32,
  u64,
} from './segments/ctype.ts';
export { ERRNO, type Errno, ErrnoError } from './segments/errno.ts';
// Memory and C types.
export { MemoryAccessError, PAGE_SIZE, PhysicalMemory } from './segments/memory.ts';
// Spinlocks with statistics (the spin_lock/spin_unlock kfuncs' lock).
export { type SpinlockStats, spinlockStats, spinlockType } from './segments/spinlock.ts';
export { extractTimeline, type TimelineRunInfo } from './timeline/extract-timeline.ts';
export type { TimelineData } from './timeline/timeline-data.ts';
export { timelineHtml } from './timeline/timeline-html.ts';
