/**
 * The few members of the WebAssembly JS API this package uses, typed here:
 * the package builds without the DOM lib, which is where TypeScript declares
 * them. `wasm` is the runtime's own `WebAssembly` object.
 *
 * @example
 * const memory = new wasm.Memory({ initial: 1, maximum: 1, shared: true });
 */

/** A shared WebAssembly memory: its buffer is a SharedArrayBuffer. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

/** A compiled module. */
export type WasmModule = object;

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => WasmInstance;
}

export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
