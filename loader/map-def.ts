/**
 * BTF-defined maps: each variable of the `.maps` DATASEC is an anonymous
 * struct whose members, matched by name, describe the map the way libbpf's
 * parse_btf_map_def reads them. Integer attributes (`__uint(type, 16)`)
 * are `int (*type)[16]`: a PTR to an ARRAY whose element count is the
 * value. `__type(key, T)` is `T *key`: the key size is sizeof(T), and T's id
 * is kept for the value layout.
 *
 * Which map a `.maps` relocation names is decided by the ELF symbol's
 * st_value, not by the DATASEC's (clang gives global VARs offset 0).
 *
 * @example
 * parseMapDefs(elf, btf)[0]; // { name: 'counters', type: 6, keySize: 4, valueSize: 8, maxEntries: 4, ... }
 */

import { ErrnoError } from '../segments/errno.ts';
import { BTF_KIND, type Btf, btfKindName } from './btf.ts';
import { type ElfFile, SHN_UNDEF, STT_SECTION } from './elf.ts';

/** LIBBPF_PIN_*: pinning by name is recorded, not acted on (the machine has no bpffs). */
export const LIBBPF_PIN_NONE = 0;
export const LIBBPF_PIN_BY_NAME = 1;

export interface MapDef {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
  readonly numaNode: number;
  readonly mapExtra: number;
  readonly pinning: number;
  /** BTF ids of the key and value types, when given with `__type`; 0 otherwise. */
  readonly keyType: number;
  readonly valueType: number;
  /** Byte offset of its symbol in `.maps`. */
  readonly offset: number;
}

const INT_ATTRS = new Set([
  'type',
  'max_entries',
  'map_flags',
  'numa_node',
  'key_size',
  'value_size',
  'map_extra',
  'pinning',
]);

/** The maps of `.maps`, in DATASEC order. EINVAL names the map and the attribute. */
export function parseMapDefs(elf: ElfFile, btf: Btf): MapDef[] {
  const sec = elf.section('.maps');
  if (sec === undefined) return [];
  const datasec = btf.byName('.maps', BTF_KIND.DATASEC);
  if (datasec === undefined) {
    throw new ErrnoError(
      'EINVAL',
      "section '.maps' has no DATASEC in .BTF: compile with clang -g so the map definitions are in BTF",
    );
  }
  const symbols = elf.symbols.filter(
    (s) => s.shndx === sec.index && s.type !== STT_SECTION && s.shndx !== SHN_UNDEF,
  );
  return btf.type(datasec).members.map((entry) => {
    const v = btf.type(entry.type);
    if (v.kind !== BTF_KIND.VAR)
      throw new ErrnoError('EINVAL', `.maps DATASEC entry of type ${entry.type} is not a VAR`);
    const sym = symbols.find((s) => s.name === v.name);
    if (sym === undefined)
      throw new ErrnoError(
        'EINVAL',
        `map '${v.name}' is in .BTF but has no symbol in section '.maps'`,
      );
    return parseOne(btf, v.name, v.sizeOrType, sym.value);
  });
}

function parseOne(btf: Btf, name: string, typeId: number, offset: number): MapDef {
  const def = btf.skipModifiers(typeId);
  if (def.kind !== BTF_KIND.STRUCT)
    throw new ErrnoError(
      'EINVAL',
      `map '${name}': its definition is a ${btfKindName(def.kind)}, not a struct`,
    );
  const ints = new Map<string, number>();
  let keyType = 0;
  let valueType = 0;
  for (const m of def.members) {
    const ptr = btf.skipModifiers(m.type);
    if (INT_ATTRS.has(m.name)) {
      const arr = ptr.kind === BTF_KIND.PTR ? btf.skipModifiers(ptr.sizeOrType) : undefined;
      if (arr?.kind !== BTF_KIND.ARRAY)
        throw new ErrnoError(
          'EINVAL',
          `map '${name}': attr '${m.name}' is not __uint(): expected a pointer to an array`,
        );
      ints.set(m.name, arr.array!.nelems);
    } else if (m.name === 'key' || m.name === 'value') {
      if (ptr.kind !== BTF_KIND.PTR)
        throw new ErrnoError(
          'EINVAL',
          `map '${name}': '${m.name}' is not __type(): expected a pointer`,
        );
      if (m.name === 'key') keyType = ptr.sizeOrType;
      else valueType = ptr.sizeOrType;
    } else if (m.name === 'values') {
      throw new ErrnoError(
        'EOPNOTSUPP',
        `map '${name}': 'values' (map-in-map or prog array slots) is not supported`,
      );
    } else {
      throw new ErrnoError('EOPNOTSUPP', `map '${name}': unknown field '${m.name}'`);
    }
  }
  const sized = (what: 'key' | 'value', typeId: number) => {
    const fromType = typeId === 0 ? undefined : btf.size(typeId);
    const given = ints.get(`${what}_size`);
    if (fromType !== undefined && given !== undefined && fromType !== given)
      throw new ErrnoError(
        'EINVAL',
        `map '${name}': ${what}_size ${given} but sizeof(${what}) is ${fromType}`,
      );
    return fromType ?? given ?? 0;
  };
  const type = ints.get('type');
  if (type === undefined)
    throw new ErrnoError('EINVAL', `map '${name}': no map type (__uint(type, ...))`);
  const pinning = ints.get('pinning') ?? LIBBPF_PIN_NONE;
  if (pinning !== LIBBPF_PIN_NONE && pinning !== LIBBPF_PIN_BY_NAME)
    throw new ErrnoError(
      'EINVAL',
      `map '${name}': pinning ${pinning} is not LIBBPF_PIN_NONE or LIBBPF_PIN_BY_NAME`,
    );
  return {
    name,
    type,
    keySize: sized('key', keyType),
    valueSize: sized('value', valueType),
    maxEntries: ints.get('max_entries') ?? 0,
    mapFlags: ints.get('map_flags') ?? 0,
    numaNode: ints.get('numa_node') ?? 0,
    mapExtra: ints.get('map_extra') ?? 0,
    pinning,
    keyType,
    valueType,
    offset,
  };
}
