/**
 * BPF_MAP_TYPE_CPUMAP (kernel/bpf/cpumap.c): XDP_REDIRECT to another CPU.
 * Each entry (key = the target CPU) owns a ptr_ring of `qsize` xdp_frame
 * pointers, a per-CPU bulk queue of 8 frames per source CPU, an optional
 * second XDP program (SEC("xdp/cpumap"), BPF_XDP_CPUMAP) and a kthread
 * `cpumap/<cpu>/map:<id>` bound to the target CPU that turns frames into
 * skbs there.
 *
 *   driver poll (CPU s)                        kthread (CPU t)
 *   bpf_redirect_map -> xdp_do_redirect        loop while !stop || ring not empty:
 *     bq_enqueue: bulkq[s] (8) ----flush---->    ring empty: sleep (TASK_INTERRUPTIBLE)
 *       full: flush without wake                 else cond_resched()
 *   end of poll: xdp_do_flush                    take up to 8, local_bh_disable
 *     bq_flush_to_queue: ring full = drop        cpumap program: PASS / DROP / REDIRECT
 *     wake_up_process(kthread)                   build skbs, xdp_cpumap_kthread
 *                                                netif_receive_skb, local_bh_enable
 *
 * Userspace ops follow cpu_map_update_elem & co. in the kernel's order of
 * checks (see `sysUpdate`); programs may only pass the map to
 * bpf_redirect_map. Replacing or deleting an entry swaps the slot at once;
 * after an RCU grace period the old kthread is told to stop, drains its
 * ring normally, and frees the entry as it exits. Old and new kthreads may
 * run side by side meanwhile.
 *
 * What is counted where (xdp-bench reads the same through tracepoints):
 * enqueue drops (ring full) per (source, target) CPU; per kthread CPU the
 * frames processed, skb allocation drops, sleeps (`sched`), and the cpumap
 * program's pass/drop/redirect. The driver never sees enqueue drops.
 *
 * Context: sysUpdate/sysDelete from userspace (host code); bq_enqueue and
 * flush in softirq on the source CPU; the kthread on the target CPU.
 *
 * @example
 * const cpumap = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 4, k.nrCpus);
 * cpumap.updateElem(u32(2), u32(2048));  // CPU 2, qsize 2048: a kthread starts there
 */

import { CpuContext } from '../cpu/context.ts';
import { StopReason } from '../cpu/cpu.ts';
import type { LoadedProgram } from '../cpu/program.ts';
import { BpfMap, type BpfMapAttr, bpfMapHeader } from '../maps/bpf-map.ts';
import { BPF_EXIST, BPF_F_NUMA_NODE, BPF_MAP_TYPE, BPF_NOEXIST } from '../maps/bpf-uapi.ts';
import { NR_CPUS } from '../percpu/first-chunk.ts';
import type { CpuState } from '../preempt/cpu-state.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { wakeUpProcess } from '../preempt/scheduler.ts';
import { TASK_INTERRUPTIBLE, TASK_RUNNING, type Task } from '../preempt/task.ts';
import { ErrnoError } from '../segments/errno.ts';
import { counterBlock, defineCounters, freeCounterBlock } from './mem-counters.ts';
import type { NetDevice } from './net-device.ts';
import { type NetStack, netStackOf } from './net-stack.ts';
import { PtrRing } from './ptr-ring.ts';
import type { FlushQueue, RedirectMap, RedirectTarget } from './redirect-map.ts';
import { traceCpumapEnqueue, traceCpumapKthread, traceXdpException } from './tracepoints.ts';
import { XdpBuff } from './xdp-buff.ts';
import {
  convertBuffToFrame,
  convertFrameToBuff,
  xdpDoFlush,
  xdpDoRedirect,
} from './xdp-redirect.ts';
import { SKB_INSNS, warnInvalidXdpAction, XDP_INSN_BUDGET } from './xdp-run.ts';
import {
  BPF_XDP_CPUMAP,
  XDP_ABORTED,
  XDP_DROP,
  XDP_PASS,
  XDP_REDIRECT,
  xdpMd,
} from './xdp-uapi.ts';

