/**
 * C types for data that lives in emulated memory: per-CPU variables, task
 * structs, run queues, map headers. A type knows its size and alignment (the
 * x86-64 ABI's), and a struct computes its field offsets once, so every
 * structure is laid out in one place and read and written through it.
 *
 * Integers of up to 4 bytes read as JS numbers, 8-byte ones as bigints.
 *
 * Field offsets, one naming scheme everywhere: `type.off.<field>` is a
 * field's byte offset and `type.word.<field>` its index in 32-bit words (for
 * an Int32Array over memory), under the C field name. A module takes the
 * record it reads into a module-local const named after the C struct, _W for
 * words and _OFF for bytes, and indexes with it:
 *
 *     const PCPU_CHUNK_W = pcpuChunk.word;
 *     m[(c >> 2) + PCPU_CHUNK_W.nr_pages]
 *     const BPF_MAP_OFF = bpfMapHeader.off;
 *     memory.read32(addr + BPF_MAP_OFF.frozen)
 *
 * Field names are checked by tsc.
 *
 * Module-local constants. Transpiled (tsx: a cell load; vitest: a getter
 * call), each read of an imported binding costs more than a module-local
 * one (about 2x in a tight loop under tsx, measured), and a module-local
 * frozen record reads as fast as a local constant. So offsets are never
 * copied one by one: a module keeps one local record per struct it reads.
 * The few scalars a hot path reads (a flag, a size) are kept as local copies
 * beside those records, marked with a one-line pointer to this note.
 *
 * @example
 * const pair = struct('pair', [['count', u64], ['flags', u32]]);
 * pair.size;                  // 16 (padded to the 8-byte alignment)
 * pair.off.flags;             // 8
 * pair.word.flags;            // 2
 */

import { ErrnoError } from './errno.ts';
import type { PhysicalMemory } from './memory.ts';

export type Scalar = number | bigint;

export interface IntType {
  readonly kind: 'int';
  readonly name: string;
  readonly size: 1 | 2 | 4 | 8;
  readonly align: number;
  readonly signed: boolean;
}

export interface ArrayType {
  readonly kind: 'array';
  readonly name: string;
  readonly elem: CType;
  readonly count: number;
  readonly size: number;
  readonly align: number;
}

export interface StructField {
  readonly name: string;
  readonly type: CType;
  readonly offset: number;
}

export interface StructType<N extends string = string> {
  readonly kind: 'struct';
  readonly name: string;
  readonly fields: readonly StructField[];
  readonly size: number;
  readonly align: number;
  /** Byte offset of each field. */
  readonly off: Readonly<Record<N, number>>;
  /** Offset of each field in 32-bit words (offset >> 2; fractional fields are not 4-aligned). */
  readonly word: Readonly<Record<N, number>>;
  field(name: string): StructField;
}

export type CType = IntType | ArrayType | StructType;

function int(name: string, size: 1 | 2 | 4 | 8, signed: boolean): IntType {
  return Object.freeze({ kind: 'int', name, size, align: size, signed });
}

export const u8 = int('u8', 1, false);
export const u16 = int('u16', 2, false);
export const u32 = int('u32', 4, false);
export const u64 = int('u64', 8, false);
export const s8 = int('s8', 1, true);
export const s16 = int('s16', 2, true);
export const s32 = int('s32', 4, true);
export const s64 = int('s64', 8, true);

export const alignUp = (x: number, align: number): number => Math.ceil(x / align) * align;

export const isPowerOfTwo = (x: number): boolean =>
  Number.isInteger(x) && x > 0 && (x & (x - 1)) === 0;

export function array(elem: CType, count: number): ArrayType {
  if (!Number.isInteger(count) || count < 0) {
    throw new ErrnoError('EINVAL', `array length ${count} is not a non-negative integer`);
  }
  return Object.freeze({
    kind: 'array',
    name: `${elem.name}[${count}]`,
    elem,
    count,
    size: elem.size * count,
    align: elem.align,
  });
}

