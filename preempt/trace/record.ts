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
const TRACE_ENTRY_OFF = traceEntry.off;

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
  xdp_exception: 14,
  xdp_redirect: 15,
  xdp_redirect_err: 16,
  xdp_cpumap_enqueue: 17,
  xdp_cpumap_kthread: 18,
  xdp_devmap_xmit: 19,
  preempt_disable: 20,
  preempt_enable: 21,
  irq_disable: 22,
  irq_enable: 23,
  migrate_disable: 24,
  migrate_enable: 25,
  percpu_access: 26,
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
  | 'accessKind' // 'read' | 'write' as an int, 1 for a write
  | 'softirqVec' // vec, with name derived
  | 'cpumask'; // ascending CPU list as a u64 bitmask

/** A payload field, compiled once: where it lies in the record and what it holds. */
interface FieldSpec {
  readonly key: string;
  readonly codec: Codec;
  /** Offset from the record start. */
  readonly at: number;
  readonly int: IntType | undefined;
  readonly min: number;
  readonly max: number;
  /** `type.key`, for error messages. */
  readonly what: string;
}

interface PayloadSpec {
  readonly layout: StructType;
  readonly fields: readonly FieldSpec[];
}

type FieldDecl = readonly [
  key: string,
  field: string,
  codec: Codec,
  type: IntType | typeof charComm,
];

const PAYLOAD_OFFSET = traceEntry.size;

function payload(type: TraceEventType, name: string, decls: readonly FieldDecl[]): PayloadSpec {
  const layout = struct(
    name,
    decls.map(([, field, , t]) => [field, t] as const),
  );
  const fields = decls.map(([key, field, codec, t]): FieldSpec => {
    const int = t.kind === 'int' ? t : undefined;
    const [min, max] = int === undefined ? [0, 0] : intRange(int);
    return {
      key,
      codec,
      at: PAYLOAD_OFFSET + layout.field(field).offset,
      int,
      min,
      max,
      what: `${type}.${key}`,
    };
  });
  return { layout, fields };
}

const taskFields: readonly FieldDecl[] = [
  ['taskComm', 'comm', 'comm', charComm],
  ['taskPid', 'pid', 'int', s32],
  ['taskPrio', 'prio', 'int', s32],
];
const softirqFields: readonly FieldDecl[] = [['vec', 'vec', 'softirqVec', u32]];
const textFields: readonly FieldDecl[] = [['text', 'text', 'string', u32]];
const callerFields: readonly FieldDecl[] = [['callerPc', 'caller_offs', 'int', s32]];