/** CPU_MAP_BULK_SIZE: frames a bulk queue holds before it must flush. */
export const CPU_MAP_BULK_SIZE = 8;
/** CPUMAP_BATCH: frames a kthread takes from its ring per loop. */
export const CPUMAP_BATCH = 8;
/** The largest qsize cpu_map_update_elem takes. */
export const CPUMAP_QSIZE_MAX = 16384;
/** sizeof(struct sk_buff), what the kthread allocates per frame it keeps. */
const SKB_SIZE = 232;

/** `struct xdp_bulk_queue`: count, on-flush-list flag, 8 frame pointers (u64). */
const BQ_COUNT = 0;
const BQ_ON_LIST = 4;
const BQ_Q = 8;
const BQ_SIZE = BQ_Q + 8 * CPU_MAP_BULK_SIZE;

/**
 * `struct bpf_cpu_map_entry` as kept in memory: what a debugger would see,
 * and what other CPUs read: the frames of the kthread's current batch.
 */
const ENTRY = {
  cpu: 0,
  mapId: 4,
  qsize: 8,
  progId: 12,
  ring: 16,
  bulkq: 24,
  pid: 32,
  inBatch: 36,
  size: 40,
};

const ENQUEUE_COUNTERS = ['processed', 'drops', 'bulks'] as const;
const KTHREAD_COUNTERS = [
  'processed',
  'drops',
  'sched',
  'pass',
  'drop',
  'redirect',
  'stack',
  'exceptions',
  'iterations',
] as const;

/**
 * Per (source CPU -> target CPU) enqueue counts: the xdp_cpumap_enqueue
 * tracepoint's sums. In emulated memory (mem-counters.ts), written by the
 * source CPU's flush.
 */
export class CpumapEnqueueStats {
  declare processed: number;
  declare drops: number;
  /** Non-empty bulk flushes (the tracepoint's hits): bulk-avg = processed / bulks. */
  declare bulks: number;

  constructor(readonly slots: Float64Array) {}
}
defineCounters(CpumapEnqueueStats, ENQUEUE_COUNTERS);

/**
 * Per target CPU kthread counts: the xdp_cpumap_kthread tracepoint's sums,
 * in emulated memory, written by the kthreads of that CPU.
 */
export class CpumapKthreadCounts {
  declare processed: number;
  /** skb allocation failures. */
  declare drops: number;
  declare sched: number;
  declare pass: number;
  declare drop: number;
  declare redirect: number;
  /** Frames delivered to this CPU's stack (passed, or no program, and an skb made). */
  declare stack: number;
  /** The cpumap program's xdp_exception hits (XDP_TX, XDP_ABORTED, unknown verdicts). */
  declare exceptions: number;
  /** Loop iterations (tracepoint hits). */
  declare iterations: number;

  constructor(readonly slots: Float64Array) {}
}
defineCounters(CpumapKthreadCounts, KTHREAD_COUNTERS);

/** One bulk queue: a (entry, source CPU) pair's frames waiting for the flush. */
class BulkQueue implements FlushQueue {
  constructor(
    readonly entry: CpuMapEntry,
    readonly srcCpu: number,
    /** This CPU's copy of the entry's per-CPU bulk queue. */
    readonly addr: number,
  ) {}

  /** bq_flush_to_queue + wake_up_process (__cpu_map_flush's loop body). */
  flush(c: CpuState): void {
    this.flushToQueue(c);
    this.entry.wake();
  }

