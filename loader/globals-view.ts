/**
 * A skeleton's `rodata`/`data`/`bss` view: one property per variable,
 * typed from BTF. Integers of up to 4 bytes (and enums) read as numbers,
 * 8-byte integers and pointers as bigints, `_Bool` as a boolean, anything
 * else (arrays, structs) as a copy of its bytes. Writing checks the value
 * fits the type.
 *
 * The bytes live where the section lives: its image before load, the
 * global-data map's value in emulated memory after it (writes to a frozen
 * `.rodata` after load are EPERM, as on a read-only mmap).
 *
 * @example
 * obj.rodata.step = 5n;   // before load: const volatile __u64 step
 * obj.bss.runs;           // after runs: 12n
 */

import { ErrnoError } from '../segments/errno.ts';
import { BTF_KIND, type Btf } from './btf.ts';
import type { GlobalVar } from './global-data.ts';

export type GlobalValue = number | bigint | boolean | Uint8Array;

/** Where a section's bytes are right now. */
export interface GlobalStore {
  read(off: number, size: number): Uint8Array;
  write(off: number, bytes: Uint8Array): void;
}

/** Builds the view object of one data section. */
export function globalsView(
  btf: Btf,
  section: string,
  vars: readonly GlobalVar[],
  store: () => GlobalStore,
): Record<string, GlobalValue> {
  const view: Record<string, GlobalValue> = {};
  for (const v of vars) {
    const codec = codecOf(btf, v);
    Object.defineProperty(view, v.name, {
      enumerable: true,
      get: () => codec.decode(store().read(v.offset, v.size)),
      set: (value: GlobalValue) =>
        store().write(v.offset, codec.encode(value, `${section}.${v.name}`)),
    });
  }
  return view;
}

interface Codec {
  decode(bytes: Uint8Array): GlobalValue;
  encode(value: GlobalValue, what: string): Uint8Array;
}

/** The codec for a variable's type: scalar by size and signedness, else raw bytes. */
export function codecOf(btf: Btf, v: GlobalVar): Codec {
  const t = v.typeId === 0 ? undefined : btf.skipModifiers(v.typeId);
  const signed = t?.kind === BTF_KIND.INT ? (t.extra & (1 << 24)) !== 0 : t?.kind === BTF_KIND.ENUM;
  const bool = t?.kind === BTF_KIND.INT && (t.extra & (4 << 24)) !== 0;
  const scalar =
    t !== undefined &&
    (t.kind === BTF_KIND.INT ||
      t.kind === BTF_KIND.ENUM ||
      t.kind === BTF_KIND.PTR ||
      t.kind === BTF_KIND.ENUM64) &&
    [1, 2, 4, 8].includes(v.size);
  if (!scalar) return bytesCodec(v.size);
  return {
    decode(bytes) {
      const big = leToBigInt(bytes, signed);
      if (bool) return big !== 0n;
      return v.size === 8 ? big : Number(big);
    },
    encode(value, what) {
      let big: bigint;
      if (typeof value === 'boolean') big = value ? 1n : 0n;
      else if (typeof value === 'number' && Number.isInteger(value)) big = BigInt(value);
      else if (typeof value === 'bigint') big = value;
      else
        throw new ErrnoError('EINVAL', `${what} is a ${v.size}-byte integer, not ${String(value)}`);
      const bits = BigInt(v.size * 8);
      const lo = signed ? -(1n << (bits - 1n)) : 0n;
      const hi = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
      if (big < lo || big > hi)
        throw new ErrnoError('ERANGE', `${what}: ${big} does not fit in ${lo}..${hi}`);
      return bigIntToLe(big, v.size);
    },
  };
}

function bytesCodec(size: number): Codec {
  return {
    decode: (bytes) => bytes.slice(),
    encode(value, what) {
      if (!(value instanceof Uint8Array) || value.length !== size)
        throw new ErrnoError('EINVAL', `${what} takes ${size} bytes (a Uint8Array)`);
      return value;
    },
  };
}

function leToBigInt(bytes: Uint8Array, signed: boolean): bigint {
  let v = 0n;
  for (let k = bytes.length - 1; k >= 0; k--) v = (v << 8n) | BigInt(bytes[k]);
  return signed ? BigInt.asIntN(bytes.length * 8, v) : v;
}

function bigIntToLe(v: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let u = BigInt.asUintN(size * 8, v);
  for (let k = 0; k < size; k++, u >>= 8n) out[k] = Number(u & 0xffn);
  return out;
}
