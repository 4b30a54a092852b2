/**
 * The batch operations that walk a map key by key (kernel/bpf/syscall.c
 * generic_map_lookup_batch, generic_map_update_batch,
 * generic_map_delete_batch). A batch result is what the syscall leaves
 * behind: how many elements were done, and the error that stopped it (ENOENT
 * when a lookup batch reached the end), as libbpf's return value and count.
 *
 * @example
 * const r = genericLookupBatch(map, { inBatch: null, keys, values, count: 64 });
 * r.count; r.error?.errno; // 'ENOENT' once the walk is over
 */

import { ErrnoError } from '../segments/errno.ts';
import type { BatchArgs, BatchResult } from './batch.ts';
import type { BpfMap } from './bpf-map.ts';

export type { BatchArgs, BatchResult } from './batch.ts';

/** Keeps only ErrnoErrors; anything else is an emulator bug and goes on up. */
function asErrno(e: unknown): ErrnoError {
  if (e instanceof ErrnoError) return e;
  throw e;
}

/** generic_map_lookup_batch: get_next_key then lookup, up to `count` elements. */
export function genericLookupBatch(map: BpfMap, args: BatchArgs): BatchResult {
  const ks = map.keySize;
  const vs = map.valueSizeUser;
  let prev: Uint8Array | null = args.inBatch ?? null;
  let cp = 0;
  let error: ErrnoError | undefined;
  while (cp < args.count) {
    const key = args.keys.subarray(cp * ks, (cp + 1) * ks);
    try {
      map.sysGetNextKey(prev, key);
      map.sysLookup(key, args.values!.subarray(cp * vs, (cp + 1) * vs), args.elemFlags ?? 0);
    } catch (e) {
      error = asErrno(e);
      break;
    }
    prev = key;
    cp++;
  }
  return { count: cp, outBatch: cp > 0 && prev !== null ? prev.slice() : undefined, error };
}

/** generic_map_update_batch: one update per element, stopping at the first error. */
export function genericUpdateBatch(
  map: BpfMap,
  args: BatchArgs,
  update: (key: Uint8Array, value: Uint8Array, flags: number) => void,
): BatchResult {
  const ks = map.keySize;
  const vs = map.valueSizeUser;
  for (let cp = 0; cp < args.count; cp++) {
    try {
      update(
        args.keys.subarray(cp * ks, (cp + 1) * ks),
        args.values!.subarray(cp * vs, (cp + 1) * vs),
        args.elemFlags ?? 0,
      );
    } catch (e) {
      return { count: cp, error: asErrno(e) };
    }
  }
  return { count: args.count };
}

/** generic_map_delete_batch: one delete per key, stopping at the first error. */
export function genericDeleteBatch(
  map: BpfMap,
  args: BatchArgs,
  del: (key: Uint8Array) => void,
): BatchResult {
  const ks = map.keySize;
  for (let cp = 0; cp < args.count; cp++) {
    try {
      del(args.keys.subarray(cp * ks, (cp + 1) * ks));
    } catch (e) {
      return { count: cp, error: asErrno(e) };
    }
  }
  return { count: args.count };
}