  /** bq_flush_to_queue(): into the ring under its producer lock; a full ring drops. */
  flushToQueue(c: CpuState): void {
    const entry = this.entry;
    const m = entry.map.k.memory;
    const count = m.read32(this.addr + BQ_COUNT);
    if (count === 0) return;
    let drops = 0;
    for (let i = 0; i < count; i++) {
      const frame = m.read32(this.addr + BQ_Q + 8 * i);
      if (entry.ring.produce(frame) !== 0) {
        drops++;
        entry.map.net.freeBuffer(frame);
      }
    }
    m.write32(this.addr + BQ_COUNT, 0);
    this.leaveFlushList();
    const s = entry.map.enqueueStats[this.srcCpu][entry.cpu];
    s.processed += count;
    s.drops += drops;
    s.bulks++;
    traceCpumapEnqueue(entry.map.k, c, entry.map.id, count, drops, entry.cpu);
  }

  /** __list_del_clearprev(&bq->flush_node). */
  private leaveFlushList(): void {
    const m = this.entry.map.k.memory;
    if (m.read32(this.addr + BQ_ON_LIST) === 0) return;
    m.write32(this.addr + BQ_ON_LIST, 0);
    const list = this.entry.map.net.percpu[this.srcCpu].cpuFlushList;
    list.splice(list.indexOf(this), 1);
  }

  /** bq_enqueue(). */
  enqueue(c: CpuState, frame: number): void {
    const m = this.entry.map.k.memory;
    if (m.read32(this.addr + BQ_COUNT) === CPU_MAP_BULK_SIZE) this.flushToQueue(c);
    const count = m.read32(this.addr + BQ_COUNT);
    m.write32(this.addr + BQ_Q + 8 * count, frame);
    m.write32(this.addr + BQ_COUNT, count + 1);
    if (m.read32(this.addr + BQ_ON_LIST) === 0) {
      m.write32(this.addr + BQ_ON_LIST, 1);
      // list_add: at the head, so the flush walks newest first.
      this.entry.map.net.percpu[this.srcCpu].cpuFlushList.unshift(this);
    }
  }

  get count(): number {
    return this.entry.map.k.memory.read32(this.addr + BQ_COUNT);
  }
}

/** `struct bpf_cpu_map_entry`: one target CPU's ring, bulk queues, program and kthread. */
export class CpuMapEntry implements RedirectTarget {
  readonly toIfindex = 0;
  readonly ring: PtrRing;
  readonly bulkqs: BulkQueue[] = [];
  /** alloc_percpu'ed bulk queues. */
  private readonly bulkqPtr: number;
  readonly kthread: Task;
  /**
   * kthread_should_stop(), and the entry freed: set by a replace or delete
   * and the teardown after it, which parallel mode refuses while running,
   * so each thread's own copy is right.
   */
  stopRequested = false;
  freed = false;

  constructor(
    readonly map: CpuMap,
    /** Address of the struct bpf_cpu_map_entry. */
    readonly addr: number,
    readonly cpu: number,
    readonly qsize: number,
    readonly prog: { prog: LoadedProgram; id: number } | null,
  ) {
    const k = map.k;
    this.ring = PtrRing.create(k, qsize);
    const pptr = k.percpu.alloc(BQ_SIZE, 8);
    if (pptr === null) {
      this.ring.free(k, () => {});
      throw new ErrnoError('ENOMEM', 'no per-CPU memory for the bulk queues');
    }
    this.bulkqPtr = pptr;
    for (let s = 0; s < k.nrCpus; s++) {
      const at = pptr + k.areas.offsets[s];
      k.memory.fill(at, BQ_SIZE);
      this.bulkqs.push(new BulkQueue(this, s, at));
    }
    const m = k.memory;
    m.write32(addr + ENTRY.cpu, cpu);
    m.write32(addr + ENTRY.mapId, map.id);
    m.write32(addr + ENTRY.qsize, qsize);
    m.write32(addr + ENTRY.progId, prog?.id ?? 0);
    m.write32(addr + ENTRY.ring, this.ring.addr);
    m.write32(addr + ENTRY.bulkq, pptr);
    this.kthread = k.spawn({
      comm: `cpumap/${cpu}/map:${map.id}`,
      cpu,
      kthread: true,
      body: (task) => cpuMapKthread(this, task),
    });
    m.write32(addr + ENTRY.pid, this.kthread.pid);
  }

