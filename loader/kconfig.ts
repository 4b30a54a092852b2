/**
 * `__kconfig` externs: the values libbpf would read from the running
 * kernel's config (/proc/config.gz) and version, for this machine. A
 * tristate or bool `y` is 1. An extern this machine has no value for is an
 * error unless it is `__weak` (then 0, as libbpf does).
 *
 * @example
 * kconfigValue(k, 'CONFIG_NR_CPUS'); // 4n on a 4-CPU machine
 */

import type { Kernel } from '../preempt/kernel.ts';

/** KERNEL_VERSION(6, 1, 0): the kernel whose interfaces the machine follows. */
export const LINUX_KERNEL_VERSION = (6 << 16) | (1 << 8);

const VALUES: Record<string, (k: Kernel) => bigint> = {
  LINUX_KERNEL_VERSION: () => BigInt(LINUX_KERNEL_VERSION),
  CONFIG_NR_CPUS: (k) => BigInt(k.nrCpus),
  CONFIG_HZ: () => 1000n,
  CONFIG_SMP: () => 1n,
  CONFIG_PREEMPT: () => 1n,
  CONFIG_PREEMPT_RCU: () => 1n,
  CONFIG_DEBUG_PREEMPT: (k) => (k.opts.debugPreempt === 'off' ? 0n : 1n),
  CONFIG_BPF_SYSCALL: () => 1n,
  CONFIG_BPF_JIT: () => 0n,
};

/** The known names, for messages. */
export const KCONFIG_NAMES = Object.keys(VALUES);

/** The value of config `name` on `k`, or undefined when the machine has none. */
export function kconfigValue(k: Kernel, name: string): bigint | undefined {
  return VALUES[name]?.(k);
}