/** A struct with C layout: each field at its alignment, the size padded to the largest. */
export function struct<const F extends readonly (readonly [string, CType])[]>(
  name: string,
  fields: F,
): StructType<F[number][0]> {
  let offset = 0;
  let align = 1;
  const laid: StructField[] = [];
  const byName = new Map<string, StructField>();
  const off: Record<string, number> = {};
  const word: Record<string, number> = {};
  for (const [fname, type] of fields) {
    if (byName.has(fname))
      throw new ErrnoError('EINVAL', `struct ${name}: duplicate field '${fname}'`);
    offset = alignUp(offset, type.align);
    const f = Object.freeze({ name: fname, type, offset });
    laid.push(f);
    byName.set(fname, f);
    off[fname] = offset;
    word[fname] = offset / 4;
    offset += type.size;
    align = Math.max(align, type.align);
  }
  return Object.freeze({
    kind: 'struct',
    name,
    fields: Object.freeze(laid),
    size: alignUp(offset, align),
    align,
    off: Object.freeze(off),
    word: Object.freeze(word),
    field(fname: string): StructField {
      const f = byName.get(fname);
      if (f === undefined) throw new ErrnoError('ENOENT', `struct ${name} has no field '${fname}'`);
      return f;
    },
  });
}

/** Reads an integer of type `t` at `addr`. */
export function readInt(mem: PhysicalMemory, addr: number, t: IntType): Scalar {
  const raw = mem.readSized(addr, t.size);
  if (t.size === 8) return t.signed ? BigInt.asIntN(64, raw) : raw;
  const n = Number(raw);
  const bits = t.size * 8;
  return t.signed && n >= 2 ** (bits - 1) ? n - 2 ** bits : n;
}

/** Writes `value` as an integer of type `t` at `addr`, truncated to its width as C would. */
export function writeInt(mem: PhysicalMemory, addr: number, t: IntType, value: Scalar): void {
  mem.writeSized(addr, t.size, BigInt(value));
}

/** Encodes a value for a type into bytes: an integer, an array of values, or a record of fields. */
export function encodeValue(t: CType, value: unknown): Uint8Array {
  const out = new Uint8Array(t.size);
  writeValueInto(new DataView(out.buffer), 0, t, value);
  return out;
}

function writeValueInto(view: DataView, at: number, t: CType, value: unknown): void {
  if (value === undefined) return;
  switch (t.kind) {
    case 'int': {
      if (typeof value !== 'number' && typeof value !== 'bigint') {
        throw new ErrnoError('EINVAL', `${t.name} initializer ${String(value)} is not a number`);
      }
      const v = BigInt.asUintN(64, BigInt(value));
      for (let k = 0; k < t.size; k++) view.setUint8(at + k, Number((v >> BigInt(8 * k)) & 0xffn));
      return;
    }
    case 'array': {
      if (!Array.isArray(value) || value.length > t.count) {
        throw new ErrnoError(
          'EINVAL',
          `${t.name} initializer is not an array of at most ${t.count}`,
        );
      }
      value.forEach((v, k) => {
        writeValueInto(view, at + k * t.elem.size, t.elem, v);
      });
      return;
    }
    case 'struct': {
      if (typeof value !== 'object' || value === null) {
        throw new ErrnoError('EINVAL', `struct ${t.name} initializer is not an object`);
      }
      for (const [k, v] of Object.entries(value)) {
        const f = t.field(k);
        writeValueInto(view, at + f.offset, f.type, v);
      }
    }
  }
}

/**
 * Decodes the value of type `t` from `bytes` at `at`: an integer of up to 4
 * bytes as a number, of 8 as a bigint (negative when signed), an array as a
 * JS array, a struct as a record of its fields. The inverse of encodeValue.
 *
 * @example
 * decodeValue(u32, new Uint8Array([7, 0, 0, 0])); // 7
 */
export function decodeValue(t: CType, bytes: Uint8Array, at = 0): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeFrom(view, at, t);
}

function decodeFrom(view: DataView, at: number, t: CType): unknown {
  switch (t.kind) {
    case 'int': {
      if (t.size === 8) return t.signed ? view.getBigInt64(at, true) : view.getBigUint64(at, true);
      if (t.size === 4) return t.signed ? view.getInt32(at, true) : view.getUint32(at, true);
      if (t.size === 2) return t.signed ? view.getInt16(at, true) : view.getUint16(at, true);
      return t.signed ? view.getInt8(at) : view.getUint8(at);
    }
    case 'array':
      return Array.from({ length: t.count }, (_, k) =>
        decodeFrom(view, at + k * t.elem.size, t.elem),
      );
    case 'struct': {
      const out: Record<string, unknown> = {};
      for (const f of t.fields) out[f.name] = decodeFrom(view, at + f.offset, f.type);
      return out;
    }
  }
}