  /** Frames the kthread took from the ring in its current batch (until the batch ends). */
  get inBatch(): number {
    return this.map.k.memory.read32(this.addr + ENTRY.inBatch);
  }

  set inBatch(n: number) {
    this.map.k.memory.write32(this.addr + ENTRY.inBatch, n);
  }

  /** cpu_map_enqueue(): into this CPU's bulk queue; always 0. */
  enqueue(c: CpuState, frame: number, _dev: NetDevice): number {
    this.bulkqs[c.id].enqueue(c, frame);
    return 0;
  }

  /** wake_up_process(): a no-op unless the kthread sleeps. */
  wake(): void {
    const t = this.kthread;
    if (!t.exited && t.state === TASK_INTERRUPTIBLE) wakeUpProcess(this.map.k, t, this.cpu);
  }

  /** Frames in the ring and the bulk queues. */
  framesInFlight(): number {
    if (this.freed) return 0;
    let n = this.ring.count() + this.inBatch;
    for (const bq of this.bulkqs) n += bq.count;
    return n;
  }

  /** __cpu_map_entry_free after kthread_stop: ring (anything left is freed), bulk queues, entry. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    const k = this.map.k;
    const net = this.map.net;
    this.ring.free(k, (frame) => net.freeBuffer(frame));
    for (const bq of this.bulkqs) {
      for (let i = 0; i < bq.count; i++) net.freeBuffer(k.memory.read32(bq.addr + BQ_Q + 8 * i));
    }
    k.percpu.free(this.bulkqPtr);
    k.kheap.kfree(this.addr);
  }
}

/**
 * cpu_map_kthread_run(): the loop of section 4 of the spec, one frame per
 * step once a batch is taken (interrupts may come between frames; bottom
 * halves are off for the batch, so softirqs and other tasks wait).
 */
function* cpuMapKthread(entry: CpuMapEntry, task: Task): Generator<void, number, void> {
  const map = entry.map;
  const k = map.k;
  const net = map.net;
  const c = k.cpus[entry.cpu];
  const sd = net.percpu[entry.cpu];
  const counts = map.kthreadStats[entry.cpu];
  const frames: number[] = [];
  // This iteration's counts, reused from one iteration to the next (no allocation per batch).
  const stats = { processed: 0, drops: 0, sched: 0, pass: 0, drop: 0, redirect: 0 };
  const buff = new XdpBuff(k.memory, k.kheap.kzalloc(xdpMd.size));
  const ctx = new CpuContext(
    entry.prog?.prog ?? k.loadText(k.asm`r0 = 2\nexit`, 'xdp_placeholder'),
    task.stackTop,
  );
  let t0 = c.clock;
  // The kthread's instructions so far, and the resume of the yield that follows (`resume`).
  const account = (resume = 1) => {
    sd.kthreadInsns += c.clock - t0 + resume;
    t0 = c.clock + resume;
  };
  while (!entry.stopRequested || !entry.ring.empty()) {
    let sched = 0;
    if (entry.ring.empty()) {
      task.state = TASK_INTERRUPTIBLE;
      if (entry.ring.empty()) {
        account();
        yield; // schedule(): off the CPU until wake_up_process
        t0 = c.clock;
        sched = 1;
      } else {
        task.state = TASK_RUNNING;
      }
    } else {
      // cond_resched(): a preemption point; it "rescheduled" if we were switched out.
      const before = task.switchCount;
      account();
      yield;
      t0 = c.clock;
      sched = task.switchCount !== before ? 1 : 0;
    }
    const n = entry.ring.consumeBatched(frames, CPUMAP_BATCH);
    entry.inBatch = n;
    k.localBhDisable();
    stats.processed = n;
    stats.drops = 0;
    stats.sched = sched;
    stats.pass = 0;
    stats.drop = 0;
    stats.redirect = 0;
    for (let i = 0; i < n; i++) {
      const frame = frames[i];
      let keep = true;
      if (entry.prog !== null) {
        t0 = c.clock;
        keep = yield* runCpumapProg(entry, c, frame, buff, ctx, stats, account);
      }
      if (keep) {
        // __xdp_build_skb_from_frame + netif_receive_skb on this CPU.
        const skb = k.kheap.kmalloc(SKB_SIZE);
        if (skb === 0) {
          stats.drops++;
          net.freeBuffer(frame);
        } else {
          k.advance(c, SKB_INSNS);
          counts.stack++;
          const len = k.memory.read32(frame + 8);
          sd.stackPackets++;
          sd.stackBytes += len;
          if (net.keepFrames) {
            const data = k.memory.read32(frame);
            net.keptFrames.push({
              cpu: c.id,
              ifindex: k.memory.read32(frame + 24),
              bytes: k.memory.u8.slice(data, data + len),
            });
          }
          k.kheap.kfree(skb);
          net.freeBuffer(frame);
        }
      }
      if (i + 1 < n) {
        if (c.clock + 1 < c.stepEnd && (c.pendingIrqs === 0 || !c.irqsEnabled)) {
          // The step would resume this task at once (no interrupt to take, bottom halves
          // off so no preemption): take the yield's instruction without leaving the step.
          k.advance(c, 1);
        } else {
          account();
          yield; // an interrupt may come between two frames
          t0 = c.clock;
        }
      }
    }
    if (stats.redirect > 0) xdpDoFlush(net, c);
    counts.processed += stats.processed;
    counts.drops += stats.drops;
    counts.sched += stats.sched;
    counts.pass += stats.pass;
    counts.drop += stats.drop;
    counts.redirect += stats.redirect;
    counts.iterations++;
    traceCpumapKthread(k, c, map.id, stats);
    entry.inBatch = 0;
    k.localBhEnable();
  }
  account();
  k.kheap.kfree(buff.md);
  entry.free();
  return 0;
}

/**
 * cpu_map_bpf_prog_run_xdp() for one frame: true when the frame goes on to
 * the stack; a dropped or redirected frame is dealt with here. The program
 * runs in slices up to the end of each step of its CPU, as a guest task's
 * code does, so the engine can interleave it with other CPUs instruction by
 * instruction (a race between two kthreads' programs shows).
 */
function* runCpumapProg(
  entry: CpuMapEntry,
  c: CpuState,
  frame: number,
  buff: XdpBuff,
  ctx: CpuContext,
  stats: { pass: number; drop: number; redirect: number },
  account: (resume?: number) => void,
): Generator<void, boolean, void> {
  const net = entry.map.net;
  const prog = entry.prog!;
  convertFrameToBuff(net, frame, buff);
  buff.writeMd();
  ctx.program = prog.prog;
  ctx.reset();
  ctx.setRegNumber(1, buff.md);
  const sd = net.percpu[c.id];
  const cpu = c.cpu;
  let ran = 0;
  let act: number;
  for (;;) {
    const prev = sd.active;
    sd.active = buff;
    const before = cpu.totalExecuted;
    let reason: StopReason;
    try {
      reason = cpu.runNested(ctx, Math.max(1, c.stepEnd - c.clock));
    } finally {
      sd.active = prev;
    }
    const n = cpu.totalExecuted - before;
    ran += n;
    net.k.advance(c, n);
    if (reason === StopReason.Exit) {
      act = ctx.regU32(0);
      break;
    }
    if (reason !== StopReason.Budget || ran >= XDP_INSN_BUDGET) {
      const why = reason === StopReason.Fault ? (cpu.fault?.message ?? 'a fault') : 'no exit';
      net.k.report('warning', c, [`WARNING: CPU: ${c.id} XDP program ${prog.prog.name}: ${why}`]);
      act = XDP_ABORTED;
      break;
    }
    // Out of budget mid-program: the step ended. Resuming is free, so the
    // program costs the same however many slices the steps cut it into
    // (a stepwise run and its replay as one run agree).
    account(0);
    c.curr.resumeFree = true;
    yield;
  }
  const dev = net.devices.get(buff.ingressIfindex);
  switch (act) {
    case XDP_PASS:
      // xdp_update_frame_from_buff: the program may have moved data.
      if (convertBuffToFrame(net, buff) === 0) break;
      stats.pass++;
      return true;
    case XDP_REDIRECT:
      if (dev !== undefined && xdpDoRedirect(net, c, buff, dev, prog.id) === 0) {
        stats.redirect++;
        return false;
      }
      break;
    case XDP_DROP:
      break;
    default:
      // XDP_TX, XDP_ABORTED and unknown values: warned once, traced, dropped.
      if (act !== XDP_ABORTED) warnInvalidXdpAction(net, c, act, prog.prog, dev?.name ?? 'N/A');
      traceXdpException(net.k, c, prog.id, act, buff.ingressIfindex);
      entry.map.kthreadStats[c.id].exceptions++;
  }
  stats.drop++;
  net.freeBuffer(frame);
  return false;
}

export class CpuMap extends BpfMap implements RedirectMap {
  readonly redirectFlagMask = 0;
  readonly net: NetStack;
  /** The live entry of each key (the RCU-protected slot). */
  private readonly slots: (CpuMapEntry | null)[];
  /** Every entry made, live or being torn down (their kthreads may still drain). */
  private readonly entries: CpuMapEntry[] = [];
  /** [source CPU][target CPU]. */
  readonly enqueueStats: CpumapEnqueueStats[][];
  /** [target CPU]. */
  readonly kthreadStats: CpumapKthreadCounts[];
  /** Both tables' counters, one block in emulated memory. */
  private readonly counters: Float64Array;

