/**
 * The schedule of a deterministic run: every decision the engine applied,
 * encoded as a compact string that replays the run exactly. Consecutive
 * runs of the same CPU merge (running 3 then 4 instructions is running 7:
 * nothing happens at a quantum boundary that is not itself a decision).
 *
 * Format: `v1.<cpus>.<base64url of varints>`; each decision is a varint
 * `cpu << 2 | kind` (0 run, 1 kick, 2 migrate) followed by the quantum (run)
 * or the pid (migrate).
 *
 * @example
 * const log = new ScheduleLog(2);
 * log.record({ kind: 'run', cpu: 1, quantum: 100 });
 * ScheduleLog.decode(log.encode()).decisions; // [{ kind: 'run', cpu: 1, quantum: 100 }]
 */

import { ErrnoError } from '../segments/errno.ts';

export type Decision =
  | { readonly kind: 'run'; readonly cpu: number; readonly quantum: number }
  | { readonly kind: 'kick'; readonly cpu: number }
  | { readonly kind: 'migrate'; readonly pid: number; readonly cpu: number };

const KIND = { run: 0, kick: 1, migrate: 2 } as const;

export class ScheduleLog {
  readonly decisions: Decision[] = [];

  constructor(readonly cpus: number) {}

  record(d: Decision): void {
    const last = this.decisions.at(-1);
    if (d.kind === 'run' && last?.kind === 'run' && last.cpu === d.cpu) {
      this.decisions[this.decisions.length - 1] = { ...last, quantum: last.quantum + d.quantum };
    } else {
      this.decisions.push(d);
    }
  }

  encode(): string {
    const bytes: number[] = [];
    const varint = (v: number) => {
      while (v >= 0x80) {
        bytes.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      bytes.push(v);
    };
    for (const d of this.decisions) {
      varint(d.cpu * 4 + KIND[d.kind]);
      if (d.kind === 'run') varint(d.quantum);
      if (d.kind === 'migrate') varint(d.pid);
    }
    return `v1.${this.cpus}.${Buffer.from(bytes).toString('base64url')}`;
  }

  static decode(text: string): ScheduleLog {
    const m = /^v1\.(\d+)\.([A-Za-z0-9_-]*)$/.exec(text.trim());
    if (m === null) {
      throw new ErrnoError(
        'EINVAL',
        `'${text.slice(0, 40)}' is not a replay string (expected v1.<cpus>.<data>)`,
      );
    }
    const log = new ScheduleLog(Number(m[1]));
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
      if (cpu >= log.cpus)
        throw new ErrnoError('EINVAL', `replay string names CPU ${cpu} of ${log.cpus}`);
      if (kind === KIND.run) log.decisions.push({ kind: 'run', cpu, quantum: varint() });
      else if (kind === KIND.kick) log.decisions.push({ kind: 'kick', cpu });
      else if (kind === KIND.migrate) log.decisions.push({ kind: 'migrate', cpu, pid: varint() });
      else throw new ErrnoError('EINVAL', `replay string has an unknown decision kind ${kind}`);
    }
    return log;
  }
}
