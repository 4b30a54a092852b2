/**
 * A small WebAssembly binary writer: just what the eBPF translator emits
 * (one module, one imported shared memory, imported functions, one exported
 * function). Our own rather than a library: the translator needs a byte
 * buffer, LEB128 and a dozen section layouts, about 150 lines, and writing
 * straight into a growing Uint8Array keeps compile time near 1 µs per eBPF
 * instruction (bench `cpu` prints it), where the npm assemblers build an
 * AST or text first (binaryen is a 10 MB WebAssembly download of its own).
 *
 * Opcodes are named by the spec's mnemonics (WebAssembly core spec 2.0,
 * section 5.4, and the threads proposal for the 0xfe prefix).
 *
 * @example
 * const code = new WasmCode();
 * code.op(Op.local_get).u32(0).op(Op.i32_const).s32(1).op(Op.i32_add);
 */

/** Value types (spec 5.3.1). */
export const I32 = 0x7f;
export const I64 = 0x7e;
/** The empty block type. */
export const VOID = 0x40;

/** The opcodes the translator uses. */
export const Op = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  br_table: 0x0e,
  return: 0x0f,
  call: 0x10,
  drop: 0x1a,
  select: 0x1b,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  i32_load: 0x28,
  i64_load: 0x29,
  i64_load8_s: 0x30,
  i64_load8_u: 0x31,
  i64_load16_s: 0x32,
  i64_load16_u: 0x33,
  i64_load32_s: 0x34,
  i64_load32_u: 0x35,
  i32_store: 0x36,
  i64_store: 0x37,
  i64_store8: 0x3c,
  i64_store16: 0x3d,
  i64_store32: 0x3e,
  i32_const: 0x41,
  i64_const: 0x42,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_s: 0x48,
  i32_lt_u: 0x49,
  i32_gt_s: 0x4a,
  i32_gt_u: 0x4b,
  i32_le_s: 0x4c,
  i32_le_u: 0x4d,
  i32_ge_s: 0x4e,
  i32_ge_u: 0x4f,
  i64_eqz: 0x50,
  i64_eq: 0x51,
  i64_ne: 0x52,
  i64_lt_s: 0x53,
  i64_lt_u: 0x54,
  i64_gt_s: 0x55,
  i64_gt_u: 0x56,
  i64_le_s: 0x57,
  i64_le_u: 0x58,
  i64_ge_s: 0x59,
  i64_ge_u: 0x5a,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_div_s: 0x6d,
  i32_div_u: 0x6e,
  i32_rem_s: 0x6f,
  i32_rem_u: 0x70,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_xor: 0x73,
  i32_shl: 0x74,
  i32_shr_s: 0x75,
  i32_shr_u: 0x76,
  i32_rotl: 0x77,
  i64_add: 0x7c,
  i64_sub: 0x7d,
  i64_mul: 0x7e,
  i64_div_s: 0x7f,
  i64_div_u: 0x80,
  i64_rem_s: 0x81,
  i64_rem_u: 0x82,
  i64_and: 0x83,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_s: 0x87,
  i64_shr_u: 0x88,
  i64_rotl: 0x89,
  i64_rotr: 0x8a,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_s: 0xac,
  i64_extend_i32_u: 0xad,
  i32_extend8_s: 0xc0,
  i32_extend16_s: 0xc1,
  i64_extend8_s: 0xc2,
  i64_extend16_s: 0xc3,
  i64_extend32_s: 0xc4,
  /** The threads proposal's prefix; the byte after it names the atomic. */
  atomic: 0xfe,
} as const;

/**
 * The 0xfe-prefixed read-modify-write opcodes (threads proposal), by
 * operation: each group of seven starts at the i32 form; the 64-bit access
 * `i64.atomic.rmw.op` is the group's second, the 32-bit one
 * `i64.atomic.rmw32.op_u` its seventh.
 */
const rmw = (group: number) => ({ w64: group + 1, w32: group + 6 });
export const ATOMIC_RMW = {
  add: rmw(0x1e),
  and: rmw(0x2c),
  or: rmw(0x33),
  xor: rmw(0x3a),
  xchg: rmw(0x41),
  cmpxchg: rmw(0x48),
} as const;

/** A growing byte buffer with the spec's integer encodings. */
export class WasmCode {
  bytes = new Uint8Array(256);
  length = 0;

  private grow(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }

  byte(b: number): this {
    this.grow(1);
    this.bytes[this.length++] = b;
    return this;
  }

  op(b: number): this {
    return this.byte(b);
  }