  private constructor(
    readonly k: Kernel,
    attr: BpfMapAttr,
    id: number,
    addr: number,
  ) {
    super(k, attr, id, addr, false);
    this.net = netStackOf(k);
    this.slots = new Array<CpuMapEntry | null>(attr.maxEntries).fill(null);
    const n = k.nrCpus;
    const ne = ENQUEUE_COUNTERS.length;
    const nk = KTHREAD_COUNTERS.length;
    this.counters = counterBlock(k, n * n * ne + n * nk);
    const block = this.counters;
    this.enqueueStats = Array.from({ length: n }, (_, src) =>
      Array.from(
        { length: n },
        (_, dst) =>
          new CpumapEnqueueStats(block.subarray((src * n + dst) * ne, (src * n + dst + 1) * ne)),
      ),
    );
    this.kthreadStats = Array.from(
      { length: n },
      (_, cpu) =>
        new CpumapKthreadCounts(block.subarray(n * n * ne + cpu * nk, n * n * ne + (cpu + 1) * nk)),
    );
    this.writeHeader();
    this.net.redirectMaps.push(this);
  }

  /** cpu_map_alloc()'s checks. */
  static allocCheck(attr: BpfMapAttr): void {
    if (attr.maxEntries === 0) throw new ErrnoError('EINVAL', 'a CPUMAP needs max_entries > 0');
    if (attr.keySize !== 4)
      throw new ErrnoError('EINVAL', `CPUMAP key_size ${attr.keySize} is not 4`);
    if (attr.valueSize !== 4 && attr.valueSize !== 8) {
      throw new ErrnoError(
        'EINVAL',
        `CPUMAP value_size ${attr.valueSize} is neither 4 (qsize) nor 8 (qsize and program fd)`,
      );
    }
    if (attr.mapFlags & ~BPF_F_NUMA_NODE) {
      throw new ErrnoError(
        'EINVAL',
        `CPUMAP map_flags 0x${attr.mapFlags.toString(16)}: only BPF_F_NUMA_NODE`,
      );
    }
    if (attr.maxEntries > NR_CPUS) {
      throw new ErrnoError('E2BIG', `CPUMAP max_entries ${attr.maxEntries} > NR_CPUS ${NR_CPUS}`);
    }
  }