const PAYLOADS: Readonly<Record<TraceEventType, PayloadSpec>> = {
  sched_switch: payload('sched_switch', 'sched_switch', [
    ['prevComm', 'prev_comm', 'comm', charComm],
    ['prevPid', 'prev_pid', 'int', s32],
    ['prevPrio', 'prev_prio', 'int', s32],
    ['prevState', 'prev_state', 'prevState', s64],
    ['nextComm', 'next_comm', 'comm', charComm],
    ['nextPid', 'next_pid', 'int', s32],
    ['nextPrio', 'next_prio', 'int', s32],
  ]),
  sched_migrate_task: payload('sched_migrate_task', 'sched_migrate_task', [
    ...taskFields,
    ['origCpu', 'orig_cpu', 'int', s32],
    ['destCpu', 'dest_cpu', 'int', s32],
  ]),
  sched_wakeup: payload('sched_wakeup', 'sched_wakeup_template', [
    ...taskFields,
    ['targetCpu', 'target_cpu', 'int', s32],
  ]),
  sched_process_exit: payload('sched_process_exit', 'sched_process_template', taskFields),
  irq_handler_entry: payload('irq_handler_entry', 'irq_handler_entry', [
    ['irq', 'irq', 'int', s32],
    ['name', 'name', 'string', u32],
    ['pc', 'pc', 'int', s32],
  ]),
  irq_handler_exit: payload('irq_handler_exit', 'irq_handler_exit', [
    ['irq', 'irq', 'int', s32],
    ['ret', 'ret', 'irqRet', s32],
  ]),
  softirq_entry: payload('softirq_entry', 'softirq', softirqFields),
  softirq_exit: payload('softirq_exit', 'softirq', softirqFields),
  ipi_raise: payload('ipi_raise', 'ipi_raise', [
    ['targetCpus', 'target_cpus', 'cpumask', u64],
    ['reason', 'reason', 'string', u32],
  ]),
  debug_preempt: payload('debug_preempt', 'console', textFields),
  oops: payload('oops', 'console', textFields),
  bpf_trace_printk: payload('bpf_trace_printk', 'bpf_trace_printk', textFields),
  print: payload('print', 'print', textFields),
  xdp_exception: payload('xdp_exception', 'xdp_exception', textFields),
  xdp_redirect: payload('xdp_redirect', 'xdp_redirect', textFields),
  xdp_redirect_err: payload('xdp_redirect_err', 'xdp_redirect_err', textFields),
  xdp_cpumap_enqueue: payload('xdp_cpumap_enqueue', 'xdp_cpumap_enqueue', textFields),
  xdp_cpumap_kthread: payload('xdp_cpumap_kthread', 'xdp_cpumap_kthread', textFields),
  xdp_devmap_xmit: payload('xdp_devmap_xmit', 'xdp_devmap_xmit', textFields),
  preempt_disable: payload('preempt_disable', 'preemptirq_template', callerFields),
  preempt_enable: payload('preempt_enable', 'preemptirq_template', callerFields),
  irq_disable: payload('irq_disable', 'preemptirq_template', callerFields),
  irq_enable: payload('irq_enable', 'preemptirq_template', callerFields),
  migrate_disable: payload('migrate_disable', 'preemptirq_template', callerFields),
  migrate_enable: payload('migrate_enable', 'preemptirq_template', callerFields),
  percpu_access: payload('percpu_access', 'percpu_access', [
    ['var', 'var', 'string', u32],
    ['unit', 'unit', 'int', s32],
    ['offset', 'offset', 'int', u32],
    ['size', 'size', 'int', u32],
    ['access', 'write', 'accessKind', s32],
    ['pc', 'pc', 'int', s32],
  ]),
};

const TYPE_BY_NUMBER = new Map<number, TraceEventType>(
  Object.entries(TRACE_TYPE).map(([t, n]) => [n, t as TraceEventType]),
);

const MAX_PAYLOAD = Math.max(...Object.values(PAYLOADS).map((p) => p.layout.size));
const MAX_STRINGS = Math.max(
  ...Object.values(PAYLOADS).map((p) => p.fields.filter((f) => f.codec === 'string').length),
);

/** The largest record {@link encodeRecord} can produce. */
export const MAX_RECORD_SIZE = align8(PAYLOAD_OFFSET + MAX_PAYLOAD + MAX_STRINGS * TRACE_TEXT_MAX);

const S32_MIN = -(2 ** 31);
const S32_MAX = 2 ** 31 - 1;
const TWO_32 = 2 ** 32;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

function align8(n: number): number {
  return (n + 7) & ~7;
}

function intRange(t: IntType): [number, number] {
  if (t.signed) return [-(2 ** (t.size * 8 - 1)), 2 ** (t.size * 8 - 1) - 1];
  return [0, Math.min(2 ** (t.size * 8) - 1, Number.MAX_SAFE_INTEGER)];
}

/**
 * Writes the UTF-8 bytes of `s` at `out[at..]`, at most `max` of them, cut on a
 * character boundary (encodeInto writes only whole characters); returns the count.
 */
function writeUtf8(out: Uint8Array, at: number, s: string, max: number): number {
  // ASCII (every comm the machine makes) is copied directly; anything else goes through encodeInto.
  const n = Math.min(s.length, max);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return utf8.encodeInto(s, out.subarray(at, at + max)).written;
    out[at + i] = c;
  }
  return n;
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