  /** Unsigned LEB128 of a 32-bit value. */
  u32(v: number): this {
    let x = v >>> 0;
    this.grow(5);
    do {
      let b = x & 0x7f;
      x >>>= 7;
      if (x !== 0) b |= 0x80;
      this.bytes[this.length++] = b;
    } while (x !== 0);
    return this;
  }

  /** Signed LEB128 of a 32-bit value. */
  s32(v: number): this {
    let x = v | 0;
    this.grow(5);
    for (;;) {
      const b = x & 0x7f;
      x >>= 7;
      if ((x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0)) {
        this.bytes[this.length++] = b;
        return this;
      }
      this.bytes[this.length++] = b | 0x80;
    }
  }

  /** Signed LEB128 of a 64-bit value given as (lo, hi) 32-bit words. */
  s64(lo: number, hi: number): this {
    if (hi === lo >> 31) return this.s32(lo);
    let l = lo >>> 0;
    let h = hi | 0;
    this.grow(10);
    for (;;) {
      const b = l & 0x7f;
      // Arithmetic shift of the 64-bit pair by 7.
      l = ((l >>> 7) | (h << 25)) >>> 0;
      h >>= 7;
      const done =
        (h === 0 && l === 0 && (b & 0x40) === 0) ||
        (h === -1 && l === 0xffff_ffff && (b & 0x40) !== 0);
      if (done) {
        this.bytes[this.length++] = b;
        return this;
      }
      this.bytes[this.length++] = b | 0x80;
    }
  }

  /** A memory immediate: alignment exponent and offset. */
  mem(align: number, offset = 0): this {
    return this.u32(align).u32(offset);
  }

  append(other: WasmCode): this {
    this.grow(other.length);
    this.bytes.set(other.bytes.subarray(0, other.length), this.length);
    this.length += other.length;
    return this;
  }

  name(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    this.u32(utf8.length);
    this.grow(utf8.length);
    this.bytes.set(utf8, this.length);
    this.length += utf8.length;
    return this;
  }

  /** The bytes written so far. */
  finish(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

/** A function type: parameter and result value types. */
export interface FuncType {
  params: readonly number[];
  results: readonly number[];
}

/** What one module holds, for `encodeModule`. */
export interface ModuleSpec {
  types: readonly FuncType[];
  /** Imported functions `module.name` of type index `type`. */
  funcImports: readonly { module: string; name: string; type: number }[];
  /** The imported memory: at least `min` and at most `max` 64 KiB pages. */
  memory: { module: string; name: string; min: number; max: number; shared: boolean };
  /** The module's own functions, exported by name. */
  funcs: readonly { name: string; type: number; locals: readonly number[]; body: WasmCode }[];
}

/** Encodes a module (spec 5.5): type, import, function, export and code sections. */
export function encodeModule(spec: ModuleSpec): Uint8Array {
  const out = new WasmCode();
  out.byte(0x00).byte(0x61).byte(0x73).byte(0x6d).byte(1).byte(0).byte(0).byte(0);
  const section = (id: number, body: WasmCode) => {
    out.byte(id).u32(body.length).append(body);
  };
  const types = new WasmCode().u32(spec.types.length);
  for (const t of spec.types) {
    types.byte(0x60).u32(t.params.length);
    for (const p of t.params) types.byte(p);
    types.u32(t.results.length);
    for (const r of t.results) types.byte(r);
  }
  section(1, types);
  const imports = new WasmCode().u32(spec.funcImports.length + 1);
  for (const f of spec.funcImports) imports.name(f.module).name(f.name).byte(0x00).u32(f.type);
  const m = spec.memory;
  imports
    .name(m.module)
    .name(m.name)
    .byte(0x02)
    .byte(m.shared ? 0x03 : 0x01)
    .u32(m.min)
    .u32(m.max);
  section(2, imports);
  const funcs = new WasmCode().u32(spec.funcs.length);
  for (const f of spec.funcs) funcs.u32(f.type);
  section(3, funcs);
  const exports = new WasmCode().u32(spec.funcs.length);
  spec.funcs.forEach((f, k) => {
    exports
      .name(f.name)
      .byte(0x00)
      .u32(spec.funcImports.length + k);
  });
  section(7, exports);
  const code = new WasmCode().u32(spec.funcs.length);
  for (const f of spec.funcs) {
    const body = new WasmCode();
    // Locals as runs of one type.
    const runs: [number, number][] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    body.u32(runs.length);
    for (const [count, t] of runs) body.u32(count).byte(t);
    body.append(f.body).byte(Op.end);
    code.u32(body.length).append(body);
  }
  section(10, code);
  return out.finish();
}
