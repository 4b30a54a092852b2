/**
 * The kernel's table of BPF maps: their ids (the kernel's map_idr) and the
 * file descriptors of the scenario, which is one process whose first fd is
 * 3. The map types are the maps/ layer's; the kernel holds each map by what
 * it needs to find and close it, so the table is there from boot and the
 * loader resolves `lddw` map sources (BPF_PSEUDO_MAP_FD, _VALUE) through it.
 *
 * Closing a map's fd frees it; a program that still holds its address then
 * faults with a clear error rather than reading freed memory as a map.
 *
 * Context: host code or a helper on any CPU, in the deterministic engine's
 * one thread (maps are created before a parallel run starts).
 *
 * @example
 * const fd = k.maps.add(map); // 3 for the first map
 * k.maps.get(fd).describe;    // "BPF_MAP_TYPE_ARRAY 'counts'"
 */

import { ErrnoError } from '../segments/errno.ts';

/** What the kernel keeps of a map (maps/bpf-map.ts's BpfMap is one). */
export interface BpfMapObject {
  /** Its id, `bpf_map_info.id`. */
  readonly id: number;
  /** Address of its `struct bpf_map`. */
  readonly addr: number;
  /** `BPF_MAP_TYPE_<NAME> 'name'`, for messages. */
  readonly describe: string;
  /** map_direct_value_addr: the address of value 0 plus `off`, or undefined without direct access. */
  directValueAddr(off: number): number | undefined;
  /** Frees its memory (the last reference is gone). */
  free(): void;
}

export class BpfMapTable {
  private readonly byId: (BpfMapObject | undefined)[] = [undefined];
  private readonly byFd = new Map<number, BpfMapObject>();
  private nextFd = 3;

  /** The id the next map gets. */
  get nextId(): number {
    return this.byId.length;
  }

  /** Adds a map made with `nextId`; returns its fd. */
  add(map: BpfMapObject): number {
    if (map.id !== this.byId.length)
      throw new RangeError(`map id ${map.id} is not ${this.byId.length}`);
    this.byId.push(map);
    const fd = this.nextFd++;
    this.byFd.set(fd, map);
    return fd;
  }

  /** The map behind `fd`, or EBADF. */
  get(fd: number): BpfMapObject {
    const map = this.byFd.get(fd);
    if (map === undefined) throw new ErrnoError('EBADF', `fd ${fd} is not a map`);
    return map;
  }

  /** The open map with id `id`, if any. */
  byIdLookup(id: number): BpfMapObject | undefined {
    return this.byId[id];
  }

  /** Every open fd and its map, in fd order. */
  entries(): [number, BpfMapObject][] {
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
   * The exit of the process that holds the fds: every open map is closed
   * and freed.
   *
   * @example
   * k.maps.closeAll(); // before kmemleak's scan at the end of a run
   */
  closeAll(): void {
    for (const [fd] of this.entries()) this.close(fd);
  }

  /**
   * BPF_PSEUDO_MAP_VALUE: the address of `value[0] + off` of the map behind
   * `fd` (map_direct_value_addr); EINVAL for a type without direct access.
   */
  directValue(fd: number, off: number): number {
    const map = this.get(fd);
    const direct = map.directValueAddr(off);
    if (direct === undefined) {
      throw new ErrnoError('EINVAL', `${map.describe} has no direct value access`);
    }
    return direct;
  }
}
