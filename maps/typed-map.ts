/**
 * Typed wrappers over a map handle for scenario scripts: keys and values as
 * JS values of C types (segments/ctype.ts) instead of byte buffers. A
 * missing element is `undefined` rather than ENOENT; every other error is
 * the handle's ErrnoError. Per-CPU maps read and write one value per
 * possible CPU, CPU 0 first.
 *
 * @example
 * const hits = typedMap(bpfMapCreate(m, 'ARRAY', 'hits', 4, 8, 4), u32, u64);
 * hits.set(1, 5n);
 * hits.get(1); // 5n
 * const pc = typedPercpuMap(bpfMapCreate(m, 'PERCPU_ARRAY', 'pc', 4, 8, 1), u32, u64);
 * pc.sum(0);   // the sum of every CPU's copy
 */

import { type CType, decodeValue, encodeValue } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { BpfMapHandle } from './syscall.ts';

function checkSizes(h: BpfMapHandle, key: CType, value: CType): void {
  if (key.size !== h.map.keySize) {
    throw new ErrnoError(
      'EINVAL',
      `key type ${key.name} is ${key.size} bytes, key_size is ${h.map.keySize}`,
    );
  }
  if (value.size !== h.map.valueSize) {
    throw new ErrnoError(
      'EINVAL',
      `value type ${value.name} is ${value.size} bytes, value_size is ${h.map.valueSize}`,
    );
  }
}

const missing = (e: unknown) => e instanceof ErrnoError && e.errno === 'ENOENT';

/** What the typed views share: the handle, the types, deletes and the key walk. */
abstract class TypedView<K> {
  constructor(
    readonly handle: BpfMapHandle,
    readonly keyType: CType,
    readonly valueType: CType,
    percpu: boolean,
  ) {
    if (handle.map.percpu !== percpu) {
      throw new ErrnoError(
        'EINVAL',
        percpu
          ? `${handle.map.describe} is not per-CPU: use typedMap`
          : `${handle.map.describe} is per-CPU: use typedPercpuMap`,
      );
    }
    checkSizes(handle, keyType, valueType);
  }

  protected key(key: K): Uint8Array {
    return encodeValue(this.keyType, key);
  }

  /** The value bytes at `key`, or undefined. */
  protected lookup(key: K): Uint8Array | undefined {
    try {
      return this.handle.lookupElem(this.key(key));
    } catch (e) {
      if (missing(e)) return undefined;
      throw e;
    }
  }

  /** Deletes `key`; false when it was not there. */
  delete(key: K): boolean {
    try {
      this.handle.deleteElem(this.key(key));
      return true;
    } catch (e) {
      if (missing(e)) return false;
      throw e;
    }
  }

  /** Every key, in get_next_key order. */
  *keys(): Generator<K> {
    for (const k of this.handle.keys()) yield decodeValue(this.keyType, k) as K;
  }
}

/** A map whose keys and values are C values (not per-CPU). */
export class TypedMap<K, V> extends TypedView<K> {
  constructor(handle: BpfMapHandle, keyType: CType, valueType: CType) {
    super(handle, keyType, valueType, false);
  }

  /** The value at `key`, or undefined. */
  get(key: K): V | undefined {
    const bytes = this.lookup(key);
    return bytes === undefined ? undefined : (decodeValue(this.valueType, bytes) as V);
  }

  /** Updates `key` with BPF_ANY or `flags`. */
  set(key: K, value: V, flags = 0): void {
    this.handle.updateElem(this.key(key), encodeValue(this.valueType, value), flags);
  }

  /** Every key and value (elements deleted during the walk are skipped). */
  *entries(): Generator<[K, V]> {
    for (const k of this.keys()) {
      const v = this.get(k);
      if (v !== undefined) yield [k, v];
    }
  }
}

/** A per-CPU map whose keys and per-CPU values are C values. */
export class TypedPercpuMap<K, V> extends TypedView<K> {
  constructor(handle: BpfMapHandle, keyType: CType, valueType: CType) {
    super(handle, keyType, valueType, true);
  }

  /** Every CPU's value at `key`, CPU 0 first, or undefined. */
  get(key: K): V[] | undefined {
    const bytes = this.lookup(key);
    if (bytes === undefined) return undefined;
    const stride = this.handle.map.percpuStride;
    return Array.from(
      { length: this.handle.m.nrCpus },
      (_, cpu) => decodeValue(this.valueType, bytes, cpu * stride) as V,
    );
  }

  /** Writes every CPU's copy: `values[cpu]`, or one value for all CPUs. */
  set(key: K, values: V | readonly V[], flags = 0): void {
    const n = this.handle.m.nrCpus;
    const all = Array.isArray(values)
      ? (values as readonly V[])
      : new Array<V>(n).fill(values as V);
    if (all.length !== n) {
      throw new ErrnoError('EINVAL', `${all.length} values for ${n} possible CPUs`);
    }
    const bytes = new Uint8Array(this.handle.map.valueSizeUser);
    all.forEach((v, cpu) => {
      bytes.set(encodeValue(this.valueType, v), cpu * this.handle.map.percpuStride);
    });
    this.handle.updateElem(this.key(key), bytes, flags);
  }

  /** The sum over CPUs of an integer value at `key` (0n when missing): what a reader of per-CPU counters does. */
  sum(key: K): bigint {
    if (this.valueType.kind !== 'int') {
      throw new ErrnoError('EINVAL', `sum needs an integer value type, not ${this.valueType.name}`);
    }
    return (this.get(key) ?? []).reduce<bigint>((acc, v) => acc + BigInt(v as number | bigint), 0n);
  }
}

/**
 * A typed view of a map that is not per-CPU.
 *
 * @example
 * typedMap<number, bigint>(handle, u32, u64).get(0);
 */
export function typedMap<K = unknown, V = unknown>(
  h: BpfMapHandle,
  key: CType,
  value: CType,
): TypedMap<K, V> {
  return new TypedMap<K, V>(h, key, value);
}

/**
 * A typed view of a per-CPU map.
 *
 * @example
 * typedPercpuMap<number, bigint>(handle, u32, u64).sum(0);
 */
export function typedPercpuMap<K = unknown, V = unknown>(
  h: BpfMapHandle,
  key: CType,
  value: CType,
): TypedPercpuMap<K, V> {
  return new TypedPercpuMap<K, V>(h, key, value);
}
