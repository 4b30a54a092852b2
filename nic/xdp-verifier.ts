/**
 * The part of the verifier's check_map_func_compatibility() that XDP
 * programs meet here: a CPUMAP may be passed only to bpf_redirect_map
 * (helper 51), so a program that passes one to any other helper
 * (bpf_map_lookup_elem, update, delete, ...) is refused at load with the
 * verifier's message, `cannot pass map_type 16 into func
 * bpf_map_lookup_elem#1`.
 *
 * There is no verifier in this emulator: the check follows which register
 * holds a map loaded with `lddw` (BPF_PSEUDO_MAP_FD) in straight-line code,
 * through register moves, forgetting everything at a jump target, a call
 * or any other write. What it does not see (a map pointer through the
 * stack) is caught at run time: the helper faults the program.
 *
 * @example
 * checkMapFuncCompatibility(k, prog); // EINVAL for bpf_map_lookup_elem on a CPUMAP
 */

import { bpfFuncName } from '../cpu/bpf-func-id.ts';
import {
  BPF_ALU64,
  BPF_JMP,
  BPF_JMP32,
  BPF_MOV,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_X,
  LDDW,
} from '../cpu/opcodes.ts';
import type { LoadedProgram } from '../cpu/program.ts';
import { BpfMap } from '../maps/bpf-map.ts';
import { BPF_MAP_TYPE } from '../maps/bpf-uapi.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import { BPF_FUNC_redirect_map } from './xdp-helpers.ts';

const BPF_CALL = 0x80;
const BPF_EXIT = 0x90;
const CALL = BPF_JMP | BPF_CALL;

/** EINVAL when `prog` passes a CPUMAP to a helper other than bpf_redirect_map. */
export function checkMapFuncCompatibility(k: Kernel, prog: LoadedProgram): void {
  const insns = prog.insns;
  const targets = new Set<number>();
  insns.forEach((ins, i) => {
    const cls = ins.code & 7;
    if (
      (cls === BPF_JMP || cls === BPF_JMP32) &&
      ins.code !== CALL &&
      (ins.code & 0xf0) !== BPF_EXIT
    ) {
      targets.add(i + ins.off + 1);
    }
  });
  let regs: (BpfMap | null)[] = new Array(11).fill(null);
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i];
    if (targets.has(i)) regs = new Array(11).fill(null);
    if (ins.code === LDDW) {
      regs[ins.dst] = ins.src === BPF_PSEUDO_MAP_FD ? mapOfFd(k, ins.imm) : null;
      i++;
      continue;
    }
    if (ins.code === CALL) {
      if (ins.src !== BPF_PSEUDO_CALL && ins.src !== BPF_PSEUDO_KFUNC_CALL) {
        const map = regs[1];
        if (map !== null && map.type === BPF_MAP_TYPE.CPUMAP && ins.imm !== BPF_FUNC_redirect_map) {
          throw new ErrnoError(
            'EINVAL',
            `${prog.name}: insn ${i}: cannot pass map_type ${map.type} into func ${bpfFuncName(ins.imm) ?? 'unknown'}#${ins.imm}`,
          );
        }
      }
      for (let r = 0; r <= 5; r++) regs[r] = null;
      continue;
    }
    const cls = ins.code & 7;
    if (ins.code === (BPF_ALU64 | BPF_MOV | BPF_X)) {
      regs[ins.dst] = regs[ins.src];
    } else if (cls !== BPF_JMP && cls !== BPF_JMP32 && cls !== 0x02 && cls !== 0x03) {
      // Everything but jumps and stores writes its dst register.
      regs[ins.dst] = null;
    }
  }
}

function mapOfFd(k: Kernel, fd: number): BpfMap | null {
  try {
    const m = k.maps.get(fd);
    return m instanceof BpfMap ? m : null;
  } catch {
    return null;
  }
}
