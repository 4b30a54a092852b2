/**
 * `__preempt_count`, the per-CPU word that says whether this CPU may be
 * preempted, with the kernel's layout (include/linux/preempt.h):
 *
 *     PREEMPT  0x000000ff   preempt_disable() depth
 *     SOFTIRQ  0x0000ff00   local_bh_disable() adds 2 (SOFTIRQ_DISABLE_OFFSET),
 *                           serving a softirq adds 1 (SOFTIRQ_OFFSET)
 *     HARDIRQ  0x000f0000   hardirq nesting
 *     NMI      0x00f00000   NMI nesting
 *     bit 31   PREEMPT_NEED_RESCHED, folded in and inverted as on x86:
 *              the bit is SET when no reschedule is needed, so
 *              "count == 0" means both preemptible and a reschedule pending.
 *
 * The word lives in each CPU's per-CPU unit; these functions read and
 * write it in memory, so a snapshot of memory holds it.
 *
 * @example
 * preemptCountAdd(mem, addr, PREEMPT_OFFSET); // preempt_disable
 * preemptCount(mem, addr);                    // 1
 */

import type { PhysicalMemory } from '../segments/memory.ts';

export const PREEMPT_BITS = 8;
export const PREEMPT_MASK = 0x0000_00ff;
export const SOFTIRQ_MASK = 0x0000_ff00;
export const HARDIRQ_MASK = 0x000f_0000;
export const NMI_MASK = 0x00f0_0000;
export const PREEMPT_OFFSET = 1 << 0;
export const SOFTIRQ_OFFSET = 1 << 8;
export const SOFTIRQ_DISABLE_OFFSET = 2 * SOFTIRQ_OFFSET;
export const HARDIRQ_OFFSET = 1 << 16;
export const NMI_OFFSET = 1 << 20;
export const PREEMPT_NEED_RESCHED = 0x8000_0000;
/** The initial raw value: count 0, no reschedule needed (inverted bit set). */
export const PREEMPT_ENABLED = PREEMPT_NEED_RESCHED;

/** The raw word, NEED_RESCHED bit included. */
export function rawPreemptCount(mem: PhysicalMemory, addr: number): number {
  return mem.read32(addr);
}

/** preempt_count(): the count without the folded NEED_RESCHED bit. */
export function preemptCount(mem: PhysicalMemory, addr: number): number {
  return (mem.read32(addr) & ~PREEMPT_NEED_RESCHED) >>> 0;
}

/** Adds `delta` (possibly negative) to the count, leaving the NEED_RESCHED bit alone. */
export function preemptCountAdd(mem: PhysicalMemory, addr: number, delta: number): number {
  const raw = mem.read32(addr);
  const count = ((raw & ~PREEMPT_NEED_RESCHED) + delta) >>> 0;
  mem.write32(addr, (raw & PREEMPT_NEED_RESCHED) | (count & ~PREEMPT_NEED_RESCHED));
  return count & ~PREEMPT_NEED_RESCHED;
}

/** set_preempt_need_resched(): clears the inverted bit. */
export function setNeedResched(mem: PhysicalMemory, addr: number): void {
  mem.write32(addr, mem.read32(addr) & ~PREEMPT_NEED_RESCHED);
}

/** clear_preempt_need_resched(): sets the inverted bit. */
export function clearNeedResched(mem: PhysicalMemory, addr: number): void {
  mem.write32(addr, (mem.read32(addr) | PREEMPT_NEED_RESCHED) >>> 0);
}

export function needResched(mem: PhysicalMemory, addr: number): boolean {
  return (mem.read32(addr) & PREEMPT_NEED_RESCHED) === 0;
}

/** in_interrupt(): hardirq, softirq (served or bh-disabled) or NMI context. */
export const inInterrupt = (count: number): boolean =>
  (count & (HARDIRQ_MASK | SOFTIRQ_MASK | NMI_MASK)) !== 0;
export const inHardirq = (count: number): boolean => (count & HARDIRQ_MASK) !== 0;
/** in_serving_softirq(): the odd SOFTIRQ_OFFSET bit. */
export const inServingSoftirq = (count: number): boolean => (count & SOFTIRQ_OFFSET) !== 0;
/** in_atomic(): any nonzero count. */
export const inAtomic = (count: number): boolean => count !== 0;

/** preempt_count_set(PREEMPT_ENABLED), keeping a pending reschedule. */
export function preemptCountReset(mem: PhysicalMemory, addr: number): void {
  mem.write32(addr, (mem.read32(addr) & PREEMPT_NEED_RESCHED) >>> 0);
}
