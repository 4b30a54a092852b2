/**
 * The kernel's table of loaded BPF programs (BPF_PROG_LOAD's result): each
 * program's id (the kernel's prog_idr, `bpf_prog_aux.id`), its type and
 * expected attach type, and the fd the scenario's process holds. Program
 * fds count from 100, apart from the map fds (3, 4, ...), so a number in a
 * test says which it is.
 *
 * Maps that hold programs (PROG_ARRAY, CPUMAP and DEVMAP values) store the
 * program's id in emulated memory, and a context that tail-called into a
 * program records that id (cpu/context.ts CTX_PROG_ID), so a worker of
 * parallel mode finds the same program from memory alone: every worker
 * loads the same programs in the same order and so gives the same ids.
 *
 * Context: host code or a helper; programs are loaded before a parallel run.
 *
 * @example
 * const p = k.progs.load(k.asm`r0 = 1\nexit`, { name: 'one', type: BPF_PROG_TYPE.XDP });
 * k.progs.get(p.fd).prog; // the LoadedProgram
 */

import type { AssembledProgram } from '../cpu/asm/pseudo-c.ts';
import type { Insn } from '../cpu/insn.ts';
import type { LoadedProgram } from '../cpu/program.ts';
import { ErrnoError } from '../segments/errno.ts';

/** `enum bpf_prog_type`: the program types this machine runs or names. */
export const BPF_PROG_TYPE = {
  SOCKET_FILTER: 1,
  KPROBE: 2,
  SCHED_CLS: 3,
  SCHED_ACT: 4,
  TRACEPOINT: 5,
  XDP: 6,
  PERF_EVENT: 7,
  TRACING: 26,
  SYSCALL: 31,
} as const;
export type BpfProgType = (typeof BPF_PROG_TYPE)[keyof typeof BPF_PROG_TYPE];

/** `BPF_PROG_TYPE_<NAME>` for a type number. */
export function progTypeName(type: number): string {
  for (const [name, n] of Object.entries(BPF_PROG_TYPE))
    if (n === type) return `BPF_PROG_TYPE_${name}`;
  return `prog type ${type}`;
}

/** What BPF_PROG_LOAD is told besides the instructions. */
export interface BpfProgLoadOpts {
  readonly name: string;
  /** BPF_PROG_TYPE_*; SOCKET_FILTER (the uapi's first) by default. */
  readonly type?: BpfProgType;
  /** BPF_XDP_CPUMAP and the like; 0 by default. */
  readonly expectedAttachType?: number;
}

/** A loaded program as the kernel keeps it (`struct bpf_prog` and its aux). */
export interface BpfProgInfo {
  readonly fd: number;
  readonly id: number;
  readonly name: string;
  readonly type: BpfProgType;
  readonly expectedAttachType: number;
  readonly prog: LoadedProgram;
}

/** How the kernel loads a program into `.text` (Kernel.loadText). */
type LoadText = (
  source: LoadedProgram | AssembledProgram | readonly Insn[],
  name: string,
) => LoadedProgram;

export class BpfProgTable {
  private readonly byId: (BpfProgInfo | undefined)[] = [undefined];
  private readonly byFd = new Map<number, BpfProgInfo>();
  private readonly byProg = new Map<LoadedProgram, BpfProgInfo>();
  private nextFd = 100;

  constructor(private readonly loadText: LoadText) {}

  /**
   * BPF_PROG_LOAD: loads `source` into `.text` (once per source) and gives
   * it an id and an fd. Loading the same program again gives a second fd
   * on the same id, as a second open of the program would.
   */
  load(
    source: LoadedProgram | AssembledProgram | readonly Insn[],
    opts: BpfProgLoadOpts,
  ): BpfProgInfo {
    const prog = this.loadText(source, opts.name);
    const known = this.byProg.get(prog);
    const info: BpfProgInfo = {
      fd: this.nextFd++,
      id: known?.id ?? this.byId.length,
      name: opts.name,
      type: opts.type ?? known?.type ?? BPF_PROG_TYPE.SOCKET_FILTER,
      expectedAttachType: opts.expectedAttachType ?? known?.expectedAttachType ?? 0,
      prog,
    };
    if (known === undefined) {
      this.byId.push(info);
      this.byProg.set(prog, info);
    }
    this.byFd.set(info.fd, info);
    return info;
  }

  /** The program behind `fd`, or EBADF. */
  get(fd: number): BpfProgInfo {
    const info = this.byFd.get(fd);
    if (info === undefined) throw new ErrnoError('EBADF', `fd ${fd} is not a program`);
    return info;
  }

  /** The program with id `id` (what a PROG_ARRAY slot holds), if loaded. */
  byIdLookup(id: number): BpfProgInfo | undefined {
    return id > 0 ? this.byId[id] : undefined;
  }

  /** The table's entry for a loaded program, if it was loaded through the table. */
  infoOf(prog: LoadedProgram): BpfProgInfo | undefined {
    return this.byProg.get(prog);
  }
}
