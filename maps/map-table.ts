/**
 * The maps of the kernel's map table (preempt/bpf-map-table.ts) as map
 * types: by fd for the syscall side, by `struct bpf_map` address for the
 * helpers, checking that what a program passes is a map.
 *
 * @example
 * bpfMapOf(k, fd).describe;      // "BPF_MAP_TYPE_ARRAY 'counts'"
 * mapAt(k, addr, 'bpf_map_lookup_elem');
 */

import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import { BpfMap } from './bpf-map.ts';

/** The map behind `fd`, or EBADF. */
export function bpfMapOf(k: Kernel, fd: number): BpfMap {
  const map = k.maps.get(fd);
  if (!(map instanceof BpfMap)) throw new ErrnoError('EBADF', `fd ${fd} is not a map`);
  return map;
}

/**
 * The map whose `struct bpf_map` is at `addr`, for helper `helper`; throws
 * EINVAL (the task faults) for anything else, as the verifier would have
 * refused the program.
 */
export function mapAt(k: Kernel, addr: number, helper: string): BpfMap {
  if (k.memory.isMapped(addr, 32)) {
    const map = k.maps.byIdLookup(BpfMap.idAt(k.memory, addr));
    if (map instanceof BpfMap && map.addr === addr) return map;
  }
  throw new ErrnoError('EINVAL', `${helper}: 0x${addr.toString(16)} is not a map`);
}
