/**
 * One program of an object (`struct bpf_program`): its section and type,
 * autoload, and once loaded, two ways to run it on the machine:
 *
 * - `spawn`: a task on a CPU, scheduled like any other, so the
 *   deterministic engine (or parallel mode) interleaves it with others and
 *   races in C code can be explored;
 * - `testRun`: BPF_PROG_TEST_RUN: a context built from `dataIn`/`ctxIn`,
 *   run `repeat` times on the chosen CPU, returning retval, the output
 *   packet or context, and the duration in instructions per run.
 *
 * Contexts live in kmalloc memory: XDP gets a `struct xdp_md` (u32 data,
 * data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex)
 * over the packet placed after XDP_PACKET_HEADROOM bytes (our addresses fit
 * in 32 bits, so the fields are the addresses themselves); fentry/fexit get
 * the u64 argument array; tracepoint and syscall programs get `ctxIn` as it
 * is (syscall: NULL without one, as the kernel passes).
 *
 * @example
 * const r = obj.program('count').testRun({ cpu: 1, repeat: 3 });
 * r.retval;   // the program's return value
 * r.duration; // instructions per run
 */

import type { LoadedProgram } from '../cpu/program.ts';
import type { Kernel } from '../preempt/kernel.ts';
import type { Task } from '../preempt/task.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { LinkedProgram } from './link.ts';
import type { ProgramSpec } from './object-spec.ts';
import type { ProgType } from './sec-def.ts';

/** XDP_PACKET_HEADROOM: room the kernel leaves before an XDP packet. */
export const XDP_PACKET_HEADROOM = 256;
const XDP_MD_SIZE = 24;
/** Tail room after the packet, as the kernel's skb_shared_info reserve. */
const XDP_TAILROOM = 320;
/** The u64 arguments an fentry/fexit context holds when no ctxIn is given. */
const TRACING_ARGS = 6;

export interface ProgramRunInput {
  /** The packet (XDP). */
  dataIn?: Uint8Array;
  /** The context bytes (fentry: u64 arguments; tracepoint, syscall: the context struct). */
  ctxIn?: Uint8Array;
}

export interface SpawnProgramOptions extends ProgramRunInput {
  /** The CPU whose run queue gets the task. Default 0. */
  cpu?: number;
  /** CPUs it may run on; all by default. */
  allowed?: readonly number[];
  /** The task's comm; the program's name by default. */
  comm?: string;
}

export interface TestRunOptions extends ProgramRunInput {
  /** Runs, in one context (kernel: opts.repeat). Default 1. */
  repeat?: number;
  /** The CPU to run on. Default 0. */
  cpu?: number;
  /** Gives up (ETIME) after this many instructions of the CPU. Default 10 million. */
  maxInsns?: number;
}

export interface TestRunResult {
  /** r0 of the last run, as the u32 the kernel reports. */
  readonly retval: number;
  /** Instructions per run (the kernel reports ns; an instruction is our unit of time). */
  readonly duration: number;
  readonly dataOut: Uint8Array;
  readonly ctxOut: Uint8Array;
  /** The kernel messages (oops, KASAN, DEBUG_PREEMPT) the runs produced. */
  readonly reports: readonly { kind: string; lines: readonly string[] }[];
}

/** A context in emulated memory. */
interface ProgramContext {
  readonly addr: number;
  readonly size: number;
  readonly data: number;
  readonly dataLen: number;
  free(): void;
}

export class BpfProgram {
  autoload: boolean;
  private k: Kernel | null = null;
  private code: LoadedProgram | null = null;
  private linkedInsns = 0;
  private progFd = -1;
  private readonly contexts: ProgramContext[] = [];

  constructor(readonly spec: ProgramSpec) {
    this.autoload = spec.secDef.autoload;
  }

  get name(): string {
    return this.spec.name;
  }

  get section(): string {
    return this.spec.section.name;
  }

  get type(): ProgType {
    return this.spec.secDef.type;
  }

  /** Instructions: linked (with subprograms) once loaded, the function's own before. */
  get insnCount(): number {
    return this.code === null ? this.spec.length : this.linkedInsns;
  }

  /** enum bpf_attach_type of its section (BPF_XDP 37, BPF_XDP_CPUMAP 35, ...); 0 if it sets none. */
  get expectedAttachType(): number {
    return this.spec.secDef.expectedAttachType;
  }

  /**
   * The loaded code, as the network layer takes an XDP program
   * (`eth0.attachXdp(obj.program('xdp_pass'))`, `net.loadXdpProgram(...)`);
   * EINVAL before load.
   */
  get prog(): LoadedProgram {
    return this.loaded;
  }

  /** bpf_program__fd: the fd BPF_PROG_LOAD gave (what a PROG_ARRAY slot takes); EINVAL before load. */
  get fd(): number {
    this.loaded;
    return this.progFd;
  }

  /** The loaded program; EINVAL before load or with autoload off. */
  get loaded(): LoadedProgram {
    if (this.code === null)
      throw new ErrnoError(
        'EINVAL',
        `program '${this.name}' is not loaded (autoload ${this.autoload ? 'on' : 'off'})`,
      );
    return this.code;
  }

