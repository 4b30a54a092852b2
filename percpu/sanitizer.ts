/**
 * A KASAN-like sanitizer for per-CPU memory (beyond the kernel: KASAN does
 * not check per-CPU areas). It catches, and reports while the machine goes
 * on:
 *
 *   double-free       free_percpu of an allocation already freed
 *   invalid-free      free_percpu of a pointer that does not start a live
 *                     allocation (the allocator is then not called)
 *   use-after-free    an access to a freed allocation, on any CPU's copy
 *   out-of-bounds     an access to per-CPU memory that no live allocation
 *                     holds: past an allocation's requested size, in the
 *                     free parts of a chunk, past the end of a unit
 *   leaks             `reportLeaks()` at shutdown: every live allocation
 *                     not marked notLeak and not waiting for an RCU free
 *
 * by guest instructions (the machine's CPU probe calls `checkAccess` for
 * every access to per-CPU memory, see preempt/percpu-kptr.ts), by guest
 * frees (kfuncs), and by the TS API (DynamicPerCpu and the pointers and refs
 * it hands out, see dynamic-per-cpu.ts).
 *
 * How: `PercpuSanitizer.attach(allocator, host)` instruments the allocator
 * instance, as KASAN's hooks sit in the slab allocator: its `alloc` and
 * `free` are wrapped, so every user of that allocator is seen. Attach it
 * before the first allocation; whoever attached it keeps it (the kernel as
 * `k.sanitizer`) and hands it to the TS API (DynamicPerCpu's model). Each allocation gets a record (size, task and
 * site of the allocation and of the free); the shadow (shadow.ts) says which
 * bytes of every unit are live, freed or unallocated. Static per-CPU
 * variables are always live. Freed records stay in a quarantine of the last
 * `quarantine` frees so that reports can name the allocation; the shadow
 * keeps saying "freed" until the area is allocated again.
 *
 * Sites: a guest caller is named by the host (`prog+0x18/0x40` and its
 * caller frames); TS callers by the first frames of the JS stack outside
 * the percpu/ layer (its allocator and TS API are plumbing). The stack is captured as an Error and only
 * formatted when a report needs it.
 *
 * Reports follow mm/kasan/report.c (and kmemleak for leaks). Like KASAN
 * without kasan_multi_shot, a bug is reported once: repeats of the same bug
 * type from the same site on the same allocation are counted in
 * `suppressed`. With `onError: 'throw'` (KASAN's panic_on_warn) the access
 * or free also throws EFAULT after the report.
 *
 * Context: any; the sanitizer's state is its own and is only touched by
 * the allocator's callers and the CPUs' probes, in the deterministic
 * engine's one thread.
 *
 * @example
 * const san = PercpuSanitizer.attach(m.percpu, host);
 * const p = m.percpu.alloc(8, 8)!;
 * m.percpu.free(p);
 * m.percpu.free(p);        // BUG: KASAN: double-free in ...
 * san.reportLeaks();       // 0: nothing left allocated
 */

import { ErrnoError } from '../segments/errno.ts';
import type { PercpuAllocator } from './allocator.ts';
import {
  type PercpuGeometry,
  type PercpuLocation,
  PercpuShadow,
  percpuGeometry,
  SHADOW_FREED,
  SHADOW_LIVE,
  SHADOW_UNALLOCATED,
} from './shadow.ts';

/** What the sanitizer needs of an allocator: its API and where its memory is. */
export type SanitizableAllocator = Pick<PercpuAllocator, 'alloc' | 'free' | 'sizeOf'> &
  PercpuGeometry;

/** The task doing something, for `by task comm/pid` and `CPU: n PID: p Comm: c`. */
export interface TaskInfo {
  readonly cpu: number;
  readonly pid: number;
  readonly comm: string;
}

