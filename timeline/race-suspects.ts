/**
 * Which accesses to the invariant's variables could have broken it, found
 * from the order of accesses alone, as a person reading the timeline would:
 *
 * - a cross-unit access: the instruction ran on one CPU and touched another
 *   CPU's unit (a stale `this_cpu_ptr`);
 * - a lost update: a context (a task, or a hardirq or softirq on top of it)
 *   read a slot, someone else wrote it, and the context then wrote it,
 *   overwriting that update (the read-modify-write race);
 * - a split by migration: a task's access landed on another unit than its
 *   previous one, the task migrated in between, and the pc went forward (the
 *   two accesses belong to one pass through the code, like a counter and its
 *   books, so they were meant for the same CPU).
 *
 * The breaking access is the first suspected write. These are suspicions,
 * not proof: the viewer shows why each was flagged.
 *
 * @example
 * const s = new RaceSuspects();
 * s.access({ task: 1, cpu: 0, ctx: 1, slot: 'hits+0@0', unit: 0, pc: 9, program: 0, write: true });
 */

import { Suspect } from './timeline-data.ts';

export interface AccessFacts {
  /** Task index. */
  readonly task: number;
  readonly cpu: number;
  /** The context making it: the task, or an interrupt handler on top of it. */
  readonly ctx: string;
  /** The slot: variable, offset and unit. */
  readonly slot: string;
  readonly unit: number;
  readonly pc: number;
  readonly program: number;
  readonly write: boolean;
  /** In hardirq or softirq context. */
  readonly inIrq: boolean;
}

interface LastAccess {
  readonly unit: number;
  readonly pc: number;
  readonly program: number;
}

export class RaceSuspects {
  /** Writes made to each slot so far. */
  private readonly versions = new Map<string, number>();
  /** The version of a slot a context last read or wrote, keyed `ctx|slot`. */
  private readonly seen = new Map<string, number>();
  private readonly last = new Map<number, LastAccess>();
  private readonly migrated = new Set<number>();

  /** The task moved to another CPU's run queue. */
  migrate(task: number): void {
    this.migrated.add(task);
  }

  /** Returns the Suspect bits of this access. */
  access(a: AccessFacts): number {
    let bits = a.unit !== a.cpu ? Suspect.CrossUnit : 0;
    const version = this.versions.get(a.slot) ?? 0;
    const key = `${a.ctx}|${a.slot}`;
    if (a.write) {
      const read = this.seen.get(key);
      if (read !== undefined && read !== version) bits |= Suspect.LostUpdate;
      this.versions.set(a.slot, version + 1);
      this.seen.set(key, version + 1);
    } else {
      this.seen.set(key, version);
    }
    if (!a.inIrq) {
      const prev = this.last.get(a.task);
      if (
        prev !== undefined &&
        this.migrated.has(a.task) &&
        prev.program === a.program &&
        a.pc > prev.pc &&
        prev.unit !== a.unit
      ) {
        bits |= Suspect.SplitByMigration;
      }
      this.migrated.delete(a.task);
      this.last.set(a.task, { unit: a.unit, pc: a.pc, program: a.program });
    }
    return bits;
  }
}
