/**
 * The parallel runner's shared control block, in emulated memory like the
 * rest of the machine: the scheduler lock, the stop flag, and one mailbox
 * per CPU through which CPUs (and the main thread) interrupt each other.
 *
 *     struct parallel_ctl {                  // 64 bytes, then one line per CPU
 *       u32 stop;                            // nonzero: every CPU stops at its next check
 *       s32 crashed_cpu;                     // the CPU whose worker threw, or -1
 *       struct raw_spinlock sched_lock;      // the run queues, task states, wakeups
 *       u32 started;                         // CPUs that reached the start line
 *     };
 *     struct parallel_cpu {                  // 64 bytes each: no false sharing between CPUs
 *       u32 mailbox;                         // pending IPI bits (IPI_*)
 *       u32 halted;                          // 1 while the CPU waits in Atomics.wait
 *       u32 clock_lo, clock_hi;              // instructions executed or idled, published
 *       u32 ipis;                            // IPIs taken
 *       u32 call_done;                       // call-function IPIs answered
 *       u32 idle_waits;                      // times the CPU halted
 *       u32 lock_spins, lock_waits;          // scheduler lock found held: spun, then slept
 *     };
 *
 * An IPI is `Atomics.or` of its bit into the target's mailbox followed by
 * `Atomics.notify`; an idle CPU halts with `Atomics.wait` on its mailbox
 * (the HLT of x86, woken by the IPI). The receiving CPU takes all its bits
 * at once with `Atomics.exchange` between two instructions, as a local APIC
 * delivers pending vectors.
 *
 * Context: any thread may send an IPI or request a stop; only CPU `cpu`'s
 * worker takes its mailbox, halts on it, or publishes its clock.
 *
 * @example
 * const ctl = ParallelControl.reserve(machine);
 * ctl.sendIpi(1, IPI_RESCHEDULE);   // CPU 1 reschedules at its next instruction boundary
 * ctl.takeIpis(1);                  // IPI_RESCHEDULE, on CPU 1
 */

import { ErrnoError } from '../../segments/errno.ts';
import type { PhysicalMemory } from '../../segments/memory.ts';
import { PROT_NONE } from '../../segments/page-protection.ts';
import { RawSpinlock } from '../../segments/raw-spinlock.ts';
import type { Kernel } from '../kernel.ts';

/** Reschedule (x86 RESCHEDULE_VECTOR): the CPU sets need_resched and looks at its run queue. */
export const IPI_RESCHEDULE = 1 << 0;
/** Call function (CALL_FUNCTION_SINGLE_VECTOR): the CPU answers a smp_call_function_single. */
export const IPI_CALL_FUNCTION = 1 << 1;
/** Stop (REBOOT_VECTOR's role): the CPU leaves its loop. */
export const IPI_STOP = 1 << 2;

const HEADER_BYTES = 64;
const CPU_BYTES = 64;
// Word indexes in the header and in a CPU's line.
const STOP = 0;
const CRASHED = 1;
const LOCK_OFFSET = 8;
const STARTED = 4;
/** The lock's `locked` word, which its unlock notifies. */
const LOCK_WORD = LOCK_OFFSET >> 2;
const SPINS_BEFORE_WAIT = 2000;
const MAILBOX = 0;
const HALTED = 1;
const CLOCK_LO = 2;
const CLOCK_HI = 3;
const IPIS = 4;
const CALL_DONE = 5;
const IDLE_WAITS = 6;
const LOCK_SPINS = 7;
const LOCK_WAITS = 8;

/** Counters of one CPU, read from its line of the control block. */
export interface CpuCounters {
  readonly cpu: number;
  /** Instructions executed or idled through. */
  readonly clock: number;
  readonly ipis: number;
  readonly idleWaits: number;
  /** Times the scheduler lock was found held, and times the CPU then slept on it. */
  readonly lockSpins: number;
  readonly lockWaits: number;
  readonly halted: boolean;
}

