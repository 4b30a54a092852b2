/**
 * The binary record of one trace event, as it lies in a trace ring in
 * emulated memory. All integers are little-endian; every record starts and
 * ends 8-byte aligned.
 *
 *     0   u32  len            bytes of the whole record, a multiple of 8
 *     4   u16  type           TRACE_TYPE[event.type]; 0 is padding (see ring-buffer.ts)
 *     6   u8   flags          TRACE_FLAG_* bits, as the kernel's trace_entry.flags
 *     7   u8   preempt_count  preempt depth in bits 0-3, migrate-disable in 4-7
 *     8   s32  pid            the current task
 *     16  u64  ts             nanoseconds
 *     24  char comm[16]       the current task's comm, NUL-padded
 *     40  ...  payload        the tracepoint's TP_STRUCT__entry fields
 *          ... string bytes   the payload's dynamic strings
 *
 * The header is the kernel's `struct trace_entry` (type, flags,
 * preempt_count, pid) with the length, time and comm the kernel keeps in
 * its ring-buffer event header and its saved-cmdlines table. A payload
 * lays out its fields as the kernel's format file does: comms as
 * `char[16]`, ints as s32, `prev_state` as a long; a dynamic string
 * (`__string`) is a u32 `__data_loc` word, the string's offset from the
 * record start in the low 16 bits and its length in the high 16, with the
 * bytes after the fixed payload (no NUL). A softirq records only `vec`, as
 * the kernel does; its name is looked up when decoding.
 *
 * @example
 * const bytes = new Uint8Array(MAX_RECORD_SIZE);
 * const len = encodeRecord(event, bytes);
 * decodeRecord(new DataView(bytes.buffer), bytes, 0, event.cpu); // deep-equals event
 */

import {
  array,
  type IntType,
  type StructType,
  s32,
  s64,
  struct,
  u8,
  u16,
  u32,
  u64,
} from '../../segments/ctype.ts';
import { ErrnoError } from '../../segments/errno.ts';
import {
  SOFTIRQ_NAMES,
  TASK_COMM_LEN,
  type TaskStateLetter,
  TRACE_TEXT_MAX,
  type TraceEvent,
  type TraceEventType,
  type TraceFlags,
} from './events.ts';

const charComm = array(u8, TASK_COMM_LEN);

/** The common header of every record. */
export const traceEntry = struct('trace_entry', [
  ['len', u32],
  ['type', u16],
  ['flags', u8],
  ['preempt_count', u8],
  ['pid', s32],
  ['ts', u64],
  ['comm', charComm],
]);

/** `type` of a padding record, which fills the end of a ring before a wrap. */
export const TRACE_TYPE_PADDING = 0;

/** The record type number of each event type. */
export const TRACE_TYPE: Readonly<Record<TraceEventType, number>> = Object.freeze({
  sched_switch: 1,
  sched_migrate_task: 2,
  sched_wakeup: 3,
  sched_process_exit: 4,
  irq_handler_entry: 5,
  irq_handler_exit: 6,
  softirq_entry: 7,
  softirq_exit: 8,
  ipi_raise: 9,
  debug_preempt: 10,
  oops: 11,
  bpf_trace_printk: 12,
  print: 13,
});

/** The kernel's trace_entry.flags bits (kernel/trace/trace.h). */
export const TRACE_FLAG_IRQS_OFF = 0x01;
export const TRACE_FLAG_NEED_RESCHED = 0x04;
export const TRACE_FLAG_HARDIRQ = 0x08;
export const TRACE_FLAG_SOFTIRQ = 0x10;
export const TRACE_FLAG_PREEMPT_RESCHED = 0x20;

/**
 * `prev_state` values: `1 << (__task_state_index - 1)`, 0 for running and
 * TASK_REPORT_MAX (0x100) for a preempted task.
 */
const PREV_STATE: Readonly<Record<TaskStateLetter, number>> = Object.freeze({
  R: 0,
  S: 0x01,
  D: 0x02,
  T: 0x04,
  t: 0x08,
  X: 0x10,
  Z: 0x20,
  P: 0x40,
  I: 0x80,
  'R+': 0x100,
});
const PREV_STATE_LETTER = new Map<number, TaskStateLetter>(
  Object.entries(PREV_STATE).map(([letter, v]) => [v, letter as TaskStateLetter]),
);

/** How a payload field maps between the event object and its bytes. */
type Codec =
  | 'int' // an integer of the field's C type
  | 'comm' // char[16]
  | 'string' // __data_loc string
  | 'prevState' // TaskStateLetter as a long
  | 'irqRet' // 'handled' | 'unhandled' as an int
  | 'softirqVec' // vec, with name derived
  | 'cpumask'; // ascending CPU list as a u64 bitmask

