/**
 * BTF, the BPF Type Format of a `.BTF` section (include/uapi/linux/btf.h):
 * a header, a type section and a string section. Every kind is decoded,
 * including those our fixtures never use, because a type's id is its
 * position: skipping one kind wrongly would shift every id after it.
 * Type id 0 is `void`.
 *
 * @example
 * const btf = parseBtf(elf.section('.BTF')!.data);
 * btf.byName('val_t', BTF_KIND.STRUCT); // its id
 * btf.size(id);                         // 24
 */

import { ErrnoError } from '../segments/errno.ts';

export const BTF_MAGIC = 0xeb9f;

/** BTF_KIND_*. */
export const BTF_KIND = {
  UNKN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

const KIND_NAMES = Object.fromEntries(Object.entries(BTF_KIND).map(([k, v]) => [v, k]));

/** `BTF_KIND_STRUCT` for 4. */
export function btfKindName(kind: number): string {
  return `BTF_KIND_${KIND_NAMES[kind] ?? `(${kind})`}`;
}

/** A member of a STRUCT/UNION, a param of a FUNC_PROTO, an enumerator, or a DATASEC entry. */
export interface BtfMember {
  readonly name: string;
  /** The member's, param's or entry's type; 0 for enumerators. */
  readonly type: number;
  /** STRUCT/UNION: bit offset; DATASEC: byte offset; ENUM: the value. */
  readonly offset: number;
  /** DATASEC: the variable's size; STRUCT with kind_flag: the bitfield size. */
  readonly size: number;
  /** ENUM64: the 64-bit value. */
  readonly value?: bigint;
}

export interface BtfType {
  readonly id: number;
  readonly kind: number;
  readonly name: string;
  readonly kindFlag: boolean;
  /** vlen: member count (FUNC: linkage). */
  readonly vlen: number;
  /** size for INT, STRUCT, UNION, ENUM, DATASEC, FLOAT, ENUM64; else the referenced type. */
  readonly sizeOrType: number;
  /** INT: bits, offset and encoding; VAR: linkage; DECL_TAG: component_idx. */
  readonly extra: number;
  /** ARRAY: element type, index type, element count. */
  readonly array?: { readonly type: number; readonly indexType: number; readonly nelems: number };
  readonly members: readonly BtfMember[];
}

export class Btf {
  private readonly names = new Map<string, number[]>();

  constructor(
    /** types[0] is void. */
    readonly types: readonly BtfType[],
    readonly strings: Uint8Array,
  ) {
    for (const t of types) {
      if (t.name === '') continue;
      const ids = this.names.get(t.name) ?? [];
      ids.push(t.id);
      this.names.set(t.name, ids);
    }
  }

  type(id: number): BtfType {
    const t = this.types[id];
    if (t === undefined)
      throw new ErrnoError(
        'EINVAL',
        `BTF type id ${id} does not exist (${this.types.length} types)`,
      );
    return t;
  }

  /** The first type called `name` (of `kind`, if given). */
  byName(name: string, kind?: number): number | undefined {
    return this.names.get(name)?.find((id) => kind === undefined || this.types[id].kind === kind);
  }

  /** The string at `off` of the string section. */
  str(off: number): string {
    return btfString(this.strings, off);
  }

  /** Follows TYPEDEF, VOLATILE, CONST, RESTRICT and TYPE_TAG to the type they qualify. */
  skipModifiers(id: number): BtfType {
    let t = this.type(id);
    for (let hops = 0; isModifier(t.kind); hops++) {
      if (hops > this.types.length)
        throw new ErrnoError('EINVAL', `BTF type ${id}: a loop of modifiers`);
      t = this.type(t.sizeOrType);
    }
    return t;
  }

  /** btf__resolve_size: the type's size in bytes (PTR is 8; ARRAY is nelems x element). */
  size(id: number): number {
    const t = this.skipModifiers(id);
    switch (t.kind) {
      case BTF_KIND.INT:
      case BTF_KIND.STRUCT:
      case BTF_KIND.UNION:
      case BTF_KIND.ENUM:
      case BTF_KIND.ENUM64:
      case BTF_KIND.DATASEC:
      case BTF_KIND.FLOAT:
        return t.sizeOrType;
      case BTF_KIND.PTR:
        return 8;
      case BTF_KIND.ARRAY:
        return t.array!.nelems * this.size(t.array!.type);
      case BTF_KIND.VAR:
        return this.size(t.sizeOrType);
    }
    throw new ErrnoError('EINVAL', `BTF type ${id} (${btfKindName(t.kind)}) has no size`);
  }

  /** A C-like name for messages and views: `struct val_t`, `__u64`, `int *`. */
  describe(id: number): string {
    if (id === 0) return 'void';
    const t = this.type(id);
    switch (t.kind) {
      case BTF_KIND.PTR:
        return `${this.describe(t.sizeOrType)} *`;
      case BTF_KIND.STRUCT:
        return `struct ${t.name}`;
      case BTF_KIND.UNION:
        return `union ${t.name}`;
      case BTF_KIND.ENUM:
      case BTF_KIND.ENUM64:
        return `enum ${t.name}`;
      case BTF_KIND.ARRAY:
        return `${this.describe(t.array!.type)}[${t.array!.nelems}]`;
      case BTF_KIND.CONST:
        return `const ${this.describe(t.sizeOrType)}`;
      case BTF_KIND.VOLATILE:
        return `volatile ${this.describe(t.sizeOrType)}`;
      default:
        return t.name === '' ? btfKindName(t.kind) : t.name;
    }
  }
}

export function isModifier(kind: number): boolean {
  return (
    kind === BTF_KIND.TYPEDEF ||
    kind === BTF_KIND.VOLATILE ||
    kind === BTF_KIND.CONST ||
    kind === BTF_KIND.RESTRICT ||
    kind === BTF_KIND.TYPE_TAG
  );
}

function btfString(strings: Uint8Array, off: number): string {
  if (off >= strings.length) {
    throw new ErrnoError(
      'EINVAL',
      `BTF string offset ${off} is outside the ${strings.length}-byte string section`,
    );
  }
  const end = strings.indexOf(0, off);
  if (end < 0) throw new ErrnoError('EINVAL', `BTF string at offset ${off} is not NUL-terminated`);
  return new TextDecoder().decode(strings.subarray(off, end));
}

/** Bytes after the 12-byte common header of each kind, per member or in all. */
function tailSize(kind: number, vlen: number): number {
  switch (kind) {
    case BTF_KIND.INT:
    case BTF_KIND.VAR:
    case BTF_KIND.DECL_TAG:
      return 4;
    case BTF_KIND.ARRAY:
      return 12;
    case BTF_KIND.STRUCT:
    case BTF_KIND.UNION:
    case BTF_KIND.DATASEC:
    case BTF_KIND.ENUM64:
      return 12 * vlen;
    case BTF_KIND.ENUM:
    case BTF_KIND.FUNC_PROTO:
      return 8 * vlen;
    case BTF_KIND.PTR:
    case BTF_KIND.FWD:
    case BTF_KIND.TYPEDEF:
    case BTF_KIND.VOLATILE:
    case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT:
    case BTF_KIND.FUNC:
    case BTF_KIND.FLOAT:
    case BTF_KIND.TYPE_TAG:
      return 0;
  }
  return -1;
}

/** A little-endian header of `.BTF` or `.BTF.ext`: magic, version, flags, hdr_len. */
export function btfHeader(data: Uint8Array, section: string): DataView {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 8)
    throw new ErrnoError('EINVAL', `${section} is ${data.length} bytes: too short for its header`);
  const magic = view.getUint16(0, true);
  if (magic !== BTF_MAGIC) {
    throw new ErrnoError(
      'EINVAL',
      `${section} magic 0x${magic.toString(16)} is not 0xeb9f (little-endian BTF)`,
    );
  }
  if (data[2] !== 1) throw new ErrnoError('EINVAL', `${section} version ${data[2]} is not 1`);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen > data.length)
    throw new ErrnoError(
      'EINVAL',
      `${section} header length ${hdrLen} exceeds its ${data.length} bytes`,
    );
  return view;
}