/** Thrown out of a wait when the machine was asked to stop meanwhile. */
export class StopRequested extends ErrnoError {
  constructor(cpu: number) {
    super('EAGAIN', `CPU ${cpu} was asked to stop while waiting`);
  }
}

export class ParallelControl {
  /** The scheduler lock: held by any CPU touching run queues or task states. */
  readonly schedLock: RawSpinlock;
  private readonly words: Int32Array;
  private readonly base: number;

  constructor(
    memory: PhysicalMemory,
    readonly addr: number,
    readonly nrCpus: number,
  ) {
    this.words = new Int32Array(memory.buffer);
    this.base = addr >> 2;
    this.schedLock = new RawSpinlock(memory, addr + LOCK_OFFSET, { concurrent: true });
  }

  /**
   * Reserves and initialises the control block of `k` (after setup, so the
   * same machine rebuilt in every worker places it at the same address).
   *
   * @example
   * const ctl = ParallelControl.reserve(bootRecipe(recipe));
   */
  static reserve(k: Kernel): ParallelControl {
    const region = k.map.reserve('parallel control', HEADER_BYTES + k.nrCpus * CPU_BYTES, 64);
    k.memory.fill(region.start, region.size);
    RawSpinlock.init(k.memory, region.start + LOCK_OFFSET, { concurrent: true });
    // Kernel data: a guest access is a page fault naming the block (kernel-protection.ts).
    k.memory.protection.protect(region.start, region.size, PROT_NONE, 'parallel control block');
    const ctl = new ParallelControl(k.memory, region.start, k.nrCpus);
    Atomics.store(ctl.words, ctl.base + CRASHED, -1);
    return ctl;
  }

  private cpuWord(cpu: number, word: number): number {
    return this.base + ((HEADER_BYTES + cpu * CPU_BYTES) >> 2) + word;
  }

  /** True once a stop was requested. */
  get stopped(): boolean {
    return Atomics.load(this.words, this.base + STOP) !== 0;
  }

  /** Asks every CPU to stop: the flag, then a stop IPI to each so halted CPUs wake. */
  requestStop(): void {
    Atomics.store(this.words, this.base + STOP, 1);
    for (let cpu = 0; cpu < this.nrCpus; cpu++) this.sendIpi(cpu, IPI_STOP);
  }

  /** Records that CPU `cpu`'s worker threw (the first one wins), then stops the machine. */
  markCrashed(cpu: number): void {
    Atomics.compareExchange(this.words, this.base + CRASHED, -1, cpu);
    this.requestStop();
  }

  /** The CPU whose worker threw first, or -1. */
  get crashedCpu(): number {
    return Atomics.load(this.words, this.base + CRASHED);
  }

  /**
   * The start line: CPU `cpu` arrives and waits until every CPU has, so all
   * start running together however late their workers got the order.
   * Throws StopRequested if the machine stops first.
   */
  arriveAndWait(cpu: number): void {
    const at = this.base + STARTED;
    if (Atomics.add(this.words, at, 1) + 1 >= this.nrCpus) Atomics.notify(this.words, at);
    for (;;) {
      const n = Atomics.load(this.words, at);
      if (n >= this.nrCpus) return;
      if (this.stopped) throw new StopRequested(cpu);
      Atomics.wait(this.words, at, n, 1);
    }
  }

  /** Raises IPI `bits` on `cpu` and wakes it if it is halted. */
  sendIpi(cpu: number, bits: number): void {
    const at = this.cpuWord(cpu, MAILBOX);
    Atomics.or(this.words, at, bits);
    Atomics.notify(this.words, at);
  }

  /** Takes (and clears) the pending IPI bits of `cpu`; on `cpu` only. */
  takeIpis(cpu: number): number {
    const bits = Atomics.exchange(this.words, this.cpuWord(cpu, MAILBOX), 0);
    if (bits !== 0) Atomics.add(this.words, this.cpuWord(cpu, IPIS), 1);
    return bits;
  }

