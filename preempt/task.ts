/**
 * Tasks. Each lives in a `task_struct` in emulated memory, with its saved
 * CPU context (registers, pc, call frames) inside it, so the scheduler's
 * context switch is nothing but handing another struct's context to the
 * CPU. A task's body is either a guest eBPF program or native TS kernel
 * code: a generator that yields at each preemption point (kthreads and
 * scenario tasks). The JS `Task` object is a handle on the struct.
 *
 * @example
 * task.state;              // TASK_RUNNING, read from memory
 * task.migrationDisabled;  // the struct's migration_disabled count
 */

import { CpuContext, CTX_WORDS } from '../cpu/context.ts';
import type { LoadedProgram } from '../cpu/program.ts';
import { array, s32, s64, struct, u8, u32, u64 } from '../segments/ctype.ts';
import type { PhysicalMemory } from '../segments/memory.ts';

export const TASK_COMM_LEN = 16;
/** The priority of a nice-0 normal task, as sched_switch prints it. */
export const DEFAULT_PRIO = 120;

// Task states (include/linux/sched.h).
export const TASK_RUNNING = 0x0000;
export const TASK_INTERRUPTIBLE = 0x0001;
export const TASK_UNINTERRUPTIBLE = 0x0002;
export const EXIT_DEAD = 0x0010;
export const EXIT_ZOMBIE = 0x0020;

/** task_struct.flags: a kernel thread. */
export const PF_KTHREAD = 0x0020_0000;

export const taskStruct = struct('task_struct', [
  ['pid', s32],
  ['state', u32],
  ['cpu', s32],
  ['on_rq', u32],
  ['flags', u32],
  ['migration_disabled', u32],
  ['prio', u32],
  ['rcu_read_lock_nesting', s32],
  ['cpus_allowed', u64],
  ['exit_code', s64],
  ['nvcsw', u64],
  ['nivcsw', u64],
  ['stack', u64],
  ['comm', array(u8, TASK_COMM_LEN)],
  ['thread', array(u32, CTX_WORDS)],
]);
const TASK_STRUCT_OFF = taskStruct.off;

/**
 * Native task code: a generator that yields at its preemption points. What
 * runs between two yields is one step (like one instruction). The value it
 * returns is the task's exit code.
 */
export type TaskBody = Generator<void, number | undefined, void>;

export type TaskKind =
  | { kind: 'program'; program: LoadedProgram }
  | { kind: 'native'; body: TaskBody }
  | { kind: 'idle' };

export class Task {
  readonly ctx: CpuContext | null;
  /** pid and comm never change after init: cached, as the trace reads them often. */
  readonly pid: number;
  readonly comm: string;
  /**
   * The top of the task's stack, as created: the kernel's own copy, which a
   * resuming context must match (task_struct.stack in memory may be overwritten).
   */
  readonly stackTop: number;
  /**
   * A native body's next resume costs no instruction: it yielded in the
   * middle of a guest program it runs in slices (a cpumap kthread's XDP
   * program), a point a guest task's own run would not charge for. Set by
   * the body before it yields, cleared by the resume.
   */
  resumeFree = false;

  constructor(
    readonly memory: PhysicalMemory,
    /** Address of the task_struct. */
    readonly addr: number,
    readonly body: TaskKind,
  ) {
    this.stackTop = Number(memory.read64(addr + TASK_STRUCT_OFF.stack));
    this.ctx =
      body.kind === 'program'
        ? new CpuContext(
            body.program,
            this.stackTop,
            new Int32Array(memory.buffer, addr + TASK_STRUCT_OFF.thread, CTX_WORDS),
          )
        : null;
    this.pid = memory.read32(addr + TASK_STRUCT_OFF.pid) | 0;
    const bytes = memory.readBytes(addr + TASK_STRUCT_OFF.comm, TASK_COMM_LEN);
    const end = bytes.indexOf(0);
    this.comm = new TextDecoder().decode(bytes.subarray(0, end < 0 ? TASK_COMM_LEN : end));
  }

  /** A short form for test output and logs (not the 64 MiB memory it points into). */
  toJSON(): { pid: number; comm: string; state: string; cpu: number } {
    return { pid: this.pid, comm: this.comm, state: stateLetter(this.state), cpu: this.cpu };
  }

  /** Writes a fresh task_struct. */
  static init(
    memory: PhysicalMemory,
    addr: number,
    fields: { pid: number; comm: string; cpu: number; cpusAllowed: bigint; stackTop: number },
  ): void {
    memory.fill(addr, taskStruct.size);
    memory.write32(addr + TASK_STRUCT_OFF.pid, fields.pid);
    memory.write32(addr + TASK_STRUCT_OFF.state, TASK_RUNNING);
    memory.write32(addr + TASK_STRUCT_OFF.cpu, fields.cpu);
    memory.write32(addr + TASK_STRUCT_OFF.prio, DEFAULT_PRIO);
    memory.write64(addr + TASK_STRUCT_OFF.cpus_allowed, fields.cpusAllowed);
    memory.write64(addr + TASK_STRUCT_OFF.stack, BigInt(fields.stackTop));
    const comm = new TextEncoder().encode(fields.comm).subarray(0, TASK_COMM_LEN - 1);
    memory.writeBytes(addr + TASK_STRUCT_OFF.comm, comm);
  }

