/**
 * The replay string of a scenario run: the engine's schedule (a v1 string of
 * preempt/schedule-log.ts) bound to the scenario and machine it was recorded
 * on, and compressed, since a long run's schedule is hundreds of kilobytes.
 *
 * Format: `v2.<fingerprint>.<data>`. The fingerprint is 16 hex digits of a
 * SHA-256 over what the run depends on once the scenario is set up: its
 * name, the resolved machine options (but the trace rings' size, which
 * changes what the trace keeps, not the run), the image's symbols (those
 * of `.text` relative to it), the loaded
 * program text and the tasks spawned with their CPUs. `data` is the base64url
 * of a raw deflate of a one-line JSON header (`{"scenario":name,"cpus":2}`,
 * so that a mismatch can name the scenario the string came from) followed by
 * the schedule's decision bytes (the varints of the v1 format).
 *
 * A string replays only on the scenario it was recorded on: another
 * scenario, CPU count or definition is refused with EINVAL naming both.
 *
 * @example
 * const fp = scenarioFingerprint(scenario, k);
 * const text = encodeReplay(fp, engine.replay);   // 'v2.3f0c....'
 * decodeReplay(text, fp);                          // engine.replay again
 */

import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { Scenario } from './scenario.ts';

/** Which scenario, on which machine, a replay string belongs to. */
export interface ScenarioFingerprint {
  readonly name: string;
  readonly cpus: number;
  /** 16 hex digits. */
  readonly hash: string;
}

/** Inflated schedules beyond this are refused rather than exhausting memory. */
const MAX_SCHEDULE_BYTES = 256 << 20;

const FORMAT = /^v2\.([0-9a-f]{16})\.([A-Za-z0-9_-]+)$/;

/**
 * Machine options a run does not depend on: a run traced into bigger rings
 * (a timeline's) replays a string recorded with the default ones.
 */
const RUN_NEUTRAL_OPTIONS: ReadonlySet<string> = new Set(['traceBytesPerCpu']);

/** The fingerprint of scenario `s` as set up on kernel `k` (after setup, before the run). */
export function scenarioFingerprint(s: Scenario, k: Kernel): ScenarioFingerprint {
  // .text symbols relative to the text region, which moves with the trace
  // rings' size; code that used its absolute address would change the text
  // bytes hashed below.
  const textStart = k.text.region.start;
  const symbols = k.image.symbols
    .all()
    .map((sym) => {
      const at = sym.section === '.text' ? `text+${sym.address - textStart}` : sym.address;
      return `${sym.section} ${sym.name} ${at} ${sym.size}`;
    })
    .sort();
  const textEnd = k.image.symbols
    .all()
    .filter((sym) => sym.section === '.text')
    .reduce((end, sym) => Math.max(end, sym.address + sym.size), k.text.region.start);
  const tasks = [...k.tasks.values()].map(
    (t) => `${t.pid} ${t.comm} cpu ${t.cpu} allowed ${t.cpusAllowed} kthread ${t.kthread}`,
  );
  const options = Object.entries(k.opts)
    .filter(([key]) => !RUN_NEUTRAL_OPTIONS.has(key))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => `${key}=${String(value)}`);
  const hash = createHash('sha256')
    .update(JSON.stringify({ name: s.name, options, symbols, tasks }))
    .update(k.memory.readBytes(k.text.region.start, textEnd - k.text.region.start))
    .digest('hex')
    .slice(0, 16);
  return { name: s.name, cpus: k.nrCpus, hash };
}

/** The replay string of schedule `schedule` (a v1 string) recorded on `fp`. */
export function encodeReplay(fp: ScenarioFingerprint, schedule: string): string {
  const v1 = /^v1\.\d+\.([A-Za-z0-9_-]*)$/.exec(schedule);
  if (v1 === null)
    throw new ErrnoError('EINVAL', `'${schedule.slice(0, 40)}' is not a v1 schedule`);
  const header = Buffer.from(`${JSON.stringify({ scenario: fp.name, cpus: fp.cpus })}\n`, 'utf8');
  const data = deflateRawSync(Buffer.concat([header, Buffer.from(v1[1], 'base64url')]), {
    level: 9,
  });
  return `v2.${fp.hash}.${data.toString('base64url')}`;
}

/**
 * The v1 schedule inside `text`, after checking that it was recorded on
 * `fp`; EINVAL saying what is wrong otherwise.
 */
export function decodeReplay(text: string, fp: ScenarioFingerprint): string {
  const trimmed = text.trim();
  const shown = trimmed.length > 40 ? `${trimmed.slice(0, 40)}...` : trimmed;
  if (trimmed.startsWith('v1.')) {
    throw new ErrnoError(
      'EINVAL',
      `'${shown}' is a v1 replay string, which does not say what scenario it belongs to: run the scenario again for a v2 string`,
    );
  }
  const m = FORMAT.exec(trimmed);
  if (m === null) {
    throw new ErrnoError(
      'EINVAL',
      `'${shown}' is not a replay string (expected v2.<fingerprint>.<data>)`,
    );
  }
  let name: string;
  let cpus: number;
  let decisions: Buffer;
  try {
    const inflated = inflateRawSync(Buffer.from(m[2], 'base64url'), {
      maxOutputLength: MAX_SCHEDULE_BYTES,
    });
    const newline = inflated.indexOf(0x0a);
    const header = JSON.parse(inflated.subarray(0, newline).toString('utf8')) as {
      scenario?: unknown;
      cpus?: unknown;
    };
    if (newline < 0 || typeof header.scenario !== 'string' || !Number.isInteger(header.cpus)) {
      throw new Error('no scenario header');
    }
    name = header.scenario;
    cpus = header.cpus as number;
    decisions = inflated.subarray(newline + 1);
  } catch (e) {
    throw new ErrnoError(
      'EINVAL',
      `replay string '${shown}' is corrupt: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const schedule = `v1.${cpus}.${decisions.toString('base64url')}`;
  if (name !== fp.name) {
    throw new ErrnoError(
      'EINVAL',
      `replay string belongs to scenario '${name}', not to '${fp.name}': replay it on the scenario that printed it`,
    );
  }
  if (cpus !== fp.cpus) {
    throw new ErrnoError('EINVAL', `replay string is for ${cpus} CPUs, the machine has ${fp.cpus}`);
  }
  if (m[1] !== fp.hash) {
    throw new ErrnoError(
      'EINVAL',
      `replay string was recorded on another definition or machine options of scenario '${name}' (fingerprint ${m[1]}, this run ${fp.hash})`,
    );
  }
  return schedule;
}