  /** HLT: `cpu` sleeps until an IPI arrives or `timeoutMs` passes; on `cpu` only. */
  halt(cpu: number, timeoutMs: number): void {
    const at = this.cpuWord(cpu, MAILBOX);
    Atomics.store(this.words, this.cpuWord(cpu, HALTED), 1);
    Atomics.add(this.words, this.cpuWord(cpu, IDLE_WAITS), 1);
    if (!this.stopped) Atomics.wait(this.words, at, 0, timeoutMs);
    Atomics.store(this.words, this.cpuWord(cpu, HALTED), 0);
  }

  /** True while `cpu` is halted in Atomics.wait. */
  isHalted(cpu: number): boolean {
    return Atomics.load(this.words, this.cpuWord(cpu, HALTED)) !== 0;
  }

  /**
   * smp_call_function_single(to, ..., wait=1) from `from`: sends the
   * call-function IPI and waits until `to` has answered it. Throws
   * StopRequested if the machine stops first.
   */
  smpCallFunctionSingle(from: number, to: number): void {
    const at = this.cpuWord(to, CALL_DONE);
    const seq = Atomics.load(this.words, at);
    this.sendIpi(to, IPI_CALL_FUNCTION);
    while (Atomics.load(this.words, at) === seq) {
      if (this.stopped) throw new StopRequested(from);
      Atomics.wait(this.words, at, seq, 1);
    }
  }

  /** `cpu` answers a call-function IPI; on `cpu` only. */
  answerCall(cpu: number): void {
    const at = this.cpuWord(cpu, CALL_DONE);
    Atomics.add(this.words, at, 1);
    Atomics.notify(this.words, at);
  }

  /** Takes the scheduler lock on `cpu`, spinning; StopRequested if the machine stops first. */
  lock(cpu: number): void {
    if (this.schedLock.tryLock(cpu)) return;
    Atomics.add(this.words, this.cpuWord(cpu, LOCK_SPINS), 1);
    for (let spins = 0; !this.schedLock.tryLock(cpu); spins++) {
      if (this.stopped) throw new StopRequested(cpu);
      // Holders keep it for microseconds: spin that long, then sleep on the lock word.
      if (spins >= SPINS_BEFORE_WAIT) {
        Atomics.add(this.words, this.cpuWord(cpu, LOCK_WAITS), 1);
        Atomics.wait(this.words, this.base + LOCK_WORD, 1, 1);
      }
    }
  }

  unlock(cpu: number): void {
    this.schedLock.unlock(cpu);
  }

  /** Publishes `cpu`'s clock (instructions executed or idled); on `cpu` only. */
  publishClock(cpu: number, clock: number): void {
    Atomics.store(this.words, this.cpuWord(cpu, CLOCK_LO), clock % 0x1_0000_0000);
    Atomics.store(this.words, this.cpuWord(cpu, CLOCK_HI), Math.floor(clock / 0x1_0000_0000));
  }

  clockOf(cpu: number): number {
    const lo = Atomics.load(this.words, this.cpuWord(cpu, CLOCK_LO)) >>> 0;
    const hi = Atomics.load(this.words, this.cpuWord(cpu, CLOCK_HI)) >>> 0;
    return hi * 0x1_0000_0000 + lo;
  }

  /** Instructions executed or idled by all CPUs: the machine's trace clock. */
  steps(): number {
    let sum = 0;
    for (let cpu = 0; cpu < this.nrCpus; cpu++) sum += this.clockOf(cpu);
    return sum;
  }

  counters(cpu: number): CpuCounters {
    return {
      cpu,
      clock: this.clockOf(cpu),
      ipis: Atomics.load(this.words, this.cpuWord(cpu, IPIS)),
      idleWaits: Atomics.load(this.words, this.cpuWord(cpu, IDLE_WAITS)),
      lockSpins: Atomics.load(this.words, this.cpuWord(cpu, LOCK_SPINS)),
      lockWaits: Atomics.load(this.words, this.cpuWord(cpu, LOCK_WAITS)),
      halted: this.isHalted(cpu),
    };
  }
}