interface FieldSpec {
  readonly key: string;
  readonly field: string;
  readonly codec: Codec;
}

interface PayloadSpec {
  readonly layout: StructType;
  readonly fields: readonly FieldSpec[];
}

function payload(
  name: string,
  fields: readonly (readonly [
    key: string,
    field: string,
    codec: Codec,
    type: IntType | typeof charComm,
  ])[],
): PayloadSpec {
  return {
    layout: struct(
      name,
      fields.map(([, field, , type]) => [field, type] as const),
    ),
    fields: fields.map(([key, field, codec]) => ({ key, field, codec })),
  };
}

const taskFields = [
  ['taskComm', 'comm', 'comm', charComm],
  ['taskPid', 'pid', 'int', s32],
  ['taskPrio', 'prio', 'int', s32],
] as const;

const softirqPayload = payload('softirq', [['vec', 'vec', 'softirqVec', u32]]);
const textPayload = payload('print', [['text', 'text', 'string', u32]]);

const PAYLOADS: Readonly<Record<TraceEventType, PayloadSpec>> = {
  sched_switch: payload('sched_switch', [
    ['prevComm', 'prev_comm', 'comm', charComm],
    ['prevPid', 'prev_pid', 'int', s32],
    ['prevPrio', 'prev_prio', 'int', s32],
    ['prevState', 'prev_state', 'prevState', s64],
    ['nextComm', 'next_comm', 'comm', charComm],
    ['nextPid', 'next_pid', 'int', s32],
    ['nextPrio', 'next_prio', 'int', s32],
  ]),
  sched_migrate_task: payload('sched_migrate_task', [
    ...taskFields,
    ['origCpu', 'orig_cpu', 'int', s32],
    ['destCpu', 'dest_cpu', 'int', s32],
  ]),
  sched_wakeup: payload('sched_wakeup', [...taskFields, ['targetCpu', 'target_cpu', 'int', s32]]),
  sched_process_exit: payload('sched_process_exit', taskFields),
  irq_handler_entry: payload('irq_handler_entry', [
    ['irq', 'irq', 'int', s32],
    ['name', 'name', 'string', u32],
  ]),
  irq_handler_exit: payload('irq_handler_exit', [
    ['irq', 'irq', 'int', s32],
    ['ret', 'ret', 'irqRet', s32],
  ]),
  softirq_entry: softirqPayload,
  softirq_exit: softirqPayload,
  ipi_raise: payload('ipi_raise', [
    ['targetCpus', 'target_cpus', 'cpumask', u64],
    ['reason', 'reason', 'string', u32],
  ]),
  debug_preempt: textPayload,
  oops: textPayload,
  bpf_trace_printk: textPayload,
  print: textPayload,
};

const TYPE_BY_NUMBER = new Map<number, TraceEventType>(
  Object.entries(TRACE_TYPE).map(([t, n]) => [n, t as TraceEventType]),
);

const PAYLOAD_OFFSET = traceEntry.size;
const COMM_OFFSET = traceEntry.field('comm').offset;
const MAX_PAYLOAD = Math.max(...Object.values(PAYLOADS).map((p) => p.layout.size));
const MAX_STRINGS = Math.max(
  ...Object.values(PAYLOADS).map((p) => p.fields.filter((f) => f.codec === 'string').length),
);

/** The largest record {@link encodeRecord} can produce. */
export const MAX_RECORD_SIZE = align8(PAYLOAD_OFFSET + MAX_PAYLOAD + MAX_STRINGS * TRACE_TEXT_MAX);

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** The UTF-8 bytes of `s`, cut to at most `max` bytes on a character boundary. */
function utf8Cut(s: string, max: number): Uint8Array {
  const bytes = utf8.encode(s);
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

function checkInt(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ErrnoError('EINVAL', `${what} ${String(v)} is not an integer in [${min}, ${max}]`);
  }
  return v;
}

function checkString(what: string, v: unknown): string {
  if (typeof v !== 'string') throw new ErrnoError('EINVAL', `${what} ${String(v)} is not a string`);
  return v;
}

function intRange(t: IntType): [number, number] {
  if (t.signed) return [-(2 ** (t.size * 8 - 1)), 2 ** (t.size * 8 - 1) - 1];
  return [0, Math.min(2 ** (t.size * 8) - 1, Number.MAX_SAFE_INTEGER)];
}

function writeIntField(view: DataView, at: number, t: IntType, v: number): void {
  switch (t.size) {
    case 1:
      view.setUint8(at, v & 0xff);
      return;
    case 2:
      view.setUint16(at, v & 0xffff, true);
      return;
    case 4:
      view.setUint32(at, v >>> 0, true);
      return;
    case 8:
      view.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
  }
}

