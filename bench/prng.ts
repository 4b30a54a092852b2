/**
 * A small deterministic PRNG (mulberry32) for benchmarks, so that the
 * measured code and its baseline see the same sequence.
 *
 * @example
 * const next = prng(1);
 * next(); // a number in [0, 1)
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
