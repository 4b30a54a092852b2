/**
 * The userspace side of maps, in libbpf's shape: `bpfMapCreate` (the
 * BPF_MAP_CREATE command) returns a handle holding the map's fd, and the
 * other commands take a key and value as byte buffers in the kernel's
 * userspace layout (per-CPU values: `round_up(value_size, 8)` bytes per
 * possible CPU, CPU 0 first). Where libbpf returns -errno, these throw an
 * ErrnoError with the errno name and a sentence; batch commands return how
 * far they got and the error that stopped them, as libbpf leaves `count`.
 *
 * The checks every map gets here are those of kernel/bpf/syscall.c: the
 * attribute checks of map_create, the fd, the map's read/write permissions
 * (BPF_F_RDONLY, BPF_F_WRONLY, frozen), the flags of lookup and update, and
 * the buffer sizes (a JS buffer has a length the kernel cannot see, so a
 * short one is EINVAL here rather than EFAULT). The rest is the type's.
 *
 * @example
 * const counts = bpfMapCreate(m, 'PERCPU_ARRAY', 'counts', 4, 8, 4);
 * const value = counts.lookupElem(u32Bytes(0)); // 8 bytes per CPU
 * counts.updateElem(u32Bytes(1), new Uint8Array(8 * m.nrCpus));
 */

import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { BpfMap, BpfMapAttr } from './bpf-map.ts';
import {
  BPF_F_LOCK,
  BPF_F_MMAPABLE,
  BPF_F_RDONLY,
  BPF_F_RDONLY_PROG,
  BPF_F_WRONLY,
  BPF_F_WRONLY_PROG,
  BPF_MAP_TYPE,
  BPF_OBJ_NAME_LEN,
  type BpfMapType,
  type BpfMapTypeName,
  mapTypeName,
} from './bpf-uapi.ts';
import {
  type BatchArgs,
  type BatchResult,
  genericDeleteBatch,
  genericLookupBatch,
  genericUpdateBatch,
} from './generic-batch.ts';
import { installMapHelpers } from './map-helpers.ts';
import { BpfMapMmap, type MmapOptions } from './map-mmap.ts';
import { bpfMapOf } from './map-table.ts';
import { LAYERED_MAP_TYPES, mapTypeOps } from './map-types.ts';

/** Optional attributes of BPF_MAP_CREATE (libbpf's `bpf_map_create_opts`). */
export interface BpfMapCreateOpts {
  /** BPF_F_* flags. */
  mapFlags?: number;
  /** Offset of a 4-byte `struct bpf_spin_lock` in the value (what BTF would describe). */
  spinLockOff?: number;
  /** ARRAY_OF_MAPS, HASH_OF_MAPS: the fd of a map whose attributes every inner map must have. */
  innerMapFd?: number;
}

/**
 * BPF_MAP_CREATE: a map of `type` (a BPF_MAP_TYPE number or its name) in the
 * machine's memory, with the kernel's attribute checks. The name may be
 * used in the machine's assembler afterwards: `r1 = name ll`.
 *
 * @example
 * const h = bpfMapCreate(m, 'ARRAY', 'counts', 4, 8, 16);
 * m.asm`r1 = counts ll`; // lddw with BPF_PSEUDO_MAP_FD and h.fd
 */
export function bpfMapCreate(
  m: Kernel,
  type: BpfMapType | BpfMapTypeName,
  name: string,
  keySize: number,
  valueSize: number,
  maxEntries: number,
  opts: BpfMapCreateOpts = {},
): BpfMapHandle {
  const typeNumber = typeof type === 'string' ? BPF_MAP_TYPE[type] : type;
  const ops = mapTypeOps(m, typeNumber);
  if (ops === undefined) {
    if (LAYERED_MAP_TYPES.includes(typeNumber)) {
      throw new ErrnoError(
        'EINVAL',
        `map type ${mapTypeName(typeNumber)} needs the network stack on this kernel: set it up first (netOf(k))`,
      );
    }
    throw new ErrnoError('EINVAL', `map type ${String(type)} is not one this machine implements`);
  }
  checkName(name);
  for (const [what, v] of [
    ['key_size', keySize],
    ['value_size', valueSize],
    ['max_entries', maxEntries],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new ErrnoError('EINVAL', `${what} ${v} is not a u32`);
    }
  }
  const mapFlags = opts.mapFlags ?? 0;
  if (!Number.isInteger(mapFlags) || mapFlags < 0) {
    throw new ErrnoError('EINVAL', `map_flags ${mapFlags} is not a flag set`);
  }
  checkAccessFlags(mapFlags);
  const attr: BpfMapAttr = {
    type: typeNumber as BpfMapType,
    name,
    keySize,
    valueSize,
    maxEntries,
    mapFlags,
    spinLockOff: opts.spinLockOff ?? -1,
    innerMapFd: opts.innerMapFd ?? 0,
  };
  ops.allocCheck(attr, m);
  if (attr.spinLockOff !== -1) checkSpinLock(attr, ops.spinLock === true);
  installMapHelpers(m);
  const map = ops.create(m, attr, m.maps.nextId);
  const fd = m.maps.add(map);
  if (name !== '') m.defineAsmSymbol(name, asmSymbolOf(map, fd));
  return new BpfMapHandle(m, fd, map);
}

