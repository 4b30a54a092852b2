/**
 * The part of the verifier's check_map_func_compatibility() that the
 * redirect maps need: a CPUMAP may be passed only to bpf_redirect_map
 * (helper 51), a DEVMAP or DEVMAP_HASH only to bpf_redirect_map and
 * bpf_map_lookup_elem, so a program that passes one to any other helper is
 * refused at load with the verifier's message, `cannot pass map_type 16
 * into func bpf_map_lookup_elem#1`. The network layer checks the programs
 * it is given (assembly loaded with loadText); the object loader checks
 * every program of an object at load, as BPF_PROG_LOAD would.
 *
 * There is no verifier in this emulator: the check follows which register
 * holds a map loaded with `lddw` (BPF_PSEUDO_MAP_FD) in straight-line code,
 * through register moves, forgetting everything at a jump target, a call
 * or any other write. What it does not see (a map pointer through the
 * stack) is caught at run time: the helper faults the program.
 *
 * @example
 * checkMapFuncCompatibility(k.maps, prog); // EINVAL for bpf_map_lookup_elem on a CPUMAP
 */

import { bpfFuncId, bpfFuncName } from '../cpu/bpf-func-id.ts';
import type { Insn } from '../cpu/insn.ts';
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
import { ErrnoError } from '../segments/errno.ts';
import { BpfMap } from './bpf-map.ts';
import { BPF_MAP_TYPE } from './bpf-uapi.ts';

const BPF_CALL = 0x80;
const BPF_EXIT = 0x90;
const CALL = BPF_JMP | BPF_CALL;

const redirectMap = bpfFuncId('bpf_redirect_map')!;
const mapLookupElem = bpfFuncId('bpf_map_lookup_elem')!;

/** The helpers a map of each restricted type may be passed to (the verifier's switch on map_type). */
const ONLY_HELPERS: ReadonlyMap<number, readonly number[]> = new Map([
  [BPF_MAP_TYPE.CPUMAP, [redirectMap]],
  [BPF_MAP_TYPE.DEVMAP, [redirectMap, mapLookupElem]],
  [BPF_MAP_TYPE.DEVMAP_HASH, [redirectMap, mapLookupElem]],
]);

/** The map table a program's map fds index (a Kernel's `maps`). */
export interface MapFdTable {
  get(fd: number): object;
}

/** EINVAL when `prog` passes a CPUMAP, DEVMAP or DEVMAP_HASH to a helper its type does not take. */
export function checkMapFuncCompatibility(
  maps: MapFdTable,
  prog: { readonly name: string; readonly insns: readonly Insn[] },
): void {
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
      regs[ins.dst] = ins.src === BPF_PSEUDO_MAP_FD ? mapOfFd(maps, ins.imm) : null;
      i++;
      continue;
    }
    if (ins.code === CALL) {
      if (ins.src !== BPF_PSEUDO_CALL && ins.src !== BPF_PSEUDO_KFUNC_CALL) {
        const map = regs[1];
        const only = map === null ? undefined : ONLY_HELPERS.get(map.type);
        if (map !== null && only !== undefined && !only.includes(ins.imm)) {
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

function mapOfFd(maps: MapFdTable, fd: number): BpfMap | null {
  try {
    const m = maps.get(fd);
    return m instanceof BpfMap ? m : null;
  } catch {
    return null;
  }
}
