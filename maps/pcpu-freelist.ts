/**
 * The per-CPU free list of preallocated hash map elements
 * (kernel/bpf/percpu_freelist.c), in emulated memory:
 *
 *     struct pcpu_freelist_node { u32 next; };                 // inside each element
 *     struct pcpu_freelist_head { u32 first; struct raw_spinlock lock; };  // per CPU
 *
 * A push goes onto the pushing CPU's list; a pop takes from the popping
 * CPU's list and, when that is empty, steals from the next CPUs in turn
 * (wrapping round to its own). Each list is touched only under its own
 * lock; the caller's interrupts are its business (the kernel's callers run
 * with them off). The kernel's extra list serves pushes and pops from NMI
 * context, which this machine does not have, so it is left out.
 *
 * `populate` spreads the elements over the CPUs in runs of `nr / cpus + 1`,
 * CPU 0 first; it takes no lock (map creation, before anyone sees the map).
 * push and pop allocate nothing.
 *
 * @example
 * const fl = PcpuFreelist.init(m);
 * fl.populate(elems + HTAB_ELEM_OFF.pprev, elemSize, n);
 * const node = fl.pop(cpu); // 0 when every list is empty
 * fl.push(node, cpu);
 */

import { struct, u32 } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { PhysicalMemory } from '../segments/memory.ts';
import { RawSpinlock, rawSpinlockType } from '../segments/raw-spinlock.ts';

/** `struct pcpu_freelist_head`. */
export const pcpuFreelistHeadType = struct('pcpu_freelist_head', [
  ['first', u32],
  ['lock', rawSpinlockType],
]);
const PCPU_FREELIST_HEAD_OFF = pcpuFreelistHeadType.off;

/** What the free list needs of the kernel (a booted kernel, or any MapMemory, is one). */
export interface PcpuFreelistHost {
  readonly memory: PhysicalMemory;
  readonly nrCpus: number;
  readonly percpu: {
    alloc(size: number, align: number, opts?: { noWarn?: boolean }): number | null;
    free(ptr: number | null): void;
  };
  readonly areas: { readonly offsets: readonly number[] };
}

export class PcpuFreelist {
  private readonly w: Int32Array;
  private readonly heads: number[] = [];
  private readonly locks: RawSpinlock[] = [];
  private readonly nrCpus: number;

  /**
   * pcpu_freelist_init: alloc_percpu of the heads, each list empty. ENOMEM
   * when alloc_percpu fails.
   *
   * @example
   * const fl = PcpuFreelist.init(m);
   * m.memory.write32(htab + bpfHtabType.off.freelist, fl.pcpuPtr);
   */
  static init(host: PcpuFreelistHost): PcpuFreelist {
    const p = host.percpu.alloc(pcpuFreelistHeadType.size, pcpuFreelistHeadType.align, {
      noWarn: true,
    });
    if (p === null) {
      throw new ErrnoError(
        'ENOMEM',
        `alloc_percpu failed for the free lists of ${host.nrCpus} CPUs`,
      );
    }
    const fl = new PcpuFreelist(host, p);
    for (let cpu = 0; cpu < host.nrCpus; cpu++) {
      host.memory.write32(fl.heads[cpu] + PCPU_FREELIST_HEAD_OFF.first, 0);
      RawSpinlock.init(host.memory, fl.heads[cpu] + PCPU_FREELIST_HEAD_OFF.lock);
    }
    return fl;
  }

  /**
   * A handle on free lists already initialised at per-CPU pointer `pcpuPtr`.
   *
   * @example
   * const fl = PcpuFreelist.attach(m, m.memory.read32(htab + bpfHtabType.off.freelist));
   */
  static attach(host: PcpuFreelistHost, pcpuPtr: number): PcpuFreelist {
    return new PcpuFreelist(host, pcpuPtr);
  }

  private constructor(
    private readonly host: PcpuFreelistHost,
    /** The per-CPU pointer of the heads. */
    readonly pcpuPtr: number,
  ) {
    this.nrCpus = host.nrCpus;
    this.w = new Int32Array(host.memory.buffer);
    for (let cpu = 0; cpu < host.nrCpus; cpu++) {
      const head = pcpuPtr + host.areas.offsets[cpu];
      this.heads.push(head);
      this.locks.push(new RawSpinlock(host.memory, head + PCPU_FREELIST_HEAD_OFF.lock));
    }
  }

  /**
   * __pcpu_freelist_push: `node` onto CPU `cpu`'s list, under its lock.
   *
   * @example
   * fl.push(elem + HTAB_ELEM_OFF.pprev, cpu);
   */
  push(node: number, cpu: number): void {
    const head = this.heads[cpu];
    const lock = this.locks[cpu];
    lock.lock(cpu);
    this.w[node >> 2] = this.w[(head + PCPU_FREELIST_HEAD_OFF.first) >> 2];
    this.w[(head + PCPU_FREELIST_HEAD_OFF.first) >> 2] = node;
    lock.unlock(cpu);
  }

  /**
   * __pcpu_freelist_pop on CPU `cpu`: the first node of its list, else of
   * the next CPU's, and so on round; 0 when all are empty.
   *
   * @example
   * const node = fl.pop(cpu);
   * if (node === 0) return -ERRNO.E2BIG;
   */
  pop(cpu: number): number {
    let c = cpu;
    do {
      const first = (this.heads[c] + PCPU_FREELIST_HEAD_OFF.first) >> 2;
      const lock = this.locks[c];
      lock.lock(cpu);
      const node = this.w[first];
      if (node !== 0) {
        this.w[first] = this.w[node >> 2];
        lock.unlock(cpu);
        return node;
      }
      lock.unlock(cpu);
      c = c + 1 === this.nrCpus ? 0 : c + 1;
    } while (c !== cpu);
    return 0;
  }

  /**
   * pcpu_freelist_populate: the nodes `buf + i * elemSize` (i < nrElems)
   * pushed in runs of `nrElems / nrCpus + 1` per CPU, CPU 0 first. No lock.
   *
   * @example
   * fl.populate(elems + HTAB_ELEM_OFF.pprev, elemSize, maxEntries + nrCpus);
   */
  populate(buf: number, elemSize: number, nrElems: number): void {
    const perCpu = Math.floor(nrElems / this.nrCpus) + 1;
    let i = 0;
    let node = buf;
    for (let cpu = 0; cpu < this.nrCpus && i < nrElems; cpu++) {
      const first = (this.heads[cpu] + PCPU_FREELIST_HEAD_OFF.first) >> 2;
      do {
        this.w[node >> 2] = this.w[first];
        this.w[first] = node;
        i++;
        node += elemSize;
      } while (i < nrElems && i % perCpu !== 0);
    }
  }

  /**
   * The nodes on CPU `cpu`'s list, first to last (reports and tests; allocates).
   *
   * @example
   * fl.nodes(0).length; // free elements on CPU 0's list
   */
  nodes(cpu: number): number[] {
    const out: number[] = [];
    const limit = this.host.memory.size >> 2;
    for (
      let n = this.w[(this.heads[cpu] + PCPU_FREELIST_HEAD_OFF.first) >> 2];
      n !== 0;
      n = this.w[n >> 2]
    ) {
      if (out.length === limit) {
        throw new ErrnoError('EFAULT', `free list of CPU ${cpu} does not end`);
      }
      out.push(n);
    }
    return out;
  }

  /**
   * pcpu_freelist_destroy: frees the heads (the nodes are the map's).
   *
   * @example
   * fl.destroy();
   */
  destroy(): void {
    this.host.percpu.free(this.pcpuPtr);
  }
}