/**
 * Parses a `.BTF` section. Throws EINVAL naming the type id or offset for a
 * truncated section, an unknown kind, or a string outside the string table.
 */
export function parseBtf(data: Uint8Array): Btf {
  const view = btfHeader(data, '.BTF');
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < 24) throw new ErrnoError('EINVAL', `.BTF header length ${hdrLen} is under 24`);
  const typeOff = view.getUint32(8, true);
  const typeLen = view.getUint32(12, true);
  const strOff = view.getUint32(16, true);
  const strLen = view.getUint32(20, true);
  for (const [what, off, len] of [
    ['type', typeOff, typeLen],
    ['string', strOff, strLen],
  ] as const) {
    if (hdrLen + off + len > data.length) {
      throw new ErrnoError(
        'EINVAL',
        `.BTF ${what} section (offset ${off}, ${len} bytes) runs past the section's ${data.length - hdrLen} bytes`,
      );
    }
  }
  const strings = data.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
  const types: BtfType[] = [
    { id: 0, kind: 0, name: '', kindFlag: false, vlen: 0, sizeOrType: 0, extra: 0, members: [] },
  ];
  const end = hdrLen + typeOff + typeLen;
  for (let at = hdrLen + typeOff; at < end; ) {
    const id = types.length;
    if (at + 12 > end)
      throw new ErrnoError('EINVAL', `.BTF type ${id} at offset ${at} is truncated`);
    const info = view.getUint32(at + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const tail = tailSize(kind, vlen);
    if (tail < 0)
      throw new ErrnoError('EINVAL', `.BTF type ${id} at offset ${at}: unknown kind ${kind}`);
    if (at + 12 + tail > end) {
      throw new ErrnoError(
        'EINVAL',
        `.BTF type ${id} (${btfKindName(kind)}) at offset ${at} runs past the type section`,
      );
    }
    types.push(readType(view, strings, at, id, kind, vlen, info));
    at += 12 + tail;
  }
  const btf = new Btf(types, strings);
  for (const t of types) checkRefs(btf, t);
  return btf;
}