/** What the sanitizer needs from the machine it runs in. */
export interface SanitizerHost {
  /** The running task, or null for host code outside any CPU. */
  who(): TaskInfo | null;
  /** The guest call site (`prog+0x18/0x40`, then callers) when a guest program is calling, else null. */
  guestSite(): string[] | null;
  /** Prints one report (the machine's report()). */
  report(kind: 'kasan' | 'leak', lines: string[]): void;
  /** jiffies now, for leak reports. */
  jiffies(): bigint;
}

export interface SanitizerOptions {
  /** 'report' (default): report and go on; 'throw': then throw EFAULT, like panic_on_warn. */
  onError?: 'report' | 'throw';
  /** Freed allocations remembered for reports. Default 1024. */
  quarantine?: number;
  /** TS stack frames kept per site. Default 6. */
  stackDepth?: number;
}

/** Where something happened: the task and the call site. */
export interface Origin {
  readonly task: TaskInfo | null;
  readonly jiffies: bigint;
  /** Guest site lines, if a guest program was calling. */
  readonly guest: readonly string[] | null;
  /** The JS stack at the call, formatted when a report needs it. */
  readonly stack: Error | null;
}

/** One allocation as the sanitizer knows it. */
export interface AllocationRecord {
  /** The per-CPU pointer. */
  readonly ptr: number;
  /** The requested size; bytes past it (the allocator's rounding) are out of bounds. */
  readonly size: number;
  /** What the allocator holds (the size rounded up to its granule). */
  readonly held: number;
  readonly allocated: Origin;
  /** The free (or the RCU-deferred free's request), once there is one. */
  freed: Origin | null;
  state: 'live' | 'free-pending' | 'freed';
  /** The free was requested through deferFree (after an RCU grace period). */
  deferred: boolean;
  /** The chunk the allocation is in (-1: the first chunk). */
  readonly chunk: number;
  /** kmemleak_not_leak(): not reported by reportLeaks. */
  notLeak: boolean;
}

export type AccessKind = 'read' | 'write';

/**
 * Who made an access and from where, when not the caller and its JS stack
 * (a guest instruction). `site` is only called for a report.
 */
export interface AccessOrigin {
  readonly task?: TaskInfo | null;
  site?(): readonly string[];
}

/** Marks an allocator instance a sanitizer has instrumented, so a second attach is refused. */
const INSTRUMENTED = Symbol('percpu sanitizer attached');

/** This layer's folder: its files (the allocator, the TS API) are plumbing, not call sites. */
const LAYER_DIR = new URL('.', import.meta.url).pathname;
const isPlumbing = (frame: string) =>
  frame.includes(LAYER_DIR) || frame.includes('node:internal') || frame.includes('node_modules');

export class PercpuSanitizer {
  readonly shadow: PercpuShadow;
  /** Bugs not reported again (same type, site and allocation as one reported). */
  suppressed = 0;
  private readonly live = new Map<number, AllocationRecord>();
  /** The last frees, oldest first; and the newest freed record per pointer. */
  private readonly quarantine: AllocationRecord[] = [];
  private readonly freedAt = new Map<number, AllocationRecord>();
  private readonly seen = new Set<string>();
  /** What a bug does after its report; may be changed at any time, like panic_on_warn. */
  onError: 'report' | 'throw';
  private readonly quarantineSize: number;
  private readonly stackDepth: number;

  constructor(
    private readonly allocator: SanitizableAllocator,
    private readonly host: SanitizerHost,
    opts: SanitizerOptions = {},
  ) {
    this.shadow = new PercpuShadow(percpuGeometry(allocator));
    this.onError = opts.onError ?? 'report';
    this.quarantineSize = opts.quarantine ?? 1024;
    this.stackDepth = opts.stackDepth ?? 6;
  }

