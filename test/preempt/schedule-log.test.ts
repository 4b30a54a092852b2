import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Decision, ScheduleLog } from '../../preempt/schedule-log.ts';
import { ErrnoError } from '../../segments/errno.ts';

function logOf(cpus: number, decisions: readonly Decision[]): ScheduleLog {
  const log = new ScheduleLog(cpus);
  for (const d of decisions) log.record(d);
  return log;
}

const roundTrip = (cpus: number, decisions: readonly Decision[]) =>
  ScheduleLog.decode(logOf(cpus, decisions).encode());

/** What the log should hold: consecutive runs of one CPU added up, everything else as is. */
function merged(decisions: readonly Decision[]): Decision[] {
  const out: Decision[] = [];
  for (const d of decisions) {
    const last = out[out.length - 1];
    if (d.kind === 'run' && last?.kind === 'run' && last.cpu === d.cpu)
      out[out.length - 1] = { kind: 'run', cpu: d.cpu, quantum: last.quantum + d.quantum };
    else out.push(d);
  }
  return out;
}

/** A replay string of raw bytes. */
const raw = (cpus: number, bytes: number[]) =>
  `v1.${cpus}.${Buffer.from(bytes).toString('base64url')}`;

function decodeError(text: string): ErrnoError {
  try {
    ScheduleLog.decode(text);
  } catch (e) {
    if (e instanceof ErrnoError) return e;
    throw e;
  }
  throw new Error(`'${text}' was accepted`);
}

describe('ScheduleLog', () => {
  it('merges consecutive runs of one CPU: 3 then 4 instructions is a run of 7', () => {
    const log = logOf(2, [
      { kind: 'run', cpu: 0, quantum: 3 },
      { kind: 'run', cpu: 0, quantum: 4 },
    ]);
    expect(log.decisions).toEqual([{ kind: 'run', cpu: 0, quantum: 7 }]);
  });

  it('keeps runs of different CPUs apart, in order', () => {
    const list: Decision[] = [
      { kind: 'run', cpu: 0, quantum: 3 },
      { kind: 'run', cpu: 1, quantum: 4 },
      { kind: 'run', cpu: 0, quantum: 5 },
    ];
    expect(roundTrip(2, list)).toEqual({ cpus: 2, list });
  });

  it('round-trips kick and migrate decisions, which end a run being merged', () => {
    const list: Decision[] = [
      { kind: 'run', cpu: 0, quantum: 5 },
      { kind: 'kick', cpu: 0 },
      { kind: 'run', cpu: 0, quantum: 5 },
      { kind: 'migrate', pid: 7, cpu: 1 },
      { kind: 'run', cpu: 0, quantum: 9 },
      { kind: 'run', cpu: 1, quantum: 10 },
      { kind: 'kick', cpu: 1 },
      { kind: 'migrate', pid: 300, cpu: 0 },
    ];
    expect(roundTrip(2, list).list).toEqual(list);
  });

  it("encodes as 'v1.<cpus>.<base64url>'; an empty log is 'v1.<cpus>.'", () => {
    expect(new ScheduleLog(4).encode()).toBe('v1.4.');
    expect(ScheduleLog.decode('v1.4.')).toEqual({ cpus: 4, list: [] });
    const text = logOf(3, [{ kind: 'run', cpu: 2, quantum: 1000 }]).encode();
    expect(text).toMatch(/^v1\.3\.[A-Za-z0-9_-]+$/);
  });

  it('round-trips quanta and pids beyond 32 bits, and CPU 63 of 64', () => {
    const list: Decision[] = [
      { kind: 'run', cpu: 63, quantum: 2 ** 31 },
      { kind: 'run', cpu: 0, quantum: 2 ** 40 + 3 },
      { kind: 'migrate', pid: 2 ** 32 + 1, cpu: 63 },
      { kind: 'run', cpu: 1, quantum: Number.MAX_SAFE_INTEGER },
    ];
    expect(roundTrip(64, list).list).toEqual(list);
  });

  it('reading the decisions mid-run does not change what the log encodes', () => {
    const decisions: Decision[] = [
      { kind: 'run', cpu: 0, quantum: 3 },
      { kind: 'run', cpu: 0, quantum: 4 },
    ];
    const watched = new ScheduleLog(2);
    watched.record(decisions[0]);
    expect(watched.decisions).toEqual([decisions[0]]);
    watched.record(decisions[1]);
    expect(watched.encode()).toBe(logOf(2, decisions).encode());
  });

  it('decode(encode()) is the recorded list with runs merged (property)', () => {
    const decision = (cpus: number) =>
      fc.oneof(
        fc.record({
          kind: fc.constant('run' as const),
          cpu: fc.nat(cpus - 1),
          quantum: fc.integer({ min: 1, max: 1_000_000 }),
        }),
        fc.record({ kind: fc.constant('kick' as const), cpu: fc.nat(cpus - 1) }),
        fc.record({
          kind: fc.constant('migrate' as const),
          pid: fc.nat(100_000),
          cpu: fc.nat(cpus - 1),
        }),
      );
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 64 })
          .chain((cpus) =>
            fc.tuple(fc.constant(cpus), fc.array(decision(cpus), { maxLength: 60 })),
          ),
        ([cpus, list]) => {
          expect(roundTrip(cpus, list)).toEqual({ cpus, list: merged(list) });
        },
      ),
    );
  });

  it.each([
    ['an empty string', ''],
    ['free text', 'hello'],
    ['another version', 'v2.2.AA'],
    ['a CPU count that is not a number', 'v1.x.AA'],
    ['characters outside base64url', 'v1.2.A+/A'],
    ['base64 padding', 'v1.2.AA=='],
    ['a run without its quantum', raw(2, [0])],
    ['a varint cut in the middle', raw(2, [0, 0x80])],
    ['a migrate without its pid', raw(2, [2])],
    ['a CPU beyond the count', raw(2, [2 * 4, 1])],
    ['a tick without its delay', raw(2, [3])],
  ])('decode rejects %s with EINVAL', (_what, text) => {
    expect(decodeError(text).errno).toBe('EINVAL');
  });

  it('records a tick before the run it was chosen in, without splitting that run', () => {
    const log = new ScheduleLog(2);
    log.record({ kind: 'run', cpu: 0, quantum: 10 });
    log.record({ kind: 'tick', cpu: 0, delay: 7 });
    log.record({ kind: 'run', cpu: 0, quantum: 5 });
    log.record({ kind: 'tick', cpu: 1, delay: 300 });
    log.record({ kind: 'run', cpu: 1, quantum: 4 });
    expect(ScheduleLog.decode(log.encode()).list).toEqual([
      { kind: 'tick', cpu: 0, delay: 7 },
      { kind: 'run', cpu: 0, quantum: 15 },
      { kind: 'tick', cpu: 1, delay: 300 },
      { kind: 'run', cpu: 1, quantum: 4 },
    ]);
  });
});
