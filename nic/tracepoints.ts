/**
 * The xdp tracepoints in the kernel's TP_printk formats
 * (include/trace/events/xdp.h), emitted on the CPU where they fire. When
 * tracing is off (the machine's `trace: false`) they cost one test.
 *
 * @example
 * traceXdpException(k, c, progId, XDP_ABORTED, dev.ifindex);
 * // xdp_exception: prog_id=3 action=ABORTED ifindex=1
 */

import type { CpuState } from '../preempt/cpu-state.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { XDP_ACTION_NAMES } from './xdp-uapi.ts';

/** `__print_symbolic(act, __XDP_ACT_SYM_TAB)`: the name, or the number for an unknown action. */
export function actionName(act: number): string {
  return XDP_ACTION_NAMES[act] ?? `0x${(act >>> 0).toString(16)}`;
}

export function traceXdpException(
  k: Kernel,
  c: CpuState,
  progId: number,
  act: number,
  ifindex: number,
): void {
  if (k.tracer === null) return;
  k.trace(c, {
    type: 'xdp_exception',
    text: `prog_id=${progId} action=${actionName(act)} ifindex=${ifindex}`,
  });
}

/** xdp_redirect or xdp_redirect_err (err != 0). */
export function traceXdpRedirect(
  k: Kernel,
  c: CpuState,
  progId: number,
  ifindex: number,
  toIfindex: number,
  err: number,
  mapId: number,
  mapIndex: number,
): void {
  if (k.tracer === null) return;
  k.trace(c, {
    type: err === 0 ? 'xdp_redirect' : 'xdp_redirect_err',
    text:
      `prog_id=${progId} action=REDIRECT ifindex=${ifindex} to_ifindex=${toIfindex}` +
      ` err=${err} map_id=${mapId} map_index=${mapIndex}`,
  });
}

/** xdp_cpumap_enqueue: a bulk queue of CPU `c` flushed into the ring of `toCpu`'s entry. */
export function traceCpumapEnqueue(
  k: Kernel,
  c: CpuState,
  mapId: number,
  processed: number,
  drops: number,
  toCpu: number,
): void {
  if (k.tracer === null) return;
  k.trace(c, {
    type: 'xdp_cpumap_enqueue',
    text: `enqueue cpu=${c.id} map_id=${mapId} action=REDIRECT processed=${processed} drops=${drops} to_cpu=${toCpu}`,
  });
}

/** The per-iteration counts of a cpumap kthread (struct xdp_cpumap_stats plus the loop's). */
export interface CpumapKthreadStats {
  processed: number;
  drops: number;
  sched: number;
  pass: number;
  drop: number;
  redirect: number;
}

export function traceCpumapKthread(
  k: Kernel,
  c: CpuState,
  mapId: number,
  s: CpumapKthreadStats,
): void {
  if (k.tracer === null) return;
  k.trace(c, {
    type: 'xdp_cpumap_kthread',
    text:
      `kthread cpu=${c.id} map_id=${mapId} action=REDIRECT processed=${s.processed} drops=${s.drops}` +
      ` sched=${s.sched} xdp_pass=${s.pass} xdp_drop=${s.drop} xdp_redirect=${s.redirect}`,
  });
}

/** xdp_devmap_xmit: a devmap bulk queue sent through the target's ndo_xdp_xmit. */
export function traceDevmapXmit(
  k: Kernel,
  c: CpuState,
  fromIfindex: number,
  toIfindex: number,
  sent: number,
  drops: number,
  err: number,
): void {
  if (k.tracer === null) return;
  k.trace(c, {
    type: 'xdp_devmap_xmit',
    text: `ndo_xdp_xmit from_ifindex=${fromIfindex} to_ifindex=${toIfindex} action=REDIRECT sent=${sent} drops=${drops} err=${err}`,
  });
}
