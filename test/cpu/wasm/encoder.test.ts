/**
 * The WebAssembly writer: LEB128 encodings against the spec's examples, and
 * a module it writes validates and runs.
 */

import { describe, expect, it } from 'vitest';
import { encodeModule, I32, I64, Op, WasmCode } from '../../../cpu/wasm/encoder.ts';

const bytes = (f: (w: WasmCode) => void) => {
  const w = new WasmCode();
  f(w);
  return Array.from(w.finish());
};

describe('WasmCode', () => {
  it('writes unsigned and signed LEB128 as the spec does', () => {
    expect(bytes((w) => w.u32(624485))).toEqual([0xe5, 0x8e, 0x26]);
    expect(bytes((w) => w.u32(0xffff_ffff))).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(bytes((w) => w.s32(-123456))).toEqual([0xc0, 0xbb, 0x78]);
    expect(bytes((w) => w.s32(63))).toEqual([0x3f]);
    expect(bytes((w) => w.s32(64))).toEqual([0xc0, 0x00]);
    expect(bytes((w) => w.s32(-64))).toEqual([0x40]);
    expect(bytes((w) => w.s64(0, 1))).toEqual([0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(bytes((w) => w.s64(-1, 0))).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(bytes((w) => w.s64(0, 0x8000_0000 | 0))).toEqual([
      0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f,
    ]);
  });

  it('grows past its first buffer', () => {
    const w = new WasmCode();
    for (let k = 0; k < 10_000; k++) w.byte(k & 0xff);
    expect(w.finish().length).toBe(10_000);
    expect(w.finish()[9999]).toBe(9999 & 0xff);
  });
});

describe('encodeModule', () => {
  it('writes a module that validates, imports a shared memory and a function, and runs', () => {
    const body = new WasmCode();
    // (a, b) => helper(a) + i64 load at b
    body.op(Op.local_get).u32(0).op(Op.call).u32(0);
    body.op(Op.local_get).u32(1).op(Op.i64_load).mem(3, 0).op(Op.i32_wrap_i64).op(Op.i32_add);
    const bin = encodeModule({
      types: [
        { params: [I32], results: [I32] },
        { params: [I32, I32], results: [I32] },
      ],
      funcImports: [{ module: 'env', name: 'helper', type: 0 }],
      memory: { module: 'env', name: 'memory', min: 1, max: 4, shared: true },
      funcs: [{ name: 'f', type: 1, locals: [I64], body }],
    });
    expect(WebAssembly.validate(bin as Uint8Array<ArrayBuffer>)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    new DataView(memory.buffer).setInt32(16, 1000, true);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bin as Uint8Array<ArrayBuffer>), {
      env: { memory, helper: (x: number) => x * 2 },
    });
    expect((inst.exports.f as (a: number, b: number) => number)(21, 16)).toBe(1042);
  });
});
