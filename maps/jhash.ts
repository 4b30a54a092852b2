/**
 * The kernel's jhash (include/linux/jhash.h, Bob Jenkins' lookup3): the hash
 * of the hash maps' keys. `jhash` hashes bytes, `jhash2` 32-bit words; on a
 * little-endian machine `jhash2(k, n, s) === jhash(k, 4 * n, s)`, and the hash
 * map uses jhash2 for key sizes that are a multiple of 4, as htab_map_hash
 * does. Both read from a byte array at an offset (emulated memory for a
 * program's key, a userspace buffer for a syscall's) and allocate nothing.
 *
 * @example
 * const key = new TextEncoder().encode('Four score and seven years ago');
 * jhash(key, 0, key.length, 0); // 0x17770551, lookup3's own test vector
 */

/** JHASH_INITVAL: an arbitrary initial value. */
export const JHASH_INITVAL = 0xdeadbeef;

const rol32 = (w: number, s: number): number => (w << s) | (w >>> (32 - s));

const le32 = (b: Uint8Array, at: number): number =>
  b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);

// __jhash_mix and __jhash_final work on three words; module-level state keeps
// them allocation-free (the hash runs whole, never re-entered).
let a = 0;
let b = 0;
let c = 0;

function mix(): void {
  a = (a - c) | 0;
  a ^= rol32(c, 4);
  c = (c + b) | 0;
  b = (b - a) | 0;
  b ^= rol32(a, 6);
  a = (a + c) | 0;
  c = (c - b) | 0;
  c ^= rol32(b, 8);
  b = (b + a) | 0;
  a = (a - c) | 0;
  a ^= rol32(c, 16);
  c = (c + b) | 0;
  b = (b - a) | 0;
  b ^= rol32(a, 19);
  a = (a + c) | 0;
  c = (c - b) | 0;
  c ^= rol32(b, 4);
  b = (b + a) | 0;
}

function final(): void {
  c ^= b;
  c = (c - rol32(b, 14)) | 0;
  a ^= c;
  a = (a - rol32(c, 11)) | 0;
  b ^= a;
  b = (b - rol32(a, 25)) | 0;
  c ^= b;
  c = (c - rol32(b, 16)) | 0;
  a ^= c;
  a = (a - rol32(c, 4)) | 0;
  b ^= a;
  b = (b - rol32(a, 14)) | 0;
  c ^= b;
  c = (c - rol32(b, 24)) | 0;
}

/**
 * jhash(key, length, initval): the hash of `length` bytes of `bytes` from `at`.
 *
 * @example
 * jhash(new Uint8Array(0), 0, 0, 0); // 0xdeadbeef
 */
export function jhash(bytes: Uint8Array, at: number, length: number, initval: number): number {
  a = b = c = (JHASH_INITVAL + length + initval) | 0;
  let k = at;
  let n = length;
  while (n > 12) {
    a = (a + le32(bytes, k)) | 0;
    b = (b + le32(bytes, k + 4)) | 0;
    c = (c + le32(bytes, k + 8)) | 0;
    mix();
    n -= 12;
    k += 12;
  }
  if (n === 0) return c >>> 0;
  // The kernel's fall-through switch over the last 1..12 bytes.
  if (n >= 12) c = (c + (bytes[k + 11] << 24)) | 0;
  if (n >= 11) c = (c + (bytes[k + 10] << 16)) | 0;
  if (n >= 10) c = (c + (bytes[k + 9] << 8)) | 0;
  if (n >= 9) c = (c + bytes[k + 8]) | 0;
  if (n >= 8) b = (b + (bytes[k + 7] << 24)) | 0;
  if (n >= 7) b = (b + (bytes[k + 6] << 16)) | 0;
  if (n >= 6) b = (b + (bytes[k + 5] << 8)) | 0;
  if (n >= 5) b = (b + bytes[k + 4]) | 0;
  if (n >= 4) a = (a + (bytes[k + 3] << 24)) | 0;
  if (n >= 3) a = (a + (bytes[k + 2] << 16)) | 0;
  if (n >= 2) a = (a + (bytes[k + 1] << 8)) | 0;
  a = (a + bytes[k]) | 0;
  final();
  return c >>> 0;
}

/**
 * jhash2(k, length, initval): the hash of `words` little-endian u32 words of
 * `bytes` from `at` (no alignment needed).
 *
 * @example
 * jhash2(u8, keyAddr, keySize / 4, hashrnd);
 */
export function jhash2(bytes: Uint8Array, at: number, words: number, initval: number): number {
  a = b = c = (JHASH_INITVAL + (words << 2) + initval) | 0;
  let k = at;
  let n = words;
  while (n > 3) {
    a = (a + le32(bytes, k)) | 0;
    b = (b + le32(bytes, k + 4)) | 0;
    c = (c + le32(bytes, k + 8)) | 0;
    mix();
    n -= 3;
    k += 12;
  }
  if (n === 0) return c >>> 0;
  if (n === 3) c = (c + le32(bytes, k + 8)) | 0;
  if (n >= 2) b = (b + le32(bytes, k + 4)) | 0;
  a = (a + le32(bytes, k)) | 0;
  final();
  return c >>> 0;
}

/**
 * htab_map_hash: jhash2 for key sizes that are a multiple of 4, jhash otherwise.
 *
 * @example
 * htabMapHash(key, 0, 8, 0) === jhash2(key, 0, 2, 0);
 */
export function htabMapHash(bytes: Uint8Array, at: number, keySize: number, seed: number): number {
  return (keySize & 3) === 0
    ? jhash2(bytes, at, keySize >>> 2, seed)
    : jhash(bytes, at, keySize, seed);
}
