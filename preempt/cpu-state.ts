/**
 * The scheduler's view of one emulated CPU: its interpreter, the addresses
 * of its per-CPU kernel variables, its run queue, the running task, and the
 * few things a real CPU keeps in registers or the local APIC (its clock,
 * pending interrupt lines, the next timer deadline).
 *
 * @example
 * c.preemptible(); // preempt_count() == 0 && interrupts enabled
 */

import type { CpuContext } from '../cpu/context.ts';
import type { Cpu } from '../cpu/cpu.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import { type KernelVarAddrs, X86_EFLAGS_IF } from './kernel-vars.ts';
import { needResched, preemptCount } from './preempt-count.ts';
import type { RunQueue } from './runqueue.ts';
import type { SchedWatch } from './sched-watch.ts';
import type { Task } from './task.ts';

/** Interrupt lines of a CPU. */
export const IRQ_TIMER = 1 << 0;
export const IRQ_RESCHEDULE = 1 << 1;
/** Some device line is raised: `pendingDeviceIrqs` says which. */
export const IRQ_DEVICE = 1 << 2;

/** Softirq vectors (include/linux/interrupt.h). */
export const TIMER_SOFTIRQ = 1;
export const NET_RX_SOFTIRQ = 3;
export const SCHED_SOFTIRQ = 7;
export const RCU_SOFTIRQ = 9;

export class CpuState {
  /** The running task; the idle task when nothing runs. */
  curr: Task;
  /** Instructions this CPU has executed or idled through. */
  clock = 0;
  /** Local clock value at which the next timer interrupt fires. */
  nextTick: number;
  /** When the next timer interrupt is due without jitter: a multiple of the tick interval. */
  tickNominal: number;
  /**
   * Instructions the next timer interrupt arrives after its nominal time,
   * asked each time one is programmed; null for none (the deterministic
   * engine sets it to its strategy's choice, engine.ts).
   */
  tickDelay: ((c: CpuState) => number) | null = null;
  ticks = 0;
  /**
   * Clock value at which the current step must stop (the quantum's end or
   * the next tick): native code that runs a guest program in slices
   * (a cpumap kthread) runs it up to here, as a guest task would run.
   */
  stepEnd = 0;
  /** Ticks left in the running task's time slice. */
  sliceLeft = 0;
  /** Raised interrupt lines, delivered when interrupts are enabled. */
  pendingIrqs = 0;
  /** Device interrupts raised on this CPU (IRQ_DEVICE), in the order they came. */
  readonly pendingDeviceIrqs: number[] = [];
  private resched = false;
  /** The running task called schedule() itself: a voluntary switch, not a preemption. */
  yieldRequested = false;
  private spins = false;
  /** Clock value since which this CPU has not scheduled while non-preemptible, or -1. */
  stuckSince = -1;
  lockupReported = false;

  constructor(
    readonly id: number,
    readonly cpu: Cpu,
    readonly memory: PhysicalMemory,
    readonly vars: KernelVarAddrs,
    readonly rq: RunQueue,
    readonly idle: Task,
    /** The context hardirq handlers written as guest programs run in. */
    readonly irqCtx: CpuContext,
    tickInterval: number,
    /** Told when what strategies see of this CPU changes (sched-watch.ts). */
    readonly watch: SchedWatch,
  ) {
    this.curr = idle;
    this.nextTick = tickInterval;
    this.tickNominal = tickInterval;
  }

  /** Set by a kfunc or helper: reschedule as soon as the current step ends. */
  get reschedRequested(): boolean {
    return this.resched;
  }
  set reschedRequested(on: boolean) {
    this.resched = on;
    if (on) this.watch.interrupt();
  }

  /** The last spin_lock attempt found the lock held by another CPU: this CPU waits on it. */
  get spinning(): boolean {
    return this.spins;
  }
  set spinning(on: boolean) {
    if (on === this.spins) return;
    this.spins = on;
    this.watch.changed();
  }

  get preemptCount(): number {
    return preemptCount(this.memory, this.vars.preemptCount);
  }

  get irqsEnabled(): boolean {
    return (this.memory.read32(this.vars.irqFlags) & X86_EFLAGS_IF) !== 0;
  }

  /** Sets or clears EFLAGS.IF; returns the previous flags word (local_irq_save). */
  setIrqsEnabled(on: boolean): number {
    const old = this.memory.read32(this.vars.irqFlags);
    this.memory.write32(this.vars.irqFlags, on ? old | X86_EFLAGS_IF : old & ~X86_EFLAGS_IF);
    return old;
  }

  get needResched(): boolean {
    return needResched(this.memory, this.vars.preemptCount);
  }

  /** preemptible(): preempt_count() == 0 && !irqs_disabled(). */
  preemptible(): boolean {
    return this.preemptCount === 0 && this.irqsEnabled;
  }

  get isIdle(): boolean {
    return this.curr === this.idle;
  }

  get softirqPending(): number {
    return this.memory.read32(this.vars.softirqPending);
  }
  set softirqPending(mask: number) {
    this.memory.write32(this.vars.softirqPending, mask);
  }
}