/** The assembler's view of a map: by fd, and `name[i] + off` for ARRAY values. */
function asmSymbolOf(map: BpfMap, fd: number) {
  return map.type === BPF_MAP_TYPE.ARRAY
    ? { kind: 'map' as const, fd, valueStride: map.percpuStride }
    : { kind: 'map' as const, fd };
}

/** bpf_obj_name_cpy: up to 15 characters, letters, digits, '_' and '.'. */
function checkName(name: string): void {
  if (name.length >= BPF_OBJ_NAME_LEN) {
    throw new ErrnoError('EINVAL', `map name '${name}' is longer than ${BPF_OBJ_NAME_LEN - 1}`);
  }
  if (!/^[A-Za-z0-9_.]*$/.test(name)) {
    throw new ErrnoError('EINVAL', `map name '${name}' has a character other than [A-Za-z0-9_.]`);
  }
}

/** bpf_map_flags_access_ok: not both read-only and write-only, on either side. */
function checkAccessFlags(flags: number): void {
  const both = (a: number, b: number) => (flags & a) !== 0 && (flags & b) !== 0;
  if (both(BPF_F_RDONLY, BPF_F_WRONLY) || both(BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG)) {
    throw new ErrnoError(
      'EINVAL',
      `map_flags 0x${flags.toString(16)} are read-only and write-only`,
    );
  }
}

/** map_check_btf for a bpf_spin_lock: a type that allows one, 4-aligned, inside the value. */
function checkSpinLock(attr: BpfMapAttr, allowed: boolean): void {
  const off = attr.spinLockOff;
  if (!allowed) {
    throw new ErrnoError(
      'EOPNOTSUPP',
      `${mapTypeName(attr.type)} values cannot hold a bpf_spin_lock`,
    );
  }
  if (!Number.isInteger(off) || off < 0 || off % 4 !== 0 || off + 4 > attr.valueSize) {
    throw new ErrnoError(
      'EINVAL',
      `bpf_spin_lock offset ${off} is not a 4-aligned place inside the ${attr.valueSize}-byte value`,
    );
  }
}

/**
 * A map's fd and the commands on it. Per-CPU values are `valueSizeUser`
 * bytes, CPU 0 first.
 *
 * @example
 * const h = bpfMapCreate(m, 'HASH', 'flows', 8, 8, 1024);
 * h.updateElem(key, value, BPF_NOEXIST);
 * for (const k of h.keys()) console.log(h.lookupElem(k));
 */
export class BpfMapHandle {
  constructor(
    readonly m: Kernel,
    readonly fd: number,
    readonly map: BpfMap,
  ) {}

  /** BPF_MAP_LOOKUP_ELEM (a peek on queues and stacks): the value, or ENOENT. */
  lookupElem(key: Uint8Array | null, flags = 0): Uint8Array {
    const { map } = this.open('read');
    if (flags & ~BPF_F_LOCK) throw new ErrnoError('EINVAL', `lookup flags 0x${flags.toString(16)}`);
    checkLock(map, flags);
    const value = new Uint8Array(map.valueSizeUser);
    map.sysLookup(this.key(key), value, flags);
    return value;
  }

  /** BPF_MAP_UPDATE_ELEM (a push on queues and stacks) with BPF_ANY, NOEXIST, EXIST, F_LOCK. */
  updateElem(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    const { map } = this.open('write');
    checkLock(map, flags);
    map.sysUpdate(this.key(key), this.value(value), flags);
  }

  /** BPF_MAP_DELETE_ELEM. */
  deleteElem(key: Uint8Array): void {
    this.open('write').map.sysDelete(this.key(key));
  }

  /** BPF_MAP_GET_NEXT_KEY: the key after `key` (the first for null); ENOENT after the last. */
  getNextKey(key: Uint8Array | null): Uint8Array {
    const { map } = this.open('read');
    const next = new Uint8Array(map.keySize);
    map.sysGetNextKey(key === null ? null : this.key(key), next);
    return next;
  }