  /**
   * A sanitizer watching every allocation and free of `allocator`, by
   * wrapping the instance's `alloc` and `free`. EBUSY when one is attached.
   *
   * @example
   * const san = PercpuSanitizer.attach(m.percpu, host);
   */
  static attach(
    allocator: SanitizableAllocator,
    host: SanitizerHost,
    opts?: SanitizerOptions,
  ): PercpuSanitizer {
    if (INSTRUMENTED in allocator) {
      throw new ErrnoError('EBUSY', 'a sanitizer is already attached to this allocator');
    }
    const san = new PercpuSanitizer(allocator, host, opts);
    const alloc = allocator.alloc;
    const free = allocator.free;
    allocator.alloc = (size, align, o) => {
      const p = alloc.call(allocator, size, align, o);
      if (p !== null) san.noteAlloc(p, size);
      return p;
    };
    allocator.free = (ptr) => {
      if (ptr === null || ptr === 0) return;
      if (!san.checkFree(ptr, false)) return;
      free.call(allocator, ptr);
      san.noteFree(ptr);
    };
    Object.defineProperty(allocator, INSTRUMENTED, { value: true });
    return san;
  }

  /**
   * True when this sanitizer watches `allocator` (it was attached to it).
   *
   * @example
   * k.sanitizer?.watches(k.percpu); // true
   */
  watches(allocator: object): boolean {
    return allocator === this.allocator;
  }

  /** Live allocations, in allocation order. */
  liveAllocations(): readonly AllocationRecord[] {
    return [...this.live.values()];
  }

  /**
   * The record of the live allocation starting at `ptr`.
   *
   * @example
   * san.record(p)?.size; // 24
   */
  record(ptr: number): AllocationRecord | undefined {
    return this.live.get(ptr);
  }

  /**
   * kmemleak_not_leak(): the live allocation at `ptr` is meant to outlive the
   * run (a per-CPU variable of the machine itself); EINVAL when none starts there.
   *
   * @example
   * san.notLeak(statsPtr);
   */
  notLeak(ptr: number): void {
    const rec = this.live.get(ptr);
    if (rec === undefined) {
      throw new ErrnoError('EINVAL', `no live per-CPU allocation at 0x${ptr.toString(16)}`);
    }
    rec.notLeak = true;
  }

  /**
   * The request of an RCU-deferred free (bpf_percpu_obj_drop, call_rcu with
   * free_percpu): checks it as a free and records its site, but leaves the
   * memory live, since readers may still use it until the grace period ends.
   * Returns true when the caller should queue the free; false after a
   * double-free or invalid-free report (then nothing is to be freed).
   *
   * @example
   * if (san.deferFree(p)) rcu.callRcu(() => allocator.free(p));
   */
  deferFree(ptr: number): boolean {
    if (ptr === 0) return false;
    if (!this.checkFree(ptr, true)) return false;
    const rec = this.live.get(ptr)!;
    rec.state = 'free-pending';
    rec.deferred = true;
    rec.freed = this.origin();
    return true;
  }

  /**
   * Checks an access of `size` bytes at physical `addr`: true when it is
   * outside per-CPU memory or every byte is live. Otherwise reports
   * use-after-free or out-of-bounds and returns false (or throws, with
   * `onError: 'throw'`). `origin` names a guest access; by default the
   * caller's task and TS stack are used.
   *
   * @example
   * san.checkAccess(areas.perCpuPtr(p, 1), 8, 'read');
   */
  checkAccess(addr: number, size: number, kind: AccessKind, origin?: AccessOrigin): boolean {
    const bad = this.shadow.firstBad(addr, size);
    if (bad < 0) return true;
    const first = this.shadow.locate(addr)!;
    const off = first.off + bad;
    // A byte past the end of the unit is out of bounds, whatever the next unit holds.
    const at: PercpuLocation = { ...first, off, ptr: first.ptr + bad };
    const pastUnit = off >= this.shadow.geometry.unitSize;
    const state = pastUnit ? SHADOW_UNALLOCATED : this.shadow.stateAt(at);
    const bug = state === SHADOW_FREED ? 'use-after-free' : 'out-of-bounds';
    const rec = state === SHADOW_FREED ? this.freedContaining(at) : this.nearest(at);
    const task = origin?.task !== undefined ? origin.task : this.host.who();
    const site = origin?.site?.() ?? this.siteLines(this.origin());
    const key = `${bug}|${site[0] ?? ''}|${rec?.ptr ?? at.ptr}`;
    if (this.seen.has(key)) {
      this.suppressed++;
    } else {
      this.seen.add(key);
      const lines = [
        `BUG: KASAN: ${bug} in ${site[0] ?? '<unknown>'}`,
        `${kind === 'read' ? 'Read' : 'Write'} of size ${size} at addr ${hex(addr)} by ${byTask(task)}`,
        ...this.callTrace(task, site),
        ...this.describe(at, rec),
      ];
      this.host.report('kasan', lines);
    }
    if (this.onError === 'throw') {
      throw new ErrnoError('EFAULT', `KASAN: ${bug} ${kind} of size ${size} at ${hex(addr)}`);
    }
    return false;
  }