function readIntField(view: DataView, at: number, t: IntType): number {
  switch (t.size) {
    case 1:
      return t.signed ? view.getInt8(at) : view.getUint8(at);
    case 2:
      return t.signed ? view.getInt16(at, true) : view.getUint16(at, true);
    case 4:
      return t.signed ? view.getInt32(at, true) : view.getUint32(at, true);
    case 8:
      return Number(t.signed ? view.getBigInt64(at, true) : view.getBigUint64(at, true));
  }
}

function writeComm(out: Uint8Array, at: number, what: string, v: unknown): void {
  const bytes = utf8Cut(checkString(what, v), TASK_COMM_LEN - 1);
  out.fill(0, at, at + TASK_COMM_LEN);
  out.set(bytes, at);
}

function readComm(u8view: Uint8Array, at: number): string {
  let end = at;
  while (end < at + TASK_COMM_LEN && u8view[end] !== 0) end++;
  return utf8Decoder.decode(u8view.slice(at, end));
}

function encodeFlags(f: TraceFlags): [flags: number, preemptCount: number] {
  const pc = Math.min(checkInt('flags.preemptCount', f.preemptCount, 0, 2 ** 32), 15);
  const md = Math.min(checkInt('flags.migrateDisable', f.migrateDisable, 0, 2 ** 32), 15);
  const flags =
    (f.irqsOff ? TRACE_FLAG_IRQS_OFF : 0) |
    (f.needResched ? TRACE_FLAG_NEED_RESCHED | TRACE_FLAG_PREEMPT_RESCHED : 0) |
    (f.hardirq ? TRACE_FLAG_HARDIRQ : 0) |
    (f.softirq ? TRACE_FLAG_SOFTIRQ : 0);
  return [flags, pc | (md << 4)];
}

/**
 * Encodes `event` into `out` from offset 0 and returns the record length.
 * `out` must hold {@link MAX_RECORD_SIZE} bytes. Comms are cut to 15 bytes
 * and strings to {@link TRACE_TEXT_MAX}, and the two counts in the flags to
 * 15, as the kernel records them; anything else out of range is EINVAL.
 */
export function encodeRecord(event: TraceEvent, out: Uint8Array): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const type = TRACE_TYPE[event.type];
  if (type === undefined) {
    throw new ErrnoError('EINVAL', `unknown trace event type '${String(event.type)}'`);
  }
  const spec = PAYLOADS[event.type];
  const [flags, preemptCount] = encodeFlags(event.flags);
  view.setUint16(traceEntry.field('type').offset, type, true);
  view.setUint8(traceEntry.field('flags').offset, flags);
  view.setUint8(traceEntry.field('preempt_count').offset, preemptCount);
  view.setInt32(traceEntry.field('pid').offset, checkInt('pid', event.pid, ...intRange(s32)), true);
  view.setBigUint64(
    traceEntry.field('ts').offset,
    BigInt(checkInt('ts', event.ts, 0, Number.MAX_SAFE_INTEGER)),
    true,
  );
  writeComm(out, COMM_OFFSET, 'comm', event.comm);

  out.fill(0, PAYLOAD_OFFSET, PAYLOAD_OFFSET + spec.layout.size);
  let end = PAYLOAD_OFFSET + spec.layout.size;
  const body = event as unknown as Record<string, unknown>;
  for (const f of spec.fields) {
    const field = spec.layout.field(f.field);
    const at = PAYLOAD_OFFSET + field.offset;
    const v = body[f.key];
    const what = `${event.type}.${f.key}`;
    switch (f.codec) {
      case 'int': {
        const t = field.type as IntType;
        writeIntField(view, at, t, checkInt(what, v, ...intRange(t)));
        break;
      }
      case 'comm':
        writeComm(out, at, what, v);
        break;
      case 'string': {
        const bytes = utf8Cut(checkString(what, v), TRACE_TEXT_MAX);
        out.set(bytes, end);
        view.setUint32(at, ((bytes.length << 16) | end) >>> 0, true);
        end += bytes.length;
        break;
      }
      case 'prevState': {
        const state = PREV_STATE[v as TaskStateLetter];
        if (typeof v !== 'string' || state === undefined) {
          throw new ErrnoError('EINVAL', `${what} '${String(v)}' is not a task state letter`);
        }
        writeIntField(view, at, s64, state);
        break;
      }
      case 'irqRet':
        if (v !== 'handled' && v !== 'unhandled') {
          throw new ErrnoError('EINVAL', `${what} '${String(v)}' is not 'handled' or 'unhandled'`);
        }
        view.setInt32(at, v === 'handled' ? 1 : 0, true);
        break;
      case 'softirqVec': {
        const vec = checkInt(what, v, 0, SOFTIRQ_NAMES.length - 1);
        if (body.name !== SOFTIRQ_NAMES[vec]) {
          throw new ErrnoError(
            'EINVAL',
            `${event.type}.name '${String(body.name)}' is not softirq ${vec}'s name ${SOFTIRQ_NAMES[vec]}`,
          );
        }
        view.setUint32(at, vec, true);
        break;
      }
      case 'cpumask': {
        if (!Array.isArray(v)) throw new ErrnoError('EINVAL', `${what} is not an array of CPUs`);
        let mask = 0n;
        let last = -1;
        for (const cpu of v) {
          checkInt(`${what} entry`, cpu, 0, 63);
          if (cpu <= last) {
            throw new ErrnoError('EINVAL', `${what} [${v.join(',')}] is not strictly ascending`);
          }
          last = cpu;
          mask |= 1n << BigInt(cpu);
        }
        view.setBigUint64(at, mask, true);
        break;
      }
    }
  }
  const len = align8(end);
  out.fill(0, end, len);
  view.setUint32(traceEntry.field('len').offset, len, true);
  return len;
}

