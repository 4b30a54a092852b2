/**
 * ARRAY_OF_MAPS and HASH_OF_MAPS, following the kernel's test_maps.c
 * test_map_in_map (inner map templates, BPF_F_INNER_MAP letting arrays of
 * another max_entries in, a mismatching inner map refused, lookups giving
 * the inner map's id, BPF_MAP_GET_FD_BY_ID on it) and a program looking an
 * inner map up through the outer one and using it; plus the creation
 * errnos, references (an inner map outlives its fd while an outer map
 * holds it) and what programs may not do.
 */

import { describe, expect, it } from 'vitest';
import { BPF_F_INNER_MAP, BPF_F_NO_PREALLOC, BPF_NOEXIST } from '../../maps/bpf-uapi.ts';
import { bpfMapCreate, bpfMapGetFdById } from '../../maps/syscall.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { ofKind, run } from '../preempt/machine-fixtures.ts';
import { readU32, readU64, u32b, u64b } from './map-bytes.ts';

const booted = () => new Machine({ cpus: 2 }).boot();

function exitOf(k: Kernel, source: string): number {
  const t = k.spawn({ comm: 'prog', cpu: 0, allowed: [0], program: k.assemble(source) });
  run(k);
  return Number(BigInt.asIntN(64, t.exitCode));
}

/** Looks `key` up in `outer`, then key 0 in the inner map; returns its u64 value, -1 or -2 for NULLs. */
const twoLevel = (outer: string, keyStore: string) => `
  ${keyStore}
  r1 = ${outer} ll
  r2 = r10
  r2 += -8
  call bpf_map_lookup_elem
  if r0 == 0 goto none
  r1 = r0
  *(u32 *)(r10 - 16) = 0
  r2 = r10
  r2 += -16
  call bpf_map_lookup_elem
  if r0 == 0 goto empty
  r0 = *(u64 *)(r0 + 0)
  exit
none:
  r0 = -1
  exit
empty:
  r0 = -2
  exit`;