  /**
   * The allocations kmemleak would report now: every live one, except those
   * marked notLeak and those whose RCU-deferred free is queued (the queued
   * callback still refers to them), in allocation order.
   *
   * @example
   * san.leaks().length; // 0 after a clean run
   */
  leaks(): AllocationRecord[] {
    return [...this.live.values()].filter((r) => !r.notLeak && r.state === 'live');
  }

  /**
   * Reports every leak (see `leaks`) as kmemleak does, with its allocation
   * site; returns how many. The machine's scenario runs call it at the end.
   *
   * @example
   * san.reportLeaks(); // 0 after a clean run
   */
  reportLeaks(): number {
    const leaks = this.leaks();
    for (const rec of leaks) {
      const a = rec.allocated;
      this.host.report('leak', [
        `unreferenced percpu object ${hex(rec.ptr)} (size ${rec.size}):`,
        `  comm "${a.task?.comm ?? 'host'}", pid ${a.task?.pid ?? 0}, jiffies ${a.jiffies}`,
        '  backtrace:',
        ...this.siteLines(a).map((l) => `    ${l}`),
      ]);
    }
    return leaks.length;
  }

  // ---- the allocator hooks -----------------------------------------------------------------

  /** After a successful allocation of `size` bytes at `p`. */
  private noteAlloc(p: number, size: number): void {
    const held = this.allocator.sizeOf(p) ?? size;
    const chunk = this.shadow.locate(p + this.shadow.geometry.baseAddr)?.chunk ?? -1;
    const rec: AllocationRecord = {
      ptr: p,
      size,
      held,
      allocated: this.origin(),
      freed: null,
      state: 'live',
      deferred: false,
      chunk,
      notLeak: false,
    };
    this.live.set(p, rec);
    this.shadow.mark(p, size, SHADOW_LIVE);
    // The allocator's rounding is a redzone, whatever an earlier allocation left there.
    if (held > size) this.shadow.mark(p + size, held - size, SHADOW_UNALLOCATED);
  }

