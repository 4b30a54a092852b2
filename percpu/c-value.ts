/**
 * Whole C values in emulated memory as JS values, for the typed per-CPU API:
 * an integer of up to 4 bytes is a number, an 8-byte one a bigint (signed
 * types read back negative), an array a JS array, a struct a record of its
 * fields. A write must give the whole value (every element, every field),
 * checked before any byte changes.
 *
 * @example
 * writeValue(mem, addr, pair, { count: 1n, flags: 2 });
 * readValue(mem, addr, pair); // { count: 1n, flags: 2 }
 */

import {
  type CType,
  decodeValue,
  encodeValue,
  type IntType,
  type Scalar,
} from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';

/**
 * Reads the value of type `t` at `addr`.
 *
 * @example
 * readValue(mem, addr, u32); // 7
 */
export function readValue(mem: PhysicalMemory, addr: number, t: CType): unknown {
  mem.check(addr, t.size, 'read');
  return decodeValue(t, mem.u8, addr);
}

/**
 * Writes the whole value `value` of type `t` at `addr`; integers are
 * truncated to their width as C would. EINVAL names what is missing or
 * mistyped; nothing is written then.
 *
 * @example
 * writeValue(mem, addr, array(u8, 2), [1, 2]);
 */
export function writeValue(mem: PhysicalMemory, addr: number, t: CType, value: unknown): void {
  checkWhole(t, value, t.name);
  mem.writeBytes(addr, encodeValue(t, value));
}

function checkWhole(t: CType, value: unknown, path: string): void {
  switch (t.kind) {
    case 'int':
      toBits(value, path);
      return;
    case 'array':
      if (!Array.isArray(value) || value.length !== t.count) {
        throw new ErrnoError('EINVAL', `${path} needs an array of exactly ${t.count} elements`);
      }
      value.forEach((v, k) => {
        checkWhole(t.elem, v, `${path}[${k}]`);
      });
      return;
    case 'struct': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new ErrnoError('EINVAL', `${path} needs a record of the fields of struct ${t.name}`);
      }
      const rec = value as Record<string, unknown>;
      for (const k of Object.keys(rec)) t.field(k);
      for (const f of t.fields) {
        if (!(f.name in rec)) throw new ErrnoError('EINVAL', `${path} lacks field '${f.name}'`);
        checkWhole(f.type, rec[f.name], `${path}.${f.name}`);
      }
    }
  }
}

/**
 * An integer value as a bigint for the per-CPU operations; EINVAL for
 * anything but an integral number or a bigint. `what` names it in the message.
 *
 * @example
 * toBits(-1, 'this_cpu_add'); // -1n
 */
export function toBits(value: unknown, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  throw new ErrnoError('EINVAL', `${what}: ${String(value)} is not an integer`);
}

/**
 * The JS value of type `t` for the unsigned bits `raw` a per-CPU operation
 * returned: a number up to 4 bytes, a bigint for 8, negative when signed.
 *
 * @example
 * fromBits(s8, 0xffn); // -1
 */
export function fromBits(t: IntType, raw: bigint): Scalar {
  const bits = t.size * 8;
  const v = t.signed ? BigInt.asIntN(bits, raw) : BigInt.asUintN(bits, raw);
  return t.size === 8 ? v : Number(v);
}