  static create(k: Kernel, attr: BpfMapAttr, id: number): CpuMap {
    const addr = k.kheap.kzalloc(bpfMapHeader.size + 8 * attr.maxEntries);
    if (addr === 0)
      throw new ErrnoError('ENOMEM', `no memory for a CPUMAP of ${attr.maxEntries} entries`);
    return new CpuMap(k, attr, id, addr);
  }

  private slotAddr(key: number): number {
    return this.addr + bpfMapHeader.size + 8 * key;
  }

  // ---- program side: only bpf_redirect_map --------------------------------------------

  redirectLookup(key: number): CpuMapEntry | null {
    return key < this.maxEntries ? this.slots[key] : null;
  }

  /**
   * Frames in the entries' rings and bulk queues, plus one for each
   * replaced or deleted entry whose kthread has not exited yet: 0 means
   * every frame is delivered and every teardown done.
   */
  framesInFlight(): number {
    let n = 0;
    for (const e of this.entries) {
      n += e.framesInFlight();
      if (!e.freed && this.slots[e.cpu] !== e) n++;
    }
    return n;
  }

  /** Every entry made so far, live or replaced (their kthreads and freed flags). */
  allEntries(): readonly CpuMapEntry[] {
    return this.entries;
  }

  // ---- syscall side ------------------------------------------------------------------

