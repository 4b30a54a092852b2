/**
 * The arguments and result of the batch commands (BPF_MAP_*_BATCH), shared
 * by the map types' own batches and the generic key-by-key ones
 * (generic-batch.ts). A result is what the syscall leaves behind: how many
 * elements were done, and the error that stopped it, as libbpf's return
 * value and count.
 *
 * @example
 * const r: BatchResult = h.lookupBatch({ inBatch: null, keys, values, count: 64 });
 */

import type { ErrnoError } from '../segments/errno.ts';

/** Arguments of the batch commands; keys and values are packed arrays of `count` entries. */
export interface BatchArgs {
  /** Where a lookup batch resumes (the previous call's outBatch); null to start. */
  inBatch?: Uint8Array | null;
  keys: Uint8Array;
  /** Values in the userspace layout (per-CPU values: all CPUs of an element together). */
  values?: Uint8Array;
  count: number;
  /** Flags applied to each element (BPF_F_LOCK, and the update flags). */
  elemFlags?: number;
  /** Flags of the command itself; must be 0. */
  flags?: number;
}

export interface BatchResult {
  /** Elements done. */
  count: number;
  /** Where to resume a lookup batch. */
  outBatch?: Uint8Array;
  /** What stopped the batch, if anything (ENOENT: a lookup batch reached the end). */
  error?: ErrnoError;
}
