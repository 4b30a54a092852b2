/**
 * What the redirect machinery asks of a map that bpf_redirect_map takes
 * (CPUMAP, DEVMAP, DEVMAP_HASH): the target of a key, and a way to hand it
 * a frame. A target queues frames in per-CPU bulk queues that sit on the
 * CPU's flush list until `xdp_do_flush` at the end of the poll.
 *
 * @example
 * const target = map.redirectLookup(key); // null: bpf_redirect_map returns the fallback
 */

import type { CpuState } from '../preempt/cpu-state.ts';
import type { NetDevice } from './net-device.ts';

export interface RedirectTarget {
  /** to_ifindex as xdp_redirect prints it (the device for devmaps, 0 for cpumap). */
  readonly toIfindex: number;
  /**
   * cpu_map_enqueue / dev_map_enqueue: queues the xdp_frame at `frame`
   * (received on `dev`) from CPU `c`; 0, or a negative errno (the frame is
   * then the caller's to free).
   */
  enqueue(c: CpuState, frame: number, dev: NetDevice): number;
}

export interface RedirectMap {
  readonly id: number;
  readonly type: number;
  /** The flag bits bpf_redirect_map accepts beyond the fallback action (BPF_F_BROADCAST ...). */
  readonly redirectFlagMask: number;
  /** __cpu_map_lookup_elem / __dev_map_lookup_elem: the entry of `key`, or null. */
  redirectLookup(key: number): RedirectTarget | null;
  /** Frames held anywhere inside (bulk queues, rings): 0 once everything is delivered. */
  framesInFlight(): number;
}

/** A bulk queue on a CPU's flush list. */
export interface FlushQueue {
  /** Sends the queue's frames on (ring, device) and wakes what consumes them. */
  flush(c: CpuState): void;
}

/** True for maps bpf_redirect_map accepts. */
export function isRedirectMap(map: object): map is RedirectMap {
  return 'redirectLookup' in map && typeof (map as RedirectMap).redirectLookup === 'function';
}
