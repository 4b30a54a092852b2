/**
 * Our BTF printed the way `bpftool btf dump file X.o` (format raw) prints
 * it, so the two can be compared line for line.
 */

import { BTF_KIND, type Btf, type BtfType } from '../../loader/btf.ts';

const name = (t: { name: string }) => `'${t.name === '' ? '(anon)' : t.name}'`;
const LINKAGE = ['static', 'global', 'extern'];

function header(t: BtfType): string {
  const kind = Object.entries(BTF_KIND).find(([, v]) => v === t.kind)![0];
  const head = `[${t.id}] ${kind} ${name(t)}`;
  switch (t.kind) {
    case BTF_KIND.INT: {
      const enc = (t.extra >>> 24) & 0xf;
      const encoding = enc & 1 ? 'SIGNED' : enc & 2 ? 'CHAR' : enc & 4 ? 'BOOL' : '(none)';
      return `${head} size=${t.sizeOrType} bits_offset=${(t.extra >>> 16) & 0xff} nr_bits=${t.extra & 0xff} encoding=${encoding}`;
    }
    case BTF_KIND.PTR:
    case BTF_KIND.TYPEDEF:
    case BTF_KIND.VOLATILE:
    case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT:
    case BTF_KIND.TYPE_TAG:
      return `${head} type_id=${t.sizeOrType}`;
    case BTF_KIND.ARRAY:
      return `${head} type_id=${t.array!.type} index_type_id=${t.array!.indexType} nr_elems=${t.array!.nelems}`;
    case BTF_KIND.STRUCT:
    case BTF_KIND.UNION:
    case BTF_KIND.DATASEC:
      return `${head} size=${t.sizeOrType} vlen=${t.vlen}`;
    case BTF_KIND.FUNC:
      return `${head} type_id=${t.sizeOrType} linkage=${LINKAGE[t.vlen]}`;
    case BTF_KIND.FUNC_PROTO:
      return `${head} ret_type_id=${t.sizeOrType} vlen=${t.vlen}`;
    case BTF_KIND.VAR:
      return `${head} type_id=${t.sizeOrType}, linkage=${LINKAGE[t.extra]}`;
    case BTF_KIND.DECL_TAG:
      return `${head} type_id=${t.sizeOrType} component_idx=${t.extra | 0}`;
    default:
      return head;
  }
}

export function btfRawDump(btf: Btf): string[] {
  const out: string[] = [];
  for (const t of btf.types.slice(1)) {
    out.push(header(t));
    for (const m of t.members) {
      if (t.kind === BTF_KIND.STRUCT || t.kind === BTF_KIND.UNION)
        out.push(
          `\t${name(m)} type_id=${m.type} bits_offset=${m.offset}${t.kindFlag && m.size ? ` bitfield_size=${m.size}` : ''}`,
        );
      else if (t.kind === BTF_KIND.FUNC_PROTO) out.push(`\t${name(m)} type_id=${m.type}`);
      else if (t.kind === BTF_KIND.DATASEC) {
        const v = btf.type(m.type);
        const kind = v.kind === BTF_KIND.VAR ? 'VAR' : 'FUNC';
        out.push(`\ttype_id=${m.type} offset=${m.offset} size=${m.size} (${kind} ${name(v)})`);
      }
    }
  }
  return out;
}
