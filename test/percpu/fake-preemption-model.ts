/**
 * A small PreemptionModel for unit tests of the percpu/ TS API, built over
 * real per-CPU areas (linker, boot) but with no machine: the test says which
 * CPU and which task "runs" (`cpu`, `switchTo`), and the fake keeps a
 * preempt count and an interrupt flag per CPU, a migrate_disable count per
 * task, a log of calls, and the DEBUG_PREEMPT lines the machine would print.
 */

import {
  definePercpuCoreSymbols,
  type PerCpuAreas,
  setupPerCpuAreas,
} from '../../percpu/per-cpu-areas.ts';
import type { PreemptionModel } from '../../percpu/preemption-model.ts';
import { AddressMap } from '../../segments/address-map.ts';
import type { CType } from '../../segments/ctype.ts';
import { u64 } from '../../segments/ctype.ts';
import { linkAndLoad } from '../../segments/image-loader.ts';
import { Linker } from '../../segments/linker.ts';
import { PhysicalMemory } from '../../segments/memory.ts';

const IF = 0x200;

export interface BootOptions {
  cpus?: number;
  /** Per-CPU variables: name -> [type, init]. */
  vars?: Record<string, readonly [CType, unknown?]>;
  /** Define the per-CPU `current_task` (default true), so guards know tasks apart. */
  currentTask?: boolean;
}

export function bootAreas(opts: BootOptions = {}): PerCpuAreas {
  const memory = new PhysicalMemory(4 << 20);
  const map = new AddressMap(memory.size);
  const linker = new Linker();
  definePercpuCoreSymbols(linker);
  if (opts.currentTask ?? true)
    linker.definePerCpu('current_task', u64, 0n, { subsection: 'first' });
  for (const [name, [type, init]] of Object.entries(opts.vars ?? {})) {
    linker.definePerCpu(name, type, init);
  }
  const image = linkAndLoad(linker, memory, map);
  return setupPerCpuAreas(memory, map, image, opts.cpus ?? 4);
}

export class FakeModel implements PreemptionModel {
  /** The CPU the caller runs on. */
  cpu = 0;
  readonly preemptCount: number[];
  readonly irqsOn: boolean[];
  /** A reschedule is pending: the next preempt_enable reaching 0 schedules. */
  needResched = false;
  readonly calls: string[] = [];
  /** what1+what2 of every checkPreemptionDisabled call, with whether it reported. */
  readonly checks: { what: string; reported: boolean }[] = [];
  readonly reports: string[] = [];
  private readonly migrateDisabled = new Map<number, number>();

  constructor(readonly areas: PerCpuAreas) {
    this.preemptCount = Array(areas.nrCpus).fill(0);
    this.irqsOn = Array(areas.nrCpus).fill(true);
  }

  static boot(opts: BootOptions = {}): FakeModel {
    return new FakeModel(bootAreas(opts));
  }

  /** The task running on the current CPU (its `current_task`), 0 if none was set. */
  get task(): number {
    const s = this.areas.image.symbols.get('current_task');
    if (s === undefined) return 0;
    return Number(this.areas.memory.read64(this.areas.perCpuPtr(s.address, this.cpu)));
  }

  /** Makes `task` current on `cpu` and runs there. */
  switchTo(cpu: number, task: number): void {
    this.cpu = cpu;
    const s = this.areas.symbol('current_task');
    this.areas.memory.write64(this.areas.perCpuPtr(s.address, cpu), BigInt(task));
  }

  migrationDisabled(): number {
    return this.migrateDisabled.get(this.task) ?? 0;
  }

  rawSmpProcessorId(): number {
    return this.cpu;
  }
  smpProcessorId(): number {
    this.checkPreemptionDisabled('smp_processor_id', '');
    return this.cpu;
  }
  preemptDisable(): void {
    this.calls.push('preempt_disable');
    this.preemptCount[this.cpu]++;
  }
  preemptEnable(): void {
    this.calls.push('preempt_enable');
    this.preemptEnableNoResched();
    if (this.preemptible() && this.needResched) {
      this.needResched = false;
      this.calls.push('schedule');
    }
  }
  preemptEnableNoResched(): void {
    if (this.preemptCount[this.cpu] === 0) throw new Error('fake: preempt_enable with count 0');
    this.preemptCount[this.cpu]--;
  }
  migrateDisable(): void {
    this.calls.push('migrate_disable');
    this.migrateDisabled.set(this.task, this.migrationDisabled() + 1);
  }
  migrateEnable(): void {
    this.calls.push('migrate_enable');
    if (this.migrationDisabled() === 0) throw new Error('fake: migrate_enable without disable');
    this.migrateDisabled.set(this.task, this.migrationDisabled() - 1);
  }
  localIrqSave(): number {
    this.calls.push('local_irq_save');
    const flags = this.irqsOn[this.cpu] ? IF : 0;
    this.irqsOn[this.cpu] = false;
    return flags;
  }
  localIrqRestore(flags: number): void {
    this.calls.push(`local_irq_restore(${flags.toString(16)})`);
    this.irqsOn[this.cpu] = (flags & IF) !== 0;
  }
  preemptible(): boolean {
    return this.preemptCount[this.cpu] === 0 && this.irqsOn[this.cpu];
  }
  checkPreemptionDisabled(what1: string, what2: string): void {
    const reported = this.preemptible() && this.migrationDisabled() === 0;
    this.checks.push({ what: `${what1}${what2}`, reported });
    if (reported) {
      this.reports.push(
        `BUG: using ${what1}${what2}() in preemptible [00000000] code: fake/${this.task}`,
      );
    }
  }
}