  /**
   * Before a free of `ptr`: true when it starts a live allocation (or one
   * whose deferred free this is). Otherwise reports double-free or
   * invalid-free and returns false (or throws with `onError: 'throw'`).
   */
  private checkFree(ptr: number, deferred: boolean): boolean {
    const rec = this.live.get(ptr);
    if (
      rec !== undefined &&
      (rec.state === 'live' || (!deferred && rec.state === 'free-pending'))
    ) {
      return true;
    }
    const origin = this.origin();
    const site = this.siteLines(origin);
    let bug: string;
    let describe: string[];
    const at = this.shadow.locate(ptr + this.shadow.geometry.baseAddr);
    const freedBefore = this.isFreed(ptr) ? this.freedAt.get(ptr) : undefined;
    if (rec !== undefined || freedBefore !== undefined) {
      const freed = rec ?? freedBefore!;
      bug = 'double-free';
      describe = this.describeRecord(freed, freed.ptr, this.cpuOf(origin));
    } else {
      bug = 'invalid-free';
      describe =
        at === undefined
          ? [`The buggy address ${hex(ptr)} is not a per-CPU pointer of this allocator`]
          : this.describe(at, this.containing(at) ?? this.nearest(at));
    }
    const key = `${bug}|${site[0] ?? ''}|${ptr}`;
    if (this.seen.has(key)) {
      this.suppressed++;
    } else {
      this.seen.add(key);
      this.host.report('kasan', [
        `BUG: KASAN: ${bug} in ${site[0] ?? '<unknown>'}`,
        `Free of addr ${hex(ptr)} by ${byTask(origin.task)}`,
        ...this.callTrace(origin.task, site),
        ...describe,
      ]);
    }
    if (this.onError === 'throw') {
      throw new ErrnoError('EFAULT', `KASAN: ${bug} of per-CPU pointer ${hex(ptr)}`);
    }
    return false;
  }

  /** After the allocator freed `ptr`. */
  private noteFree(ptr: number): void {
    const rec = this.live.get(ptr)!;
    this.live.delete(ptr);
    rec.freed ??= this.origin();
    rec.state = 'freed';
    this.shadow.mark(ptr, rec.held, SHADOW_FREED);
    this.freedAt.set(ptr, rec);
    this.quarantine.push(rec);
    if (this.quarantine.length > this.quarantineSize) {
      const old = this.quarantine.shift()!;
      if (this.freedAt.get(old.ptr) === old) this.freedAt.delete(old.ptr);
    }
  }

  // ---- report pieces -------------------------------------------------------------------------

  private origin(): Origin {
    const guest = this.host.guestSite();
    return {
      task: this.host.who(),
      jiffies: this.host.jiffies(),
      guest,
      stack: guest === null ? new Error('site') : null,
    };
  }

  /** The site of an origin: the guest's lines, or the caller's JS frames. */
  private siteLines(o: Origin): string[] {
    if (o.guest !== null) return [...o.guest];
    const frames: string[] = [];
    for (const line of (o.stack?.stack ?? '').split('\n').slice(1)) {
      if (isPlumbing(line)) continue;
      frames.push(formatFrame(line));
      if (frames.length >= this.stackDepth) break;
    }
    return frames;
  }

  private callTrace(task: TaskInfo | null, site: readonly string[]): string[] {
    const head = task === null ? [] : [`CPU: ${task.cpu} PID: ${task.pid} Comm: ${task.comm}`];
    return [...head, 'Call Trace:', ...site.map((l) => ` ${l}`)];
  }

  private cpuOf(o: Origin): number {
    return o.task?.cpu ?? 0;
  }

  /** What the bad byte at `at` belongs to. */
  private describe(at: PercpuLocation, rec: AllocationRecord | undefined): string[] {
    if (rec === undefined) {
      const where = at.chunk < 0 ? 'the first chunk' : `chunk ${at.chunk} of the chunk region`;
      return [
        `The buggy address belongs to no percpu allocation: per-CPU pointer ${hex(at.ptr)}, offset ${hex(at.off)} of CPU ${at.cpu}'s unit of ${where}`,
      ];
    }
    return this.describeRecord(rec, at.ptr, at.cpu);
  }

