/**
 * Setting the network stack up on a kernel: `netOf(k)` makes it on first
 * call and keeps it in the kernel's `ext.net` slot; the stack opens
 * NET_RX_SOFTIRQ and registers the XDP helpers (net-stack.ts), and here
 * the map types that need it, BPF_MAP_TYPE_CPUMAP, DEVMAP and DEVMAP_HASH,
 * are registered on the same kernel. Until then `bpfMapCreate(k, 'CPUMAP',
 * ...)` is EINVAL, saying so.
 *
 * @example
 * const net = netOf(k);                                   // the stack, set up once
 * const cpumap = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 4, k.nrCpus);
 */

import { BPF_MAP_TYPE } from '../maps/bpf-uapi.ts';
import { registerMapType } from '../maps/map-types.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { CpuMap } from './cpumap.ts';
import { DevMap } from './devmap.ts';
import { NetStack } from './net-stack.ts';

/** The network stack of `k`, set up on the first call. */
export function netOf(k: Kernel): NetStack {
  const have = k.ext.net;
  if (have !== undefined) return have;
  const net = new NetStack(k);
  k.ext.net = net;
  registerMapType(k, BPF_MAP_TYPE.CPUMAP, { allocCheck: CpuMap.allocCheck, create: CpuMap.create });
  const devmap = { allocCheck: DevMap.allocCheck, create: DevMap.create };
  registerMapType(k, BPF_MAP_TYPE.DEVMAP, devmap);
  registerMapType(k, BPF_MAP_TYPE.DEVMAP_HASH, devmap);
  return net;
}
