/** Byte helpers the map tests share: keys and values as the kernel lays them out. */

/** A little-endian u32. */
export function u32b(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

/** A little-endian u64. */
export function u64b(v: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
}

/** Reads a little-endian u32 at byte `at`. */
export const readU32 = (b: Uint8Array, at = 0) =>
  new DataView(b.buffer, b.byteOffset).getUint32(at, true);

/** Reads a little-endian u64 at byte `at`, as a number (tests stay below 2^53). */
export const readU64 = (b: Uint8Array, at = 0) =>
  Number(new DataView(b.buffer, b.byteOffset).getBigUint64(at, true));

/** A per-CPU value of u64s, one per CPU at an 8-byte stride, from `f(cpu)`. */
export function percpuU64(nrCpus: number, f: (cpu: number) => number): Uint8Array {
  const b = new Uint8Array(8 * nrCpus);
  const v = new DataView(b.buffer);
  for (let cpu = 0; cpu < nrCpus; cpu++) v.setBigUint64(8 * cpu, BigInt(f(cpu)), true);
  return b;
}

/** Each CPU's u64 of a per-CPU value at an 8-byte stride. */
export function perCpuU64s(b: Uint8Array, nrCpus: number): number[] {
  return Array.from({ length: nrCpus }, (_, cpu) => readU64(b, 8 * cpu));
}
