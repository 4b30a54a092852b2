/**
 * What the maps of maps share (kernel/bpf/map_in_map.c): the inner map
 * template given at creation by `inner_map_fd` (bpf_map_meta_alloc), the
 * check that a map stored later matches it (bpf_map_meta_equal), and the
 * reference the outer map holds on each inner map, so closing an inner
 * map's fd leaves it alive while an outer map holds it.
 *
 * The template is the inner map's type, key and value sizes, map_flags and
 * max_entries; an array template created with BPF_F_INNER_MAP accepts
 * arrays of any max_entries (array_map_meta_equal). Maps of maps do not
 * nest: an outer map as template is EINVAL.
 *
 * @example
 * const meta = bpfMapMetaAlloc(k, innerFd);   // at BPF_MAP_CREATE
 * const inner = innerMapFromFd(k, meta, fd);  // at each update
 */

import type { Kernel } from '../preempt/kernel.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { BpfMap } from './bpf-map.ts';
import { BPF_F_INNER_MAP, BPF_MAP_TYPE, mapTypeName } from './bpf-uapi.ts';
import { bpfMapOf } from './map-table.ts';

/** `struct bpf_map` of the template, as bpf_map_meta_alloc copies it. */
export interface InnerMapMeta {
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
}

const isMapOfMaps = (type: number): boolean =>
  type === BPF_MAP_TYPE.ARRAY_OF_MAPS || type === BPF_MAP_TYPE.HASH_OF_MAPS;

/** bpf_map_meta_alloc: EBADF for an fd that is no map, EINVAL for a map of maps. */
export function bpfMapMetaAlloc(k: Kernel, innerMapFd: number): InnerMapMeta {
  if (innerMapFd === 0) throw new ErrnoError('EBADF', 'a map of maps needs inner_map_fd');
  const inner = bpfMapOf(k, innerMapFd);
  if (isMapOfMaps(inner.type)) {
    throw new ErrnoError('EINVAL', `${inner.describe}: maps of maps do not nest`);
  }
  return {
    type: inner.type,
    keySize: inner.keySize,
    valueSize: inner.valueSize,
    maxEntries: inner.maxEntries,
    mapFlags: inner.mapFlags,
  };
}

/**
 * bpf_map_fd_get_ptr: the map behind `fd`, checked against the template
 * (EBADF, or EINVAL naming the first attribute that differs).
 */
export function innerMapFromFd(k: Kernel, meta: InnerMapMeta, fd: number): BpfMap {
  const map = bpfMapOf(k, fd);
  const anySize =
    (meta.mapFlags & BPF_F_INNER_MAP) !== 0 &&
    (meta.type === BPF_MAP_TYPE.ARRAY || meta.type === BPF_MAP_TYPE.PERCPU_ARRAY);
  const diff =
    map.type !== meta.type
      ? `type ${mapTypeName(map.type)}, not ${mapTypeName(meta.type)}`
      : map.keySize !== meta.keySize
        ? `key_size ${map.keySize}, not ${meta.keySize}`
        : map.valueSize !== meta.valueSize
          ? `value_size ${map.valueSize}, not ${meta.valueSize}`
          : map.mapFlags !== meta.mapFlags
            ? `map_flags 0x${map.mapFlags.toString(16)}, not 0x${meta.mapFlags.toString(16)}`
            : !anySize && map.maxEntries !== meta.maxEntries
              ? `max_entries ${map.maxEntries}, not ${meta.maxEntries}`
              : '';
  if (diff !== '') {
    throw new ErrnoError(
      'EINVAL',
      `${map.describe} does not match the inner map template: ${diff}`,
    );
  }
  return map;
}