  /** Every key, in get_next_key order. */
  *keys(): Generator<Uint8Array> {
    let key: Uint8Array | null = null;
    for (;;) {
      try {
        key = this.getNextKey(key);
      } catch (e) {
        if (e instanceof ErrnoError && e.errno === 'ENOENT') return;
        throw e;
      }
      yield key;
    }
  }

  /**
   * BPF_MAP_LOOKUP_AND_DELETE_ELEM: a pop on queues and stacks (key null),
   * lookup then delete on the hash maps (flags: BPF_F_LOCK), ENOTSUPP elsewhere.
   */
  lookupAndDeleteElem(key: Uint8Array | null, flags = 0): Uint8Array {
    const { map } = this.open('read', 'write');
    if (flags & ~BPF_F_LOCK) {
      throw new ErrnoError('EINVAL', `lookup_and_delete flags 0x${flags.toString(16)}`);
    }
    checkLock(map, flags);
    const value = new Uint8Array(map.valueSizeUser);
    map.sysLookupAndDelete(key === null ? null : this.key(key), value, flags);
    return value;
  }

  /** BPF_MAP_FREEZE: userspace can no longer write; EBUSY the second time. */
  freeze(): void {
    const map = bpfMapOf(this.m, this.fd);
    if (map.spinLockOff >= 0) {
      throw new ErrnoError('ENOTSUPP', `${map.describe} has a bpf_spin_lock and cannot be frozen`);
    }
    if (map.mapFlags & BPF_F_RDONLY) {
      throw new ErrnoError('EPERM', `${map.describe} is read-only for userspace`);
    }
    if (map.mmapWriters > 0) {
      throw new ErrnoError('EBUSY', `${map.describe} is mmap'ed writable`);
    }
    if (map.frozen) throw new ErrnoError('EBUSY', `${map.describe} is frozen already`);
    map.frozen = true;
  }

  /**
   * mmap(MAP_SHARED) of a BPF_F_MMAPABLE ARRAY's values: a window over
   * emulated memory (maps/map-mmap.ts has the checks and their errnos).
   */
  mmap(opts: MmapOptions = {}): BpfMapMmap {
    const map = bpfMapOf(this.m, this.fd);
    const area = map.mmapArea();
    if (area === undefined || map.spinLockOff >= 0) {
      throw new ErrnoError('ENOTSUPP', `${map.describe} cannot be mmap'ed`);
    }
    const write = opts.write === true;
    if (write && map.frozen) throw new ErrnoError('EPERM', `${map.describe} is frozen`);
    if (write && map.mapFlags & BPF_F_RDONLY_PROG) {
      throw new ErrnoError('EACCES', `${map.describe} is read-only for programs: map it read-only`);
    }
    if (!(map.mapFlags & BPF_F_MMAPABLE)) {
      throw new ErrnoError('EINVAL', `${map.describe} was not created with BPF_F_MMAPABLE`);
    }
    if (write) map.mmapWriters++;
    return new BpfMapMmap(this.m.memory, map, area, write);
  }

  /** BPF_MAP_LOOKUP_BATCH: up to `count` elements from `inBatch` (null: the start). */
  lookupBatch(args: BatchArgs): BatchResult {
    const { map } = this.open('read');
    this.batchChecks(map, args, true);
    if (map.batchOps.lookup === 'generic') return genericLookupBatch(map, args);
    return map.sysLookupBatch(args, false);
  }

  /** BPF_MAP_LOOKUP_AND_DELETE_BATCH (hash maps). */
  lookupAndDeleteBatch(args: BatchArgs): BatchResult {
    const { map } = this.open('read', 'write');
    this.batchChecks(map, args, true);
    if (map.batchOps.lookupAndDelete === undefined) return notsupp(map, 'lookup_and_delete_batch');
    return map.sysLookupBatch(args, true);
  }

  /** BPF_MAP_UPDATE_BATCH: each key with its value and `elemFlags`. */
  updateBatch(args: BatchArgs): BatchResult {
    const { map } = this.open('write');
    this.batchChecks(map, args, true);
    if (map.batchOps.update === undefined) return notsupp(map, 'update_batch');
    return genericUpdateBatch(map, args, (k, v, f) => map.sysUpdate(k, v, f));
  }

  /** BPF_MAP_DELETE_BATCH. */
  deleteBatch(args: BatchArgs): BatchResult {
    const { map } = this.open('write');
    this.batchChecks(map, args, false);
    if (map.batchOps.delete === undefined) return notsupp(map, 'delete_batch');
    return genericDeleteBatch(map, args, (k) => map.sysDelete(k));
  }