  /** Allocation and free sites, and where `ptr` lies relative to the allocation (CPU `cpu`'s copy). */
  private describeRecord(rec: AllocationRecord, ptr: number, cpu: number): string[] {
    const lines = [`Allocated by ${taskLine(rec.allocated.task)}:`];
    lines.push(...this.siteLines(rec.allocated).map((l) => ` ${l}`));
    if (rec.freed !== null) {
      const pending = !rec.deferred
        ? ''
        : rec.state === 'free-pending'
          ? ' (deferred until an RCU grace period)'
          : ' (deferred, done after an RCU grace period)';
      lines.push(`Freed by ${taskLine(rec.freed.task)}${pending}:`);
      lines.push(...this.siteLines(rec.freed).map((l) => ` ${l}`));
    }
    lines.push(
      `The buggy address belongs to the percpu allocation of size ${rec.size} (CPU ${cpu}'s unit)`,
    );
    const end = rec.ptr + rec.size;
    const relation =
      ptr < rec.ptr
        ? `${rec.ptr - ptr} bytes to the left of`
        : ptr >= end
          ? `${ptr - end} bytes to the right of`
          : `${ptr - rec.ptr} bytes inside of`;
    const g = this.shadow.geometry;
    const copy = g.baseAddr + cpu * g.unitSize + rec.ptr;
    lines.push(`The buggy address is located ${relation}`);
    lines.push(
      ` ${rec.state === 'freed' ? 'freed' : 'allocated'} ${rec.size}-byte region [${hex(rec.ptr)}, ${hex(end)}), CPU ${cpu}'s copy at [${hex(copy)}, ${hex(copy + rec.size)})`,
    );
    return lines;
  }

  /** True when the shadow says the byte at per-CPU pointer `ptr` is freed. */
  private isFreed(ptr: number): boolean {
    const at = this.shadow.locate(ptr + this.shadow.geometry.baseAddr);
    return at !== undefined && this.shadow.stateAt(at) === SHADOW_FREED;
  }

  /** The newest freed record holding the byte at `at`. */
  private freedContaining(at: PercpuLocation): AllocationRecord | undefined {
    for (let k = this.quarantine.length - 1; k >= 0; k--) {
      const r = this.quarantine[k];
      if (at.ptr >= r.ptr && at.ptr < r.ptr + r.held) return r;
    }
    return undefined;
  }

  /** The live allocation whose held bytes include `at` (its rounding tail included). */
  private containing(at: PercpuLocation): AllocationRecord | undefined {
    for (const r of this.live.values()) if (at.ptr >= r.ptr && at.ptr < r.ptr + r.held) return r;
    return undefined;
  }

  /**
   * The allocation of the same chunk nearest to `at`: a live one, or a
   * quarantined one whose area has not been allocated again.
   */
  private nearest(at: PercpuLocation): AllocationRecord | undefined {
    let best: AllocationRecord | undefined;
    let bestDistance = Number.POSITIVE_INFINITY;
    const consider = (r: AllocationRecord) => {
      if (r.chunk !== at.chunk) return;
      const d = at.ptr < r.ptr ? r.ptr - at.ptr : Math.max(0, at.ptr - (r.ptr + r.size) + 1);
      if (d < bestDistance) {
        best = r;
        bestDistance = d;
      }
    };
    for (const r of this.live.values()) consider(r);
    for (const r of this.freedAt.values()) if (this.isFreed(r.ptr)) consider(r);
    return best;
  }
}

/** `0x...` */
function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function byTask(task: TaskInfo | null): string {
  return task === null ? 'host code (no CPU)' : `task ${task.comm}/${task.pid}`;
}

function taskLine(task: TaskInfo | null): string {
  return task === null ? 'host code' : `task ${task.pid} (${task.comm}) on CPU ${task.cpu}`;
}

/** `    at fn (file:///w/x.ts:12:5)` as `fn (x.ts:12)`, paths relative to the working directory. */
function formatFrame(line: string): string {
  const m = /^\s*at (?:(.*?) \()?(.*?):(\d+):\d+\)?$/.exec(line);
  if (m === null) return line.trim();
  const cwd = `${process.cwd()}/`;
  let file = m[2].replace(/^file:\/\//, '');
  if (file.startsWith(cwd)) file = file.slice(cwd.length);
  return m[1] === undefined ? `${file}:${m[3]}` : `${m[1]} (${file}:${m[3]})`;
}