  /** Called by BpfObject.load. */
  attachLoaded(k: Kernel, prog: LoadedProgram, linked: LinkedProgram, fd: number): void {
    this.k = k;
    this.code = prog;
    this.progFd = fd;
    this.linkedInsns = linked.insns.length;
  }

  /** Called by BpfObject.close: the contexts made for spawned tasks are freed. */
  detach(): void {
    for (const c of this.contexts.splice(0)) c.free();
    this.k = null;
    this.code = null;
    this.progFd = -1;
  }

  /**
   * Starts the program as a task (r1 = its context) on `cpu`. Its exit code
   * is the program's r0.
   *
   * @example
   * obj.program('count_racy').spawn({ comm: 'inc0', cpu: 0, allowed: [0] });
   */
  spawn(opts: SpawnProgramOptions = {}): Task {
    const k = this.machine();
    return k.spawn({
      comm: opts.comm ?? this.name,
      cpu: opts.cpu ?? 0,
      allowed: opts.allowed,
      ...this.taskProgram(opts),
    });
  }

  /** The code and r1 of a task running this program; its context lives until the object closes. */
  taskProgram(input: ProgramRunInput = {}): { program: LoadedProgram; args: number[] } {
    const program = this.loaded;
    const ctx = this.makeContext(this.machine(), input);
    this.contexts.push(ctx);
    return { program, args: [ctx.addr] };
  }

  /**
   * BPF_PROG_TEST_RUN: runs the program `repeat` times on CPU `cpu` (each
   * run a task pinned there, driven until it exits) and reports the last
   * retval and the output context.
   *
   * @example
   * obj.program('xdp_pass').testRun({ dataIn: packet }).retval; // 2 (XDP_PASS)
   */
  testRun(opts: TestRunOptions = {}): TestRunResult {
    const k = this.machine();
    const cpu = opts.cpu ?? 0;
    k.areas.checkCpu(cpu);
    const repeat = opts.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 1)
      throw new ErrnoError('EINVAL', `repeat ${repeat} is not a positive integer`);
    const maxInsns = opts.maxInsns ?? 10_000_000;
    const ctx = this.makeContext(k, opts);
    const reportsBefore = k.reports.length;
    const c = k.cpus[cpu];
    const before = c.cpu.totalExecuted;
    let retval = 0;
    try {
      for (let n = 0; n < repeat; n++) {
        const task = k.spawn({
          comm: this.name,
          cpu,
          allowed: [cpu],
          program: this.loaded,
          args: [ctx.addr],
        });
        for (let spent = 0; !task.exited; ) {
          spent += Math.max(1, k.runCpu(cpu, 10_000));
          if (spent > maxInsns)
            throw new ErrnoError(
              'ETIME',
              `program '${this.name}' did not exit within ${maxInsns} instructions on CPU ${cpu}`,
            );
        }
        retval = Number(BigInt.asUintN(32, task.exitCode));
      }
      const executed = c.cpu.totalExecuted - before;
      return {
        retval,
        duration: Math.round(executed / repeat),
        dataOut: ctx.dataLen === 0 ? new Uint8Array(0) : k.memory.readBytes(ctx.data, ctx.dataLen),
        ctxOut: ctx.size === 0 ? new Uint8Array(0) : k.memory.readBytes(ctx.addr, ctx.size),
        reports: k.reports.slice(reportsBefore).map((r) => ({ kind: r.kind, lines: r.lines })),
      };
    } finally {
      ctx.free();
    }
  }

  private machine(): Kernel {
    if (this.k === null) this.loaded;
    return this.k!;
  }

  private makeContext(k: Kernel, input: ProgramRunInput): ProgramContext {
    const ctxIn = input.ctxIn ?? new Uint8Array(0);
    if (this.type === 'xdp') {
      const data = input.dataIn ?? new Uint8Array(0);
      const buf = k.kheap.kmalloc(XDP_PACKET_HEADROOM + data.length + XDP_TAILROOM, { zero: true });
      const md = k.kheap.kmalloc(XDP_MD_SIZE, { zero: true });
      const start = buf + XDP_PACKET_HEADROOM;
      k.memory.writeBytes(start, data);
      k.memory.write32(md, start);
      k.memory.write32(md + 4, start + data.length);
      k.memory.write32(md + 8, start);
      k.memory.write32(md + 12, 1);
      return {
        addr: md,
        size: XDP_MD_SIZE,
        data: start,
        dataLen: data.length,
        free: () => {
          k.kheap.kfree(md);
          k.kheap.kfree(buf);
        },
      };
    }
    if (input.dataIn !== undefined && input.dataIn.length > 0)
      throw new ErrnoError('EINVAL', `program '${this.name}' (${this.type}) takes no data_in`);
    const bytes =
      this.type === 'tracing' && ctxIn.length === 0 ? new Uint8Array(8 * TRACING_ARGS) : ctxIn;
    if (bytes.length === 0) return { addr: 0, size: 0, data: 0, dataLen: 0, free: () => {} };
    const addr = k.kheap.kmalloc(bytes.length, { zero: true });
    k.memory.writeBytes(addr, bytes);
    return { addr, size: bytes.length, data: 0, dataLen: 0, free: () => k.kheap.kfree(addr) };
  }
}
