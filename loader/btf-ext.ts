/**
 * `.BTF.ext`: per program section, the BTF id of each function
 * (func_info), the source line of instructions (line_info) and the CO-RE
 * relocations. Offsets in the file are byte offsets into the section
 * (`insn_off`); they are kept as instruction indexes here.
 *
 * Layout: a header (magic 0xeb9f, version, flags, hdr_len, then offset and
 * length of func_info, line_info and, when hdr_len >= 32, core_relo, all
 * relative to the end of the header); each part starts with its record size
 * and holds, per section, `{sec_name_off, num_info}` and that many records.
 *
 * @example
 * const ext = parseBtfExt(elf.section('.BTF.ext')!.data, btf);
 * ext.lineInfo.get('syscall')?.[0]; // { insn: 0, file: '.../counter.bpf.c', line: 37, ... }
 */

import { ErrnoError } from '../segments/errno.ts';
import { type Btf, btfHeader } from './btf.ts';

export interface FuncInfo {
  readonly insn: number;
  readonly typeId: number;
}

export interface LineInfo {
  readonly insn: number;
  readonly file: string;
  /** The source line's text. */
  readonly text: string;
  readonly line: number;
  readonly col: number;
}

/** enum bpf_core_relo_kind. */
export const BPF_CORE = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;

const CORE_NAMES = Object.fromEntries(Object.entries(BPF_CORE).map(([k, v]) => [v, k]));

/** `BPF_CORE_TYPE_ID_LOCAL` for 6. */
export function coreKindName(kind: number): string {
  return `BPF_CORE_${CORE_NAMES[kind] ?? `kind ${kind}`}`;
}

export interface CoreRelo {
  readonly insn: number;
  readonly typeId: number;
  readonly access: string;
  readonly kind: number;
}

export interface BtfExt {
  readonly funcInfo: ReadonlyMap<string, readonly FuncInfo[]>;
  readonly lineInfo: ReadonlyMap<string, readonly LineInfo[]>;
  readonly coreRelos: ReadonlyMap<string, readonly CoreRelo[]>;
}

/** Parses `.BTF.ext` against its `.BTF` (for strings). EINVAL names the part and offset. */
export function parseBtfExt(data: Uint8Array, btf: Btf): BtfExt {
  const view = btfHeader(data, '.BTF.ext');
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < 24) throw new ErrnoError('EINVAL', `.BTF.ext header length ${hdrLen} is under 24`);
  const part = <T>(at: number, name: string, minRec: number, read: (o: number) => T) => {
    const off = view.getUint32(at, true);
    const len = view.getUint32(at + 4, true);
    return readPart(view, hdrLen + off, len, btf, `.BTF.ext ${name}`, minRec, read);
  };
  const u32 = (o: number) => view.getUint32(o, true);
  const funcInfo = part(8, 'func_info', 8, (o) => ({ insn: u32(o) / 8, typeId: u32(o + 4) }));
  const lineInfo = part(16, 'line_info', 16, (o) => ({
    insn: u32(o) / 8,
    file: btf.str(u32(o + 4)),
    text: btf.str(u32(o + 8)).trim(),
    line: u32(o + 12) >>> 10,
    col: u32(o + 12) & 0x3ff,
  }));
  const coreRelos =
    hdrLen >= 32
      ? part(24, 'core_relo', 16, (o) => ({
          insn: u32(o) / 8,
          typeId: u32(o + 4),
          access: btf.str(u32(o + 8)),
          kind: u32(o + 12),
        }))
      : new Map<string, CoreRelo[]>();
  return { funcInfo, lineInfo, coreRelos };
}

function readPart<T>(
  view: DataView,
  start: number,
  len: number,
  btf: Btf,
  what: string,
  minRec: number,
  read: (o: number) => T,
): Map<string, T[]> {
  const out = new Map<string, T[]>();
  if (len === 0) return out;
  const end = start + len;
  if (end > view.byteLength)
    throw new ErrnoError(
      'EINVAL',
      `${what} (offset ${start}, ${len} bytes) runs past the section's ${view.byteLength} bytes`,
    );
  if (len < 4) throw new ErrnoError('EINVAL', `${what} is ${len} bytes: no record size`);
  const recSize = view.getUint32(start, true);
  if (recSize < minRec || recSize % 4 !== 0)
    throw new ErrnoError(
      'EINVAL',
      `${what} record size ${recSize} is not a multiple of 4 of at least ${minRec}`,
    );
  for (let at = start + 4; at < end; ) {
    if (at + 8 > end)
      throw new ErrnoError('EINVAL', `${what}: section header at offset ${at} is truncated`);
    const sec = btf.str(view.getUint32(at, true));
    const n = view.getUint32(at + 4, true);
    at += 8;
    if (at + n * recSize > end)
      throw new ErrnoError(
        'EINVAL',
        `${what} of '${sec}': ${n} records at offset ${at} run past the part`,
      );
    const records = out.get(sec) ?? [];
    for (let k = 0; k < n; k++, at += recSize) records.push(read(at));
    out.set(sec, records);
  }
  return out;
}