/** The record length stored at `at`. */
export function recordLength(view: DataView, at: number): number {
  return view.getUint32(at + traceEntry.field('len').offset, true);
}

/** The record type stored at `at` ({@link TRACE_TYPE_PADDING} for padding). */
export function recordType(view: DataView, at: number): number {
  return view.getUint16(at + traceEntry.field('type').offset, true);
}

/**
 * Decodes the (non-padding) record at byte `at` of `view`/`bytes`, two views
 * of the same memory, into the event it was encoded from; `cpu` is the ring
 * it was read from.
 */
export function decodeRecord(
  view: DataView,
  bytes: Uint8Array,
  at: number,
  cpu: number,
): TraceEvent {
  const typeNumber = recordType(view, at);
  const type = TYPE_BY_NUMBER.get(typeNumber);
  if (type === undefined) {
    throw new ErrnoError('EINVAL', `trace record at ${at} has unknown type ${typeNumber}`);
  }
  const rawFlags = view.getUint8(at + traceEntry.field('flags').offset);
  const pc = view.getUint8(at + traceEntry.field('preempt_count').offset);
  const event: Record<string, unknown> = {
    ts: Number(view.getBigUint64(at + traceEntry.field('ts').offset, true)),
    cpu,
    pid: view.getInt32(at + traceEntry.field('pid').offset, true),
    comm: readComm(bytes, at + COMM_OFFSET),
    flags: {
      irqsOff: (rawFlags & TRACE_FLAG_IRQS_OFF) !== 0,
      needResched: (rawFlags & TRACE_FLAG_NEED_RESCHED) !== 0,
      hardirq: (rawFlags & TRACE_FLAG_HARDIRQ) !== 0,
      softirq: (rawFlags & TRACE_FLAG_SOFTIRQ) !== 0,
      preemptCount: pc & 0xf,
      migrateDisable: pc >> 4,
    },
    type,
  };
  const spec = PAYLOADS[type];
  for (const f of spec.fields) {
    const field = spec.layout.field(f.field);
    const fat = at + PAYLOAD_OFFSET + field.offset;
    switch (f.codec) {
      case 'int':
        event[f.key] = readIntField(view, fat, field.type as IntType);
        break;
      case 'comm':
        event[f.key] = readComm(bytes, fat);
        break;
      case 'string': {
        const loc = view.getUint32(fat, true);
        const start = at + (loc & 0xffff);
        event[f.key] = utf8Decoder.decode(bytes.slice(start, start + (loc >>> 16)));
        break;
      }
      case 'prevState': {
        const v = readIntField(view, fat, s64);
        const letter = PREV_STATE_LETTER.get(v);
        if (letter === undefined) {
          throw new ErrnoError(
            'EINVAL',
            `trace record at ${at} has prev_state 0x${v.toString(16)}`,
          );
        }
        event[f.key] = letter;
        break;
      }
      case 'irqRet':
        event[f.key] = view.getInt32(fat, true) !== 0 ? 'handled' : 'unhandled';
        break;
      case 'softirqVec': {
        const vec = view.getUint32(fat, true);
        event[f.key] = vec;
        event.name = SOFTIRQ_NAMES[vec];
        break;
      }
      case 'cpumask': {
        const mask = view.getBigUint64(fat, true);
        const cpus: number[] = [];
        for (let c = 0; c < 64; c++) if ((mask >> BigInt(c)) & 1n) cpus.push(c);
        event[f.key] = cpus;
        break;
      }
    }
  }
  return event as unknown as TraceEvent;
}
