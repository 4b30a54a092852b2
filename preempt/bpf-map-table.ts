/**
 * The kernel's table of BPF maps: their ids (the kernel's map_idr) and the
 * file descriptors of the scenario, which is one process whose first fd is
 * 3. The map types are the maps/ layer's; the kernel holds each map by what
 * it needs to find and close it, so the table is there from boot and the
 * loader resolves `lddw` map sources (BPF_PSEUDO_MAP_FD, _VALUE) through it.
 *
 * Closing a map's last fd frees it, unless a map of maps still holds it
 * (each holder is a reference, as the kernel's bpf_map_inc); a program that
 * still holds a freed map's address faults with a clear error rather than
 * reading freed memory as a map.
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
  /** References to each map: its fds and the maps of maps holding it (bpf_map_inc / bpf_map_put). */
  private readonly refs = new Map<BpfMapObject, number>();
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
    this.refs.set(map, 1);
    return fd;
  }

  /** BPF_MAP_GET_FD_BY_ID: a new fd on the map with id `id`; ENOENT when there is none. */
  openById(id: number): number {
    const map = this.byId[id];
    if (map === undefined) throw new ErrnoError('ENOENT', `no map with id ${id}`);
    const fd = this.nextFd++;
    this.byFd.set(fd, map);
    this.hold(map);
    return fd;
  }

  /** bpf_map_inc: another holder (a map of maps storing it) keeps the map alive. */
  hold(map: BpfMapObject): void {
    this.refs.set(map, (this.refs.get(map) ?? 0) + 1);
  }

  /** bpf_map_put: drops a reference; the last one frees the map. */
  put(map: BpfMapObject): void {
    const n = (this.refs.get(map) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(map, n);
      return;
    }
    this.refs.delete(map);
    this.byId[map.id] = undefined;
    map.free();
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

  /** close(fd): the map is freed unless another fd or a map of maps still holds it. */
  close(fd: number): void {
    const map = this.get(fd);
    this.byFd.delete(fd);
    this.put(map);
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
