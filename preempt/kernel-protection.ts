/**
 * What the booted kernel keeps out of guest instructions' reach
 * (segments/page-protection.ts), as page protections and SMAP keep a BPF
 * program's stores out of kernel data on x86: a guest access there is a
 * page fault oops naming the structure, and the kernel's own code (helpers,
 * kfuncs, native tasks, the engine) keeps full access.
 *
 * Read-only to guests (a tracing program may read them through BTF):
 * the task structs with their saved contexts, the kernel's per-CPU
 * variables in each unit (run queue, `__preempt_count`, `current_task`,
 * ...), `__per_cpu_offset[]` and `jiffies`, `rcu_state`. No access: the
 * trace rings, `.text`, the per-CPU allocator's state and each chunk
 * slot's metadata page, the metadata of the kmalloc heap and of vmalloc
 * (and the parallel control block, protected where it is reserved).
 *
 * The boot order puts the task stacks and the kmalloc heap's pages side by
 * side between the metadata below and the kernel's regions above, so the
 * interpreter's fast path covers them whole (`setFastAnchor`).
 *
 * @example
 * protectKernelData(k, { taskStructs, stacks });
 * k.memory.protection.list().map((r) => r.name); // ['__preempt_count of CPU 0', ...]
 */

import type { Region } from '../segments/address-map.ts';
import { PROT_NONE, PROT_READ } from '../segments/page-protection.ts';
import type { Kernel } from './kernel.ts';
import { taskStruct } from './task.ts';

/** The per-CPU variables of kernel-vars.ts and per-cpu-areas.ts, by their names in messages. */
const KERNEL_PERCPU: readonly [symbol: string, name: string][] = [
  ['__preempt_count', '__preempt_count'],
  ['current_task', 'current_task'],
  ['__irq_flags', '__irq_flags'],
  ['this_cpu_off', 'this_cpu_off'],
  ['cpu_number', 'cpu_number'],
  ['__softirq_pending', '__softirq_pending'],
  ['runqueues', 'run queue'],
];

/** The kernel's globals in .data a guest may read but not write. */
const KERNEL_DATA = ['__per_cpu_offset', 'jiffies'];

export interface KernelRegions {
  readonly taskStructs: Region;
  readonly stacks: Region;
}

/** Protects the booted kernel's structures; called once at the end of boot. */
export function protectKernelData(k: Kernel, regions: KernelRegions): void {
  const prot = k.memory.protection;
  const region = (name: string) => k.map.regions().find((r) => r.name === name);
  for (let cpu = 0; cpu < k.nrCpus; cpu++) {
    for (const [symbol, name] of KERNEL_PERCPU) {
      const s = k.areas.symbol(symbol);
      prot.protect(k.areas.perCpuPtr(s.address, cpu), s.size, PROT_READ, `${name} of CPU ${cpu}`);
    }
  }
  for (const name of KERNEL_DATA) {
    const s = k.image.symbols.get(name);
    if (s !== undefined) prot.protect(s.address, s.size, PROT_READ, name);
  }
  const ts = regions.taskStructs;
  prot.protect(ts.start, ts.size, PROT_READ, 'task structs', (addr) => {
    const slot = ts.start + Math.floor((addr - ts.start) / taskStruct.size) * taskStruct.size;
    for (const t of k.tasks.values())
      if (t.addr === slot) return `task_struct of ${t.comm}/${t.pid}`;
    for (const c of k.cpus) if (c.idle.addr === slot) return `task_struct of ${c.idle.comm}`;
    return 'a free task_struct';
  });
  const rcu = region('rcu_state');
  if (rcu !== undefined) prot.protect(rcu.start, rcu.size, PROT_READ, 'rcu_state');
  if (k.tracer !== null) {
    k.tracer.rings.regions.forEach((r, cpu) => {
      prot.protect(r.start, r.size, PROT_NONE, `trace ring of CPU ${cpu}`);
    });
  }
  prot.protect(k.text.region.start, k.text.region.size, PROT_NONE, 'kernel text (.text)');
  const pcpu = region('percpu allocator');
  if (pcpu !== undefined) {
    prot.protect(pcpu.start, pcpu.size, PROT_NONE, 'percpu allocator metadata (pcpu_state)');
  }
  // Every chunk slot's tail past its units is the chunk's metadata (allocator.ts).
  const a = k.percpu;
  const units = a.nrUnits * a.unitSize;
  for (let slot = a.regionStart; slot + a.chunkBytes <= a.regionEnd; slot += a.chunkBytes) {
    prot.protect(slot + units, a.chunkBytes - units, PROT_NONE, 'percpu chunk metadata');
  }
  const heap = k.kheap;
  prot.protect(
    heap.stateAddr,
    heap.pagesStart - heap.stateAddr,
    PROT_NONE,
    'kmalloc heap metadata (kmem_caches, mem_map, obj_map)',
  );
  const vm = k.vmalloc;
  prot.protect(vm.state, vm.pagesStart - vm.state, PROT_NONE, 'vmalloc metadata');
  prot.setFastAnchor(regions.stacks.start);
}
