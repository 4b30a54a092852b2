/**
 * A machine's maps: ids (the kernel's map_idr) and file descriptors (the
 * scenario is one process, whose first fd is 3), and how a program's map
 * pointer is checked. Made on first use, with the guest helpers and the
 * `lddw` map resolution installed on the machine.
 *
 * Closing a map's fd frees it; a program that still holds its address then
 * faults with a clear error rather than reading freed memory as a map.
 *
 * @example
 * const table = BpfMapTable.of(m);
 * table.get(fd).describe; // "BPF_MAP_TYPE_ARRAY 'counts'"
 */

import type { Machine } from '../preempt/machine.ts';
import { ErrnoError } from '../segments/errno.ts';
import { BpfMap } from './bpf-map.ts';
import { registerMapHelpers } from './map-helpers.ts';

const tables = new WeakMap<Machine, BpfMapTable>();

export class BpfMapTable {
  private readonly byId: (BpfMap | undefined)[] = [undefined];
  private readonly byFd = new Map<number, BpfMap>();
  private nextFd = 3;

  /** The table of `m`, made (and the helpers installed) on first use. */
  static of(m: Machine): BpfMapTable {
    let t = tables.get(m);
    if (t === undefined) {
      t = new BpfMapTable(m);
      tables.set(m, t);
    }
    return t;
  }

  private constructor(readonly m: Machine) {
    registerMapHelpers(m, this);
    const r = m.pseudoResolver;
    r.mapByFd = (fd) => BigInt(this.get(fd).addr);
    r.mapValueByFd = (fd, off) => BigInt(this.directValue(this.get(fd), off));
  }

  /**
   * The exit of the process that holds the fds: every open map is closed
   * and freed. Nothing to do on a machine that never made a map.
   *
   * @example
   * BpfMapTable.closeAll(m); // before kmemleak's scan at the end of a run
   */
  static closeAll(m: Machine): void {
    const t = tables.get(m);
    if (t === undefined) return;
    for (const [fd] of t.entries()) t.close(fd);
  }

  /** The id the next map gets. */
  get nextId(): number {
    return this.byId.length;
  }

  /** Adds a map made with `nextId`; returns its fd. */
  add(map: BpfMap): number {
    if (map.id !== this.byId.length)
      throw new RangeError(`map id ${map.id} is not ${this.byId.length}`);
    this.byId.push(map);
    const fd = this.nextFd++;
    this.byFd.set(fd, map);
    return fd;
  }

  /** The map behind `fd`, or EBADF. */
  get(fd: number): BpfMap {
    const map = this.byFd.get(fd);
    if (map === undefined) throw new ErrnoError('EBADF', `fd ${fd} is not a map`);
    return map;
  }

  /** Every open fd and its map, in fd order. */
  entries(): [number, BpfMap][] {
    return [...this.byFd];
  }

  /** close(fd): the map is freed. */
  close(fd: number): void {
    const map = this.get(fd);
    this.byFd.delete(fd);
    this.byId[map.id] = undefined;
    map.free();
  }

  /**
   * The map whose `struct bpf_map` is at `addr`, for helper `helper`; throws
   * EINVAL (the task faults) for anything else, as the verifier would have
   * refused the program.
   */
  fromAddr(addr: number, helper: string): BpfMap {
    if (this.m.memory.isMapped(addr, 32)) {
      const map = this.byId[BpfMap.idAt(this.m, addr)];
      if (map !== undefined && map.addr === addr) return map;
    }
    throw new ErrnoError('EINVAL', `${helper}: 0x${addr.toString(16)} is not a map`);
  }

  /** BPF_PSEUDO_MAP_VALUE: the address of `value[0] + off` of an array (map_direct_value_addr). */
  private directValue(map: BpfMap, off: number): number {
    const direct = map.directValueAddr(off);
    if (direct === undefined) {
      throw new ErrnoError('EINVAL', `${map.describe} has no direct value access`);
    }
    return direct;
  }
}