function readType(
  view: DataView,
  strings: Uint8Array,
  at: number,
  id: number,
  kind: number,
  vlen: number,
  info: number,
): BtfType {
  const name = btfString(strings, view.getUint32(at, true));
  const sizeOrType = view.getUint32(at + 8, true);
  const p = at + 12;
  const u32 = (o: number) => view.getUint32(p + o, true);
  let extra = 0;
  let array: BtfType['array'];
  const members: BtfMember[] = [];
  switch (kind) {
    case BTF_KIND.INT:
    case BTF_KIND.VAR:
    case BTF_KIND.DECL_TAG:
      extra = u32(0);
      break;
    case BTF_KIND.ARRAY:
      array = { type: u32(0), indexType: u32(4), nelems: u32(8) };
      break;
    case BTF_KIND.STRUCT:
    case BTF_KIND.UNION: {
      const bitfields = (info & 0x8000_0000) !== 0;
      for (let k = 0; k < vlen; k++) {
        const off = u32(12 * k + 8);
        members.push({
          name: btfString(strings, u32(12 * k)),
          type: u32(12 * k + 4),
          offset: bitfields ? off & 0xffffff : off,
          size: bitfields ? off >>> 24 : 0,
        });
      }
      break;
    }
    case BTF_KIND.ENUM:
      for (let k = 0; k < vlen; k++)
        members.push({
          name: btfString(strings, u32(8 * k)),
          type: 0,
          offset: view.getInt32(p + 8 * k + 4, true),
          size: 0,
        });
      break;
    case BTF_KIND.ENUM64:
      for (let k = 0; k < vlen; k++) {
        const value = (BigInt(u32(12 * k + 8)) << 32n) | BigInt(u32(12 * k + 4));
        members.push({ name: btfString(strings, u32(12 * k)), type: 0, offset: 0, size: 0, value });
      }
      break;
    case BTF_KIND.FUNC_PROTO:
      for (let k = 0; k < vlen; k++)
        members.push({
          name: btfString(strings, u32(8 * k)),
          type: u32(8 * k + 4),
          offset: 0,
          size: 0,
        });
      break;
    case BTF_KIND.DATASEC:
      for (let k = 0; k < vlen; k++)
        members.push({
          name: '',
          type: u32(12 * k),
          offset: u32(12 * k + 4),
          size: u32(12 * k + 8),
        });
      break;
  }
  return {
    id,
    kind,
    name,
    kindFlag: (info & 0x8000_0000) !== 0,
    vlen,
    sizeOrType,
    extra,
    array,
    members,
  };
}

/** Every referenced type id exists. */
function checkRefs(btf: Btf, t: BtfType): void {
  const n = btf.types.length;
  const check = (ref: number, what: string) => {
    if (ref >= n) {
      throw new ErrnoError(
        'EINVAL',
        `.BTF type ${t.id} (${btfKindName(t.kind)} '${t.name}'): ${what} type ${ref} does not exist`,
      );
    }
  };
  switch (t.kind) {
    case BTF_KIND.PTR:
    case BTF_KIND.TYPEDEF:
    case BTF_KIND.VOLATILE:
    case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT:
    case BTF_KIND.FUNC:
    case BTF_KIND.FUNC_PROTO:
    case BTF_KIND.VAR:
    case BTF_KIND.DECL_TAG:
    case BTF_KIND.TYPE_TAG:
      check(t.sizeOrType, 'its');
      break;
    case BTF_KIND.ARRAY:
      check(t.array!.type, 'element');
      check(t.array!.indexType, 'index');
      break;
  }
  for (const m of t.members) check(m.type, 'a member');
}