  /** cpu_map_update_elem(), checks in the kernel's order. */
  override sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): void {
    this.refuseWhileParallel('update');
    const keyCpu = u32(key, 0);
    const qsize = u32(value, 0);
    if (flags > BPF_EXIST) throw new ErrnoError('EINVAL', `update flags ${flags} > BPF_EXIST`);
    if (keyCpu >= this.maxEntries) {
      throw new ErrnoError('E2BIG', `key ${keyCpu} >= max_entries ${this.maxEntries}`);
    }
    if (flags === BPF_NOEXIST)
      throw new ErrnoError('EEXIST', 'a CPUMAP entry always exists (BPF_NOEXIST)');
    if (qsize > CPUMAP_QSIZE_MAX)
      throw new ErrnoError('EOVERFLOW', `qsize ${qsize} > ${CPUMAP_QSIZE_MAX}`);
    if (keyCpu >= NR_CPUS || keyCpu >= this.k.nrCpus) {
      throw new ErrnoError('ENODEV', `CPU ${keyCpu} is not a possible CPU (${this.k.nrCpus})`);
    }
    let entry: CpuMapEntry | null = null;
    if (qsize !== 0) {
      const progFd = this.valueSize === 8 ? u32(value, 4) | 0 : 0;
      entry = this.allocEntry(keyCpu, qsize, progFd);
    }
    this.replace(keyCpu, entry);
  }

