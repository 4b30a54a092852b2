/**
 * The schedule of a deterministic run: every decision the engine applied,
 * encoded as a compact string that replays the run exactly. Consecutive
 * runs of the same CPU merge (running 3 then 4 instructions is running 7:
 * nothing happens at a quantum boundary that is not itself a decision).
 *
 * Format: `v1.<cpus>.<base64url of varints>`; each decision is a varint
 * `cpu << 2 | kind` (0 run, 1 kick, 2 migrate, 3 tick) followed by the
 * quantum (run), the pid (migrate) or the delay (tick). A tick is the
 * strategy's answer when the CPU programs its next timer interrupt, in the
 * middle of a run: replays take a CPU's ticks in their order.
 *
 * @example
 * const log = new ScheduleLog(2);
 * log.record({ kind: 'run', cpu: 1, quantum: 100 });
 * ScheduleLog.decode(log.encode()).list; // [{ kind: 'run', cpu: 1, quantum: 100 }]
 */

import { ErrnoError } from '../segments/errno.ts';

export type Decision =
  | {
      readonly kind: 'run';
      readonly cpu: number;
      readonly quantum: number;
      /**
       * The quantum counts one-instruction steps, each as a run of quantum 1
       * would take it, and the run ends after the first step that changed
       * what the strategy sees (the engine then calls its `ranSteps`). Not
       * recorded: the log has the instructions the steps used.
       */
      readonly stepwise?: boolean;
    }
  | { readonly kind: 'kick'; readonly cpu: number }
  /** The CPU's next timer interrupt arrives `delay` instructions after its nominal time. */
  | { readonly kind: 'tick'; readonly cpu: number; readonly delay: number }
  | { readonly kind: 'migrate'; readonly pid: number; readonly cpu: number };

const KIND = { run: 0, kick: 1, migrate: 2, tick: 3 } as const;

export class ScheduleLog {
  private bytes = new Uint8Array(256);
  private length = 0;
  /** A run not yet written: later runs of the same CPU add to it. */
  private pendingCpu = -1;
  private pendingQuantum = 0;

  constructor(readonly cpus: number) {}

  record(d: Decision): void {
    if (d.kind === 'tick') {
      // Chosen in the middle of a run of its CPU: written before that run,
      // without ending it, so that a replay records the same string again.
      if (this.pendingCpu !== d.cpu) this.flush();
      this.varint(d.cpu * 4 + KIND.tick);
      this.varint(d.delay);
      return;
    }
    if (d.kind === 'run' && d.cpu === this.pendingCpu) {
      this.pendingQuantum += d.quantum;
      return;
    }
    this.flush();
    if (d.kind === 'run') {
      this.pendingCpu = d.cpu;
      this.pendingQuantum = d.quantum;
    } else {
      this.varint(d.cpu * 4 + KIND[d.kind]);
      if (d.kind === 'migrate') this.varint(d.pid);
    }
  }

  /** The replay string of the decisions so far; recording may go on after. */
  encode(): string {
    const pending = new ScheduleLog(this.cpus);
    if (this.pendingCpu >= 0) {
      pending.varint(this.pendingCpu * 4 + KIND.run);
      pending.varint(this.pendingQuantum);
    }
    const bytes = Buffer.concat([
      this.bytes.subarray(0, this.length),
      pending.bytes.subarray(0, pending.length),
    ]);
    return `v1.${this.cpus}.${bytes.toString('base64url')}`;
  }

  /** The decisions recorded so far, runs of one CPU merged. */
  get decisions(): Decision[] {
    return ScheduleLog.decode(this.encode()).list;
  }

  private flush(): void {
    if (this.pendingCpu < 0) return;
    this.varint(this.pendingCpu * 4 + KIND.run);
    this.varint(this.pendingQuantum);
    this.pendingCpu = -1;
  }

  private varint(v: number): void {
    if (this.length + 10 > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    while (v >= 0x80) {
      this.bytes[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.bytes[this.length++] = v;
  }

  static decode(text: string): { cpus: number; list: Decision[] } {
    const m = /^v1\.(\d+)\.([A-Za-z0-9_-]*)$/.exec(text.trim());
    if (m === null) {
      throw new ErrnoError(
        'EINVAL',
        `'${text.slice(0, 40)}' is not a replay string (expected v1.<cpus>.<data>)`,
      );
    }
    const cpus = Number(m[1]);
    if (cpus < 1) throw new ErrnoError('EINVAL', `replay string names ${cpus} CPUs`);
    const list: Decision[] = [];
    const bytes = Buffer.from(m[2], 'base64url');
    let at = 0;
    const varint = () => {
      let v = 0;
      let scale = 1;
      for (;;) {
        if (at >= bytes.length) throw new ErrnoError('EINVAL', 'replay string is truncated');
        const b = bytes[at++];
        v += (b & 0x7f) * scale;
        if (b < 0x80) return v;
        scale *= 0x80;
      }
    };
    while (at < bytes.length) {
      const head = varint();
      const cpu = Math.floor(head / 4);
      const kind = head % 4;
      if (cpu >= cpus) throw new ErrnoError('EINVAL', `replay string names CPU ${cpu} of ${cpus}`);
      if (kind === KIND.run) list.push({ kind: 'run', cpu, quantum: varint() });
      else if (kind === KIND.kick) list.push({ kind: 'kick', cpu });
      else if (kind === KIND.migrate) list.push({ kind: 'migrate', cpu, pid: varint() });
      else list.push({ kind: 'tick', cpu, delay: varint() });
    }
    return { cpus, list };
  }
}