/** Writes a safe integer as 64 bits, two's complement, without a BigInt. */
function setInt64(view: DataView, at: number, v: number): void {
  const hi = Math.floor(v / TWO_32);
  view.setUint32(at, v - hi * TWO_32, true);
  view.setInt32(at + 4, hi, true);
}

function getInt64(view: DataView, at: number, signed: boolean): number {
  const hi = signed ? view.getInt32(at + 4, true) : view.getUint32(at + 4, true);
  return hi * TWO_32 + view.getUint32(at, true);
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
      setInt64(view, at, v);
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
      return getInt64(view, at, t.signed);
  }
}

function writeComm(out: Uint8Array, at: number, what: string, v: unknown): void {
  const n = writeUtf8(out, at, checkString(what, v), TASK_COMM_LEN - 1);
  out.fill(0, at + n, at + TASK_COMM_LEN);
}

function readComm(bytes: Uint8Array, at: number): string {
  let end = at;
  while (end < at + TASK_COMM_LEN && bytes[end] !== 0) end++;
  return utf8Decoder.decode(bytes.slice(at, end));
}

function encodeFlags(view: DataView, f: TraceFlags): void {
  const pc = Math.min(checkInt('flags.preemptCount', f.preemptCount, 0, TWO_32), 15);
  const md = Math.min(checkInt('flags.migrateDisable', f.migrateDisable, 0, TWO_32), 15);
  const flags =
    (f.irqsOff ? TRACE_FLAG_IRQS_OFF : 0) |
    (f.needResched ? TRACE_FLAG_NEED_RESCHED | TRACE_FLAG_PREEMPT_RESCHED : 0) |
    (f.hardirq ? TRACE_FLAG_HARDIRQ : 0) |
    (f.softirq ? TRACE_FLAG_SOFTIRQ : 0);
  view.setUint8(TRACE_ENTRY_OFF.flags, flags);
  view.setUint8(TRACE_ENTRY_OFF.preempt_count, pc | (md << 4));
}

/**
 * Encodes `event` into `out` from offset 0 and returns the record length.
 * `out` must hold {@link MAX_RECORD_SIZE} bytes; `view` is a DataView of the
 * same bytes (pass one to avoid making one per call). Comms are cut to 15
 * bytes and strings to {@link TRACE_TEXT_MAX}, and the two counts in the
 * flags to 15, as the kernel records them; anything else out of range is
 * EINVAL.
 */
