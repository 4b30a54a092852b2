/**
 * The Toeplitz hash of receive-side scaling (Microsoft's RSS specification,
 * what NICs compute in hardware): for each bit of the input, most
 * significant first, a set bit XORs in the leftmost 32 bits of the key, and
 * the key shifts left one bit. The key must have 4 bytes more than the
 * input, so a 40-byte key covers the 36 bytes of an IPv6 4-tuple.
 *
 * The 32-bit window of the key is kept in a number and refilled a byte at a
 * time: no BigInt, no allocation.
 *
 * @example
 * toeplitzHash(RSS_VERIFICATION_KEY, ipv4Input); // 0x51ccc178 for the first vector
 */

import { ErrnoError } from '../segments/errno.ts';

/** The key of Microsoft's RSS verification suite (also the default of many drivers' docs). */
export const RSS_VERIFICATION_KEY = Uint8Array.from(
  '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa'
    .match(/../g)!
    .map((h) => Number.parseInt(h, 16)),
);

/**
 * The Toeplitz hash of `input[0, length)` under `key`, as an unsigned 32-bit number.
 * EINVAL when the key has fewer than `length + 4` bytes.
 */
export function toeplitzHash(key: Uint8Array, input: Uint8Array, length = input.length): number {
  if (key.length < length + 4) {
    throw new ErrnoError(
      'EINVAL',
      `a ${key.length}-byte key hashes at most ${key.length - 4} bytes, not ${length}`,
    );
  }
  let result = 0;
  // window = key bits [8 * i, 8 * i + 32) at the start of input byte i.
  let window = ((key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]) >>> 0;
  for (let i = 0; i < length; i++) {
    const byte = input[i];
    const next = key[i + 4];
    for (let b = 7; b >= 0; b--) {
      if ((byte >>> b) & 1) result ^= window;
      window = ((window << 1) | ((next >>> b) & 1)) >>> 0;
    }
  }
  return result >>> 0;
}