  get state(): number {
    return this.memory.read32(this.addr + TASK_STRUCT_OFF.state);
  }
  set state(value: number) {
    this.memory.write32(this.addr + TASK_STRUCT_OFF.state, value);
  }
  /** The TASK_STRUCT_OFF.cpu the task runs on, or last ran on (task_cpu()). */
  get cpu(): number {
    return this.memory.read32(this.addr + TASK_STRUCT_OFF.cpu) | 0;
  }
  set cpu(value: number) {
    this.memory.write32(this.addr + TASK_STRUCT_OFF.cpu, value);
  }
  get onRq(): boolean {
    return this.memory.read32(this.addr + TASK_STRUCT_OFF.on_rq) !== 0;
  }
  set onRq(value: boolean) {
    this.memory.write32(this.addr + TASK_STRUCT_OFF.on_rq, value ? 1 : 0);
  }
  /** PF_KTHREAD: a kernel thread, bound to its TASK_STRUCT_OFF.cpu. */
  get kthread(): boolean {
    return (this.memory.read32(this.addr + TASK_STRUCT_OFF.flags) & PF_KTHREAD) !== 0;
  }
  set kthread(on: boolean) {
    const flags = this.memory.read32(this.addr + TASK_STRUCT_OFF.flags);
    this.memory.write32(
      this.addr + TASK_STRUCT_OFF.flags,
      on ? flags | PF_KTHREAD : flags & ~PF_KTHREAD,
    );
  }
  get migrationDisabled(): number {
    return this.memory.read32(this.addr + TASK_STRUCT_OFF.migration_disabled);
  }
  set migrationDisabled(value: number) {
    this.memory.write32(this.addr + TASK_STRUCT_OFF.migration_disabled, value);
  }
  get prio(): number {
    return this.memory.read32(this.addr + TASK_STRUCT_OFF.prio);
  }
  /** rcu_read_lock() depth; only the task itself changes it, while it runs (preempt/rcu.ts). */
  get rcuReadLockNesting(): number {
    return this.memory.read32(this.addr + TASK_STRUCT_OFF.rcu_read_lock_nesting) | 0;
  }
  set rcuReadLockNesting(value: number) {
    this.memory.write32(this.addr + TASK_STRUCT_OFF.rcu_read_lock_nesting, value);
  }
  get cpusAllowed(): bigint {
    return this.memory.read64(this.addr + TASK_STRUCT_OFF.cpus_allowed);
  }
  set cpusAllowed(mask: bigint) {
    this.memory.write64(this.addr + TASK_STRUCT_OFF.cpus_allowed, mask);
  }
  allowedOn(cpu: number): boolean {
    return ((this.cpusAllowed >> BigInt(cpu)) & 1n) === 1n;
  }
  get exitCode(): bigint {
    return BigInt.asIntN(64, this.memory.read64(this.addr + TASK_STRUCT_OFF.exit_code));
  }
  set exitCode(value: bigint) {
    this.memory.write64(this.addr + TASK_STRUCT_OFF.exit_code, value);
  }
  get exited(): boolean {
    return (this.state & (EXIT_ZOMBIE | EXIT_DEAD)) !== 0;
  }
  /** Counts a voluntary (slept or exited) or involuntary (preempted) switch away. */
  countSwitch(voluntary: boolean): void {
    // A u64 as two words: no BigInt on the scheduler's path.
    const at = this.addr + (voluntary ? TASK_STRUCT_OFF.nvcsw : TASK_STRUCT_OFF.nivcsw);
    const m = this.memory;
    const lo = m.read32(at);
    if (lo === 0xffff_ffff) {
      m.write32(at, 0);
      m.write32(at + 4, (m.read32(at + 4) + 1) >>> 0);
    } else {
      m.write32(at, lo + 1);
    }
  }
  /** Switches away of both kinds, modulo 2^32: compare two readings to see whether one happened. */
  get switchCount(): number {
    const m = this.memory;
    return (
      (m.read32(this.addr + TASK_STRUCT_OFF.nvcsw) +
        m.read32(this.addr + TASK_STRUCT_OFF.nivcsw)) >>>
      0
    );
  }
  get switches(): { voluntary: bigint; involuntary: bigint } {
    return {
      voluntary: this.memory.read64(this.addr + TASK_STRUCT_OFF.nvcsw),
      involuntary: this.memory.read64(this.addr + TASK_STRUCT_OFF.nivcsw),
    };
  }
}

/** The state letter sched_switch prints for prev_state. */
export function stateLetter(state: number): 'R' | 'S' | 'D' | 'X' | 'Z' {
  if (state & EXIT_DEAD) return 'X';
  if (state & EXIT_ZOMBIE) return 'Z';
  if (state & TASK_UNINTERRUPTIBLE) return 'D';
  if (state & TASK_INTERRUPTIBLE) return 'S';
  return 'R';
}