export function encodeRecord(
  event: TraceEvent,
  out: Uint8Array,
  view = new DataView(out.buffer, out.byteOffset, out.byteLength),
): number {
  const type = TRACE_TYPE[event.type];
  if (type === undefined) {
    throw new ErrnoError('EINVAL', `unknown trace event type '${String(event.type)}'`);
  }
  const spec = PAYLOADS[event.type];
  view.setUint16(TRACE_ENTRY_OFF.type, type, true);
  encodeFlags(view, event.flags);
  view.setInt32(TRACE_ENTRY_OFF.pid, checkInt('pid', event.pid, S32_MIN, S32_MAX), true);
  setInt64(view, TRACE_ENTRY_OFF.ts, checkInt('ts', event.ts, 0, Number.MAX_SAFE_INTEGER));
  writeComm(out, TRACE_ENTRY_OFF.comm, 'comm', event.comm);

  let end = PAYLOAD_OFFSET + spec.layout.size;
  out.fill(0, PAYLOAD_OFFSET, end);
  const body = event as unknown as Record<string, unknown>;
  for (const f of spec.fields) {
    const v = body[f.key];
    switch (f.codec) {
      case 'int':
        writeIntField(view, f.at, f.int!, checkInt(f.what, v, f.min, f.max));
        break;
      case 'comm':
        writeComm(out, f.at, f.what, v);
        break;
      case 'string': {
        const n = writeUtf8(out, end, checkString(f.what, v), TRACE_TEXT_MAX);
        view.setUint32(f.at, ((n << 16) | end) >>> 0, true);
        end += n;
        break;
      }
      case 'prevState': {
        const state = typeof v === 'string' ? PREV_STATE[v as TaskStateLetter] : undefined;
        if (state === undefined) {
          throw new ErrnoError('EINVAL', `${f.what} '${String(v)}' is not a task state letter`);
        }
        setInt64(view, f.at, state);
        break;
      }
      case 'irqRet':
        if (v !== 'handled' && v !== 'unhandled') {
          throw new ErrnoError(
            'EINVAL',
            `${f.what} '${String(v)}' is not 'handled' or 'unhandled'`,
          );
        }
        view.setInt32(f.at, v === 'handled' ? 1 : 0, true);
        break;
      case 'accessKind':
        if (v !== 'read' && v !== 'write') {
          throw new ErrnoError('EINVAL', `${f.what} '${String(v)}' is not 'read' or 'write'`);
        }
        view.setInt32(f.at, v === 'write' ? 1 : 0, true);
        break;
      case 'softirqVec': {
        const vec = checkInt(f.what, v, 0, SOFTIRQ_NAMES.length - 1);
        if (body.name !== SOFTIRQ_NAMES[vec]) {
          throw new ErrnoError(
            'EINVAL',
            `${event.type}.name '${String(body.name)}' is not softirq ${vec}'s name ${SOFTIRQ_NAMES[vec]}`,
          );
        }
        view.setUint32(f.at, vec, true);
        break;
      }
      case 'cpumask': {
        if (!Array.isArray(v)) throw new ErrnoError('EINVAL', `${f.what} is not an array of CPUs`);
        let lo = 0;
        let hi = 0;
        let last = -1;
        for (const cpu of v) {
          checkInt(`${f.what} entry`, cpu, 0, 63);
          if (cpu <= last) {
            throw new ErrnoError('EINVAL', `${f.what} [${v.join(',')}] is not strictly ascending`);
          }
          last = cpu;
          if (cpu < 32) lo |= 1 << cpu;
          else hi |= 1 << (cpu - 32);
        }
        view.setUint32(f.at, lo >>> 0, true);
        view.setUint32(f.at + 4, hi >>> 0, true);
        break;
      }
    }
  }
  const len = align8(end);
  out.fill(0, end, len);
  view.setUint32(TRACE_ENTRY_OFF.len, len, true);
  return len;
}

/** The record length stored at `at`. */
export function recordLength(view: DataView, at: number): number {
  return view.getUint32(at + TRACE_ENTRY_OFF.len, true);
}

/** The record type stored at `at` ({@link TRACE_TYPE_PADDING} for padding). */
export function recordType(view: DataView, at: number): number {
  return view.getUint16(at + TRACE_ENTRY_OFF.type, true);
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
  const rawFlags = view.getUint8(at + TRACE_ENTRY_OFF.flags);
  const pc = view.getUint8(at + TRACE_ENTRY_OFF.preempt_count);
  const event: Record<string, unknown> = {
    ts: getInt64(view, at + TRACE_ENTRY_OFF.ts, false),
    cpu,
    pid: view.getInt32(at + TRACE_ENTRY_OFF.pid, true),
    comm: readComm(bytes, at + TRACE_ENTRY_OFF.comm),
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
  for (const f of PAYLOADS[type].fields) {
    const fat = at + f.at;
    switch (f.codec) {
      case 'int':
        event[f.key] = readIntField(view, fat, f.int!);
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
        const v = getInt64(view, fat, true);
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
      case 'accessKind':
        event[f.key] = view.getInt32(fat, true) !== 0 ? 'write' : 'read';
        break;
      case 'softirqVec': {
        const vec = view.getUint32(fat, true);
        event[f.key] = vec;
        event.name = SOFTIRQ_NAMES[vec];
        break;
      }
      case 'cpumask': {
        const lo = view.getUint32(fat, true);
        const hi = view.getUint32(fat + 4, true);
        const cpus: number[] = [];
        for (let c = 0; c < 32; c++) if ((lo >>> c) & 1) cpus.push(c);
        for (let c = 0; c < 32; c++) if ((hi >>> c) & 1) cpus.push(32 + c);
        event[f.key] = cpus;
        break;
      }
    }
  }
  return event as unknown as TraceEvent;
}