  /** __cpu_map_entry_alloc(): ENOMEM for any failure, a bad program fd included. */
  private allocEntry(cpu: number, qsize: number, progFd: number): CpuMapEntry {
    let prog: { prog: LoadedProgram; id: number } | null = null;
    if (progFd > 0) {
      const p = this.net.progByFd(progFd);
      if (p === undefined || p.expectedAttachType !== BPF_XDP_CPUMAP) {
        throw new ErrnoError(
          'ENOMEM',
          p === undefined
            ? `fd ${progFd} is not a program`
            : `program fd ${progFd} is not SEC("xdp/cpumap") (expected attach type ${p.expectedAttachType}, not ${BPF_XDP_CPUMAP})`,
        );
      }
      prog = { prog: p.prog, id: p.id };
    }
    const addr = this.k.kheap.kzalloc(ENTRY.size);
    if (addr === 0) throw new ErrnoError('ENOMEM', 'no memory for a cpumap entry');
    try {
      const entry = new CpuMapEntry(this, addr, cpu, qsize, prog);
      this.entries.push(entry);
      return entry;
    } catch (e) {
      this.k.kheap.kfree(addr);
      throw e;
    }
  }

  /** __cpu_map_entry_replace(): swap the slot; the old entry stops after a grace period. */
  private replace(key: number, entry: CpuMapEntry | null): void {
    const old = this.slots[key];
    this.slots[key] = entry;
    this.k.memory.write32(this.slotAddr(key), entry?.addr ?? 0);
    if (old !== null) this.k.rcu.callRcu(() => this.stopEntry(old));
  }

  /** kthread_stop(): the kthread drains its ring, then exits and frees the entry. */
  private stopEntry(entry: CpuMapEntry): void {
    entry.stopRequested = true;
    entry.wake();
  }

  /** cpu_map_lookup_elem from userspace: qsize, and for 8-byte values the program id. */
  override sysLookup(key: Uint8Array, value: Uint8Array): void {
    const k = u32(key, 0);
    const entry = k < this.maxEntries ? this.slots[k] : null;
    if (entry === null) throw new ErrnoError('ENOENT', `CPUMAP key ${k} has no entry`);
    const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
    dv.setUint32(0, entry.qsize, true);
    if (this.valueSize === 8) dv.setUint32(4, entry.prog?.id ?? 0, true);
  }

  /** cpu_map_delete_elem(): EINVAL out of range, else 0 (even for an empty slot). */
  override sysDelete(key: Uint8Array): void {
    this.refuseWhileParallel('delete');
    const k = u32(key, 0);
    if (k >= this.maxEntries)
      throw new ErrnoError('EINVAL', `key ${k} >= max_entries ${this.maxEntries}`);
    this.replace(k, null);
  }

  /** cpu_map_get_next_key(): key + 1, the first for NULL or out of range, ENOENT after the last. */
  override sysGetNextKey(key: Uint8Array | null, next: Uint8Array): void {
    const index = key === null ? this.maxEntries : u32(key, 0);
    if (index >= this.maxEntries) {
      new DataView(next.buffer, next.byteOffset).setUint32(0, 0, true);
      return;
    }
    if (index === this.maxEntries - 1) throw new ErrnoError('ENOENT', `key ${index} is the last`);
    new DataView(next.buffer, next.byteOffset).setUint32(0, index + 1, true);
  }

  /**
   * cpu_map_free(): the map's last reference is gone. Every entry's kthread
   * is stopped; a run that has ended cannot let them drain, so what is left
   * in rings and bulk queues is freed (as __cpu_map_ring_cleanup does).
   */
  free(): void {
    for (let key = 0; key < this.maxEntries; key++) this.slots[key] = null;
    for (const e of this.entries) {
      e.stopRequested = true;
      e.free();
    }
    const list = this.net.redirectMaps;
    list.splice(list.indexOf(this), 1);
    freeCounterBlock(this.k, this.counters);
    this.k.kheap.kfree(this.addr);
  }

  /**
   * Parallel mode runs one copy of this map per worker: an entry made or
   * torn down in one would be unknown to the others (and its kthread could
   * not be spawned), so userspace changes wait until the run is over.
   */
  private refuseWhileParallel(op: string): void {
    if (this.k.current?.cpu.concurrent === true) {
      throw new ErrnoError(
        'ENOTSUPP',
        `CPUMAP ${op} while running in parallel mode: set the entries up before the run`,
      );
    }
  }
}

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);
}
