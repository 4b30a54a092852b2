/**
 * 64-bit arithmetic on registers stored as (lo, hi) Int32 pairs in a word
 * array. `d` is the word index of the destination's low half; the operand is
 * given as its two halves. The interpreter calls these for the operations
 * that do not fit in a couple of 32-bit instructions; V8 inlines them.
 * Rare wide cases (64-bit division) fall back to BigInt.
 */

const TWO32 = 0x1_0000_0000;

/** High 32 bits of the unsigned 64-bit product of two 32-bit words. */
export function mulhu(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const mid1 = a1 * b0 + ((a0 * b0) >>> 16);
  const mid2 = a0 * b1 + (mid1 & 0xffff);
  return (a1 * b1 + Math.floor(mid1 / 0x10000) + Math.floor(mid2 / 0x10000)) | 0;
}

export function mul64(R: Int32Array, d: number, bl: number, bh: number): void {
  const al = R[d];
  const ah = R[d + 1];
  R[d + 1] = (mulhu(al, bl) + Math.imul(al, bh) + Math.imul(ah, bl)) | 0;
  R[d] = Math.imul(al, bl);
}

export function lsh64(R: Int32Array, d: number, n: number): void {
  if (n === 0) return;
  if (n < 32) {
    R[d + 1] = (R[d + 1] << n) | (R[d] >>> (32 - n));
    R[d] = R[d] << n;
  } else {
    R[d + 1] = R[d] << (n - 32);
    R[d] = 0;
  }
}

export function rsh64(R: Int32Array, d: number, n: number): void {
  if (n === 0) return;
  if (n < 32) {
    R[d] = (R[d] >>> n) | (R[d + 1] << (32 - n));
    R[d + 1] = R[d + 1] >>> n;
  } else {
    R[d] = R[d + 1] >>> (n - 32);
    R[d + 1] = 0;
  }
}

export function arsh64(R: Int32Array, d: number, n: number): void {
  if (n === 0) return;
  if (n < 32) {
    R[d] = (R[d] >>> n) | (R[d + 1] << (32 - n));
    R[d + 1] = R[d + 1] >> n;
  } else {
    R[d] = R[d + 1] >> (n - 32);
    R[d + 1] = R[d + 1] >> 31;
  }
}

function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function setBig(R: Int32Array, d: number, v: bigint): void {
  R[d] = Number(BigInt.asIntN(32, v));
  R[d + 1] = Number(BigInt.asIntN(32, v >> 32n));
}

function setSigned53(R: Int32Array, d: number, v: number): void {
  const hi = Math.floor(v / TWO32);
  R[d] = (v - hi * TWO32) | 0;
  R[d + 1] = hi | 0;
}

/** Unsigned 64-bit division; division by zero gives 0 (RFC 9669). */
export function udiv64(R: Int32Array, d: number, bl: number, bh: number): void {
  const al = R[d];
  const ah = R[d + 1];
  if ((bl | bh) === 0) {
    R[d] = 0;
    R[d + 1] = 0;
  } else if ((ah | bh) === 0) {
    R[d] = Math.floor((al >>> 0) / (bl >>> 0)) | 0;
  } else {
    setBig(R, d, toBig(al, ah) / toBig(bl, bh));
  }
}

/** Unsigned 64-bit modulo; modulo by zero leaves the destination unchanged. */
export function umod64(R: Int32Array, d: number, bl: number, bh: number): void {
  const al = R[d];
  const ah = R[d + 1];
  if ((bl | bh) === 0) return;
  if ((ah | bh) === 0) {
    R[d] = ((al >>> 0) % (bl >>> 0)) | 0;
  } else {
    setBig(R, d, toBig(al, ah) % toBig(bl, bh));
  }
}

const fitsInt32 = (lo: number, hi: number) => hi === lo >> 31;

/** Signed 64-bit division (v4 sdiv): by zero gives 0, INT64_MIN / -1 gives INT64_MIN. */
export function sdiv64(R: Int32Array, d: number, bl: number, bh: number): void {
  const al = R[d];
  const ah = R[d + 1];
  if ((bl | bh) === 0) {
    R[d] = 0;
    R[d + 1] = 0;
  } else if (fitsInt32(al, ah) && fitsInt32(bl, bh)) {
    setSigned53(R, d, Math.trunc(al / bl));
  } else {
    const a = BigInt.asIntN(64, toBig(al, ah));
    const b = BigInt.asIntN(64, toBig(bl, bh));
    setBig(R, d, a / b);
  }
}

/** Signed 64-bit modulo (v4 smod): the result takes the dividend's sign; by zero leaves dst. */
export function smod64(R: Int32Array, d: number, bl: number, bh: number): void {
  const al = R[d];
  const ah = R[d + 1];
  if ((bl | bh) === 0) return;
  if (fitsInt32(al, ah) && fitsInt32(bl, bh)) {
    setSigned53(R, d, al % bl);
  } else {
    const a = BigInt.asIntN(64, toBig(al, ah));
    const b = BigInt.asIntN(64, toBig(bl, bh));
    setBig(R, d, a % b);
  }
}

export function bswap16(x: number): number {
  return ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
}

export function bswap32(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | ((x >>> 24) & 0xff);
}

/** Byte swap of the low `width` bits (16, 32 or 64), zero-extending the result. */
export function bswap(R: Int32Array, d: number, width: number): void {
  if (width === 16) {
    R[d] = bswap16(R[d]);
    R[d + 1] = 0;
  } else if (width === 32) {
    R[d] = bswap32(R[d]);
    R[d + 1] = 0;
  } else {
    const lo = R[d];
    R[d] = bswap32(R[d + 1]);
    R[d + 1] = bswap32(lo);
  }
}

/** BPF_TO_LE on a little-endian machine: truncate to `width` bits, zero-extend. */
export function toLe(R: Int32Array, d: number, width: number): void {
  if (width === 16) {
    R[d] &= 0xffff;
    R[d + 1] = 0;
  } else if (width === 32) {
    R[d + 1] = 0;
  }
}