  /** close(fd): frees the map. */
  close(): void {
    this.m.maps.close(this.fd);
  }

  /** The map, if the fd is open and the map grants `access` to userspace. */
  private open(...access: ('read' | 'write')[]): { map: BpfMap } {
    const map = bpfMapOf(this.m, this.fd);
    for (const a of access) {
      if (a === 'read' && map.mapFlags & BPF_F_WRONLY) {
        throw new ErrnoError('EPERM', `${map.describe} is write-only for userspace`);
      }
      if (a === 'write' && map.mapFlags & BPF_F_RDONLY) {
        throw new ErrnoError('EPERM', `${map.describe} is read-only for userspace`);
      }
      if (a === 'write' && map.frozen) {
        throw new ErrnoError('EPERM', `${map.describe} is frozen`);
      }
    }
    return { map };
  }

  private key(key: Uint8Array | null): Uint8Array {
    const size = this.map.keySize;
    if (size === 0) {
      if (key !== null && key.length !== 0) {
        throw new ErrnoError('EINVAL', `${this.map.describe} takes no key`);
      }
      return EMPTY;
    }
    if (key === null || key.length < size) {
      throw new ErrnoError(
        'EINVAL',
        `key of ${key?.length ?? 0} bytes is shorter than key_size ${size}`,
      );
    }
    return key;
  }

  private value(value: Uint8Array): Uint8Array {
    if (value.length < this.map.valueSizeUser) {
      throw new ErrnoError(
        'EINVAL',
        `value of ${value.length} bytes is shorter than the ${this.map.valueSizeUser} bytes of ${this.map.describe}`,
      );
    }
    return value;
  }

  /** bpf_map_do_batch's and the generic batches' argument checks. */
  private batchChecks(map: BpfMap, args: BatchArgs, withValues: boolean): void {
    const elemFlags = args.elemFlags ?? 0;
    if (args.flags) throw new ErrnoError('EINVAL', `batch flags 0x${args.flags.toString(16)}`);
    if (!Number.isInteger(args.count) || args.count < 0) {
      throw new ErrnoError('EINVAL', `batch count ${args.count} is not a count`);
    }
    checkLock(map, elemFlags);
    if (args.keys.length < args.count * map.keySize) {
      throw new ErrnoError('EINVAL', `keys hold fewer than ${args.count} keys`);
    }
    if (withValues && (args.values?.length ?? 0) < args.count * map.valueSizeUser) {
      throw new ErrnoError('EINVAL', `values hold fewer than ${args.count} values`);
    }
  }
}

const EMPTY = new Uint8Array(0);

function checkLock(map: BpfMap, flags: number): void {
  if (flags & BPF_F_LOCK && map.spinLockOff < 0) {
    throw new ErrnoError(
      'EINVAL',
      `BPF_F_LOCK on ${map.describe}, whose value has no bpf_spin_lock`,
    );
  }
}

function notsupp(map: BpfMap, op: string): never {
  throw new ErrnoError('ENOTSUPP', `${op} is not supported by ${map.describe}`);
}

/**
 * The handle of an open fd (for scenario code that kept only the fd).
 *
 * @example
 * bpfMapByFd(m, 3).lookupElem(key);
 */
export function bpfMapByFd(m: Kernel, fd: number): BpfMapHandle {
  return new BpfMapHandle(m, fd, bpfMapOf(m, fd));
}

/**
 * BPF_MAP_GET_FD_BY_ID (libbpf's bpf_map_get_fd_by_id): a new fd, as a
 * handle, on the map with id `id`, such as an inner map's id that a lookup
 * in a map of maps returned; ENOENT when no map has it.
 *
 * @example
 * const inner = bpfMapGetFdById(k, readU32(outer.lookupElem(key)));
 */
export function bpfMapGetFdById(m: Kernel, id: number): BpfMapHandle {
  const fd = m.maps.openById(id);
  return new BpfMapHandle(m, fd, bpfMapOf(m, fd));
}

/**
 * The handle of the open map named `name` (libbpf's
 * bpf_object__find_map_by_name), for code that kept neither handle nor fd,
 * such as a scenario's invariants; ENOENT when no open map has that name.
 *
 * @example
 * typedPercpuMap<number, bigint>(bpfMapByName(k, 'counter'), u32, u64).sum(0);
 */
export function bpfMapByName(m: Kernel, name: string): BpfMapHandle {
  for (const [fd] of m.maps.entries()) {
    const map = bpfMapOf(m, fd);
    if (map.name === name) return new BpfMapHandle(m, fd, map);
  }
  throw new ErrnoError('ENOENT', `no open map named '${name}'`);
}
