/**
 * Helper and kfunc dispatch tables. A helper runs whole, like one
 * instruction: it reads its arguments from r1-r5 of the context, writes r0,
 * and may ask the CPU to stop after it returns (a task that sleeps, a
 * scenario that wants control back). It reports a bad argument by throwing
 * an ErrnoError, which the CPU turns into a fault of the calling task.
 *
 * @example
 * const helpers = new HelperTable('helper');
 * helpers.register(5, 'bpf_ktime_get_ns', (ctx) => ctx.setRegNumber(0, 42));
 */

import type { CpuContext } from './context.ts';
import type { Cpu } from './cpu.ts';

export type HelperFn = (ctx: CpuContext, cpu: Cpu) => void;

export interface HelperEntry {
  readonly id: number;
  readonly name: string;
  readonly fn: HelperFn;
}

export class HelperTable {
  private readonly byId: (HelperEntry | undefined)[] = [];
  private readonly byName = new Map<string, HelperEntry>();

  constructor(readonly kind: 'helper' | 'kfunc') {}

  register(id: number, name: string, fn: HelperFn): this {
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) {
      throw new RangeError(`${this.kind} id ${id} is not an integer in 0..65535`);
    }
    const entry = { id, name, fn };
    this.byId[id] = entry;
    this.byName.set(name, entry);
    return this;
  }

  get(id: number): HelperEntry | undefined {
    return id >= 0 ? this.byId[id] : undefined;
  }

  byNameLookup(name: string): HelperEntry | undefined {
    return this.byName.get(name);
  }

  entries(): HelperEntry[] {
    return this.byId.filter((e): e is HelperEntry => e !== undefined);
  }
}
