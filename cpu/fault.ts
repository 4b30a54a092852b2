/**
 * CPU exceptions. A guest fault never escapes as a JS crash: the interpreter
 * stops with STOP_FAULT and keeps the CpuFault, whose fields say what the
 * instruction at `pc` did wrong. Higher layers turn it into an oops report.
 *
 * @example
 * if (cpu.run(ctx, 1000) === StopReason.Fault) console.log(cpu.fault?.message);
 * // "EFAULT: page fault: read of 8 bytes at 0x0 at pc 2"
 */

import { type Errno, ErrnoError } from '../segments/errno.ts';
import type { AccessKind } from '../segments/memory.ts';

export type FaultKind =
  | 'page-fault'
  | 'misaligned-atomic'
  | 'invalid-opcode'
  | 'jump-out-of-range'
  | 'stack-overflow'
  | 'unknown-helper'
  | 'helper-error'
  /** A kernel BUG() the instruction triggered (DEBUG_PREEMPT in fatal mode). */
  | 'bug'
  /** The saved context to resume (depth, frame pointer) is not one the interpreter left. */
  | 'corrupted-context';

const ERRNO_OF: Record<FaultKind, Errno> = {
  'page-fault': 'EFAULT',
  'misaligned-atomic': 'EFAULT',
  'invalid-opcode': 'EINVAL',
  'jump-out-of-range': 'EINVAL',
  'stack-overflow': 'E2BIG',
  'unknown-helper': 'ENOSYS',
  'helper-error': 'EINVAL',
  bug: 'EPERM',
  'corrupted-context': 'EUCLEAN',
};

export class CpuFault extends ErrnoError {
  constructor(
    readonly kind: FaultKind,
    readonly pc: number,
    what: string,
    /** The faulting address and access, for memory faults. */
    readonly access?: {
      addr: bigint;
      size: number;
      kind: AccessKind;
      /** The protected kernel structure the access hit (segments/page-protection.ts). */
      region?: string;
    },
  ) {
    super(ERRNO_OF[kind], `${what} at pc ${pc}`);
    this.name = 'CpuFault';
  }

  static memory(pc: number, addr: bigint, size: number, kind: AccessKind): CpuFault {
    const hex = `0x${BigInt.asUintN(64, addr).toString(16)}`;
    return new CpuFault('page-fault', pc, `page fault: ${kind} of ${size} bytes at ${hex}`, {
      addr,
      size,
      kind,
    });
  }

  /**
   * A guest access to a page of kernel data it may not touch that way
   * (x86's permissions violation, #PF error code bit 0), naming the structure.
   *
   * @example
   * CpuFault.protection(3, 0x1230010, 8, 'write', 'task_struct of pid 2').message;
   * // 'EFAULT: page fault: write of 8 bytes at 0x1230010 in task_struct of pid 2 (kernel data) at pc 3'
   */
  static protection(
    pc: number,
    addr: number,
    size: number,
    kind: AccessKind,
    region: string,
  ): CpuFault {
    return new CpuFault(
      'page-fault',
      pc,
      `page fault: ${kind} of ${size} bytes at 0x${addr.toString(16)} in ${region} (kernel data)`,
      { addr: BigInt(addr), size, kind, region },
    );
  }
}