describe('maps of maps (test_maps.c test_map_in_map)', () => {
  it('ARRAY_OF_MAPS: stores inner maps by fd, gives their ids, and programs reach them', () => {
    const k = booted();
    const inner1 = bpfMapCreate(k, 'ARRAY', 'inner1', 4, 8, 1);
    const inner2 = bpfMapCreate(k, 'ARRAY', 'inner2', 4, 8, 1);
    inner1.updateElem(u32b(0), u64b(11));
    inner2.updateElem(u32b(0), u64b(22));
    const outer = bpfMapCreate(k, 'ARRAY_OF_MAPS', 'outer', 4, 4, 2, { innerMapFd: inner1.fd });
    outer.updateElem(u32b(0), u32b(inner1.fd));
    outer.updateElem(u32b(1), u32b(inner2.fd));
    expect(readU32(outer.lookupElem(u32b(1)))).toBe(inner2.map.id);
    const again = bpfMapGetFdById(k, readU32(outer.lookupElem(u32b(0))));
    expect(readU64(again.lookupElem(u32b(0)))).toBe(11);
    const key = (i: number) => `*(u32 *)(r10 - 8) = ${i}`;
    expect(exitOf(k, twoLevel('outer', key(0)))).toBe(11);
    expect(exitOf(k, twoLevel('outer', key(1)))).toBe(22);
    expect(exitOf(k, twoLevel('outer', key(2)))).toBe(-1);
    outer.deleteElem(u32b(1));
    expect(exitOf(k, twoLevel('outer', key(1)))).toBe(-1);
    expect(() => outer.lookupElem(u32b(1))).toThrow(/^ENOENT/);
    expect(() => outer.deleteElem(u32b(1))).toThrow(/^ENOENT/);
    expect(() => outer.updateElem(u32b(2), u32b(inner1.fd))).toThrow(/^E2BIG/);
    expect(() => outer.updateElem(u32b(0), u32b(inner1.fd), BPF_NOEXIST)).toThrow(/^EINVAL/);
  });

  it('HASH_OF_MAPS: keys of any size, the hash flags, ids on lookup, programs reach the inner map', () => {
    const k = booted();
    const inner = bpfMapCreate(k, 'HASH', 'inner', 4, 8, 4);
    inner.updateElem(u32b(0), u64b(33));
    const outer = bpfMapCreate(k, 'HASH_OF_MAPS', 'outer', 8, 4, 4, { innerMapFd: inner.fd });
    outer.updateElem(u64b(7), u32b(inner.fd), BPF_NOEXIST);
    expect(() => outer.updateElem(u64b(7), u32b(inner.fd), BPF_NOEXIST)).toThrow(/^EEXIST/);
    expect(readU32(outer.lookupElem(u64b(7)))).toBe(inner.map.id);
    expect(exitOf(k, twoLevel('outer', '*(u64 *)(r10 - 8) = 7'))).toBe(33);
    expect(exitOf(k, twoLevel('outer', '*(u64 *)(r10 - 8) = 8'))).toBe(-1);
    expect([...outer.keys()].map((key) => readU64(key))).toEqual([7]);
    outer.deleteElem(u64b(7));
    expect(() => outer.lookupElem(u64b(7))).toThrow(/^ENOENT/);
  });

  it('an inner map must match the template; BPF_F_INNER_MAP lets arrays of any max_entries in', () => {
    const k = booted();
    const tmpl = bpfMapCreate(k, 'ARRAY', 'tmpl', 4, 8, 1);
    const outer = bpfMapCreate(k, 'ARRAY_OF_MAPS', 'outer', 4, 4, 2, { innerMapFd: tmpl.fd });
    const bigger = bpfMapCreate(k, 'ARRAY', 'bigger', 4, 8, 4);
    expect(() => outer.updateElem(u32b(0), u32b(bigger.fd))).toThrow(
      "EINVAL: BPF_MAP_TYPE_ARRAY 'bigger' does not match the inner map template: max_entries 4, not 1",
    );
    const hash = bpfMapCreate(k, 'HASH', 'hash', 4, 8, 1);
    expect(() => outer.updateElem(u32b(0), u32b(hash.fd))).toThrow(/type BPF_MAP_TYPE_HASH, not/);
    const wider = bpfMapCreate(k, 'ARRAY', 'wider', 4, 16, 1);
    expect(() => outer.updateElem(u32b(0), u32b(wider.fd))).toThrow(/value_size 16, not 8/);
    expect(() => outer.updateElem(u32b(0), u32b(99))).toThrow(/^EBADF/);

    const flexTmpl = bpfMapCreate(k, 'ARRAY', 'flex', 4, 8, 1, { mapFlags: BPF_F_INNER_MAP });
    const flexOuter = bpfMapCreate(k, 'ARRAY_OF_MAPS', 'fouter', 4, 4, 2, {
      innerMapFd: flexTmpl.fd,
    });
    const flex4 = bpfMapCreate(k, 'ARRAY', 'flex4', 4, 8, 4, { mapFlags: BPF_F_INNER_MAP });
    flexOuter.updateElem(u32b(0), u32b(flex4.fd));
    expect(() => flexOuter.updateElem(u32b(1), u32b(bigger.fd))).toThrow(
      /map_flags 0x0, not 0x1000/,
    );
    const hashTmpl = bpfMapCreate(k, 'HASH', 'htmpl', 4, 8, 1, { mapFlags: BPF_F_NO_PREALLOC });
    expect(() => bpfMapCreate(k, 'HASH', 'hflex', 4, 8, 1, { mapFlags: BPF_F_INNER_MAP })).toThrow(
      /^EINVAL/,
    );
    bpfMapCreate(k, 'HASH_OF_MAPS', 'houter', 4, 4, 2, { innerMapFd: hashTmpl.fd });
  });

  it('creation needs an inner map fd, value_size 4, and does not nest', () => {
    const k = booted();
    const inner = bpfMapCreate(k, 'ARRAY', 'inner', 4, 8, 1);
    expect(() => bpfMapCreate(k, 'ARRAY_OF_MAPS', 'o', 4, 4, 2)).toThrow(
      /^EBADF: a map of maps needs inner_map_fd/,
    );
    expect(() => bpfMapCreate(k, 'ARRAY_OF_MAPS', 'o', 4, 8, 2, { innerMapFd: inner.fd })).toThrow(
      /^EINVAL: value_size 8/,
    );
    expect(() => bpfMapCreate(k, 'HASH_OF_MAPS', 'o', 4, 8, 2, { innerMapFd: inner.fd })).toThrow(
      /^EINVAL: value_size 8/,
    );
    const outer = bpfMapCreate(k, 'ARRAY_OF_MAPS', 'o', 4, 4, 2, { innerMapFd: inner.fd });
    expect(() => bpfMapCreate(k, 'ARRAY_OF_MAPS', 'oo', 4, 4, 2, { innerMapFd: outer.fd })).toThrow(
      "EINVAL: BPF_MAP_TYPE_ARRAY_OF_MAPS 'o': maps of maps do not nest",
    );
  });

  it('an inner map outlives its fd while an outer map holds it, and is freed with the last reference', () => {
    const k = booted();
    const heapBefore = k.kheap.stats().objects;
    const inner = bpfMapCreate(k, 'ARRAY', 'inner', 4, 8, 1);
    inner.updateElem(u32b(0), u64b(44));
    const id = inner.map.id;
    const outer = bpfMapCreate(k, 'ARRAY_OF_MAPS', 'outer', 4, 4, 1, { innerMapFd: inner.fd });
    outer.updateElem(u32b(0), u32b(inner.fd));
    inner.close();
    expect(k.maps.byIdLookup(id)).toBeDefined();
    expect(exitOf(k, twoLevel('outer', '*(u32 *)(r10 - 8) = 0'))).toBe(44);
    outer.deleteElem(u32b(0));
    expect(k.maps.byIdLookup(id)).toBeUndefined();
    outer.close();
    expect(k.kheap.stats().objects).toBe(heapBefore);
  });

  it('programs cannot update or delete a map of maps, as the verifier refuses', () => {
    const k = booted();
    const inner = bpfMapCreate(k, 'HASH', 'inner', 4, 8, 1);
    bpfMapCreate(k, 'HASH_OF_MAPS', 'outer', 4, 4, 1, { innerMapFd: inner.fd });
    exitOf(
      k,
      '*(u32 *)(r10 - 4) = 0\nr1 = outer ll\nr2 = r10\nr2 += -4\ncall bpf_map_delete_elem\nexit',
    );
    expect(ofKind(k, 'oops')[0].lines.join('\n')).toMatch(
      /bpf_map_delete_elem cannot be used on BPF_MAP_TYPE_HASH_OF_MAPS 'outer'/,
    );
  });
});
