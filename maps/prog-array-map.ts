/**
 * BPF_MAP_TYPE_PROG_ARRAY (kernel/bpf/arraymap.c, the fd array of
 * programs) and what `bpf_tail_call` (helper 12) does with it.
 *
 * Layout in emulated memory, one block from bpf_map_area_alloc:
 *
 *     struct bpf_array { struct bpf_map map; u32 elem_size; u32 pad; u32 ptrs[]; }
 *
 * where `ptrs[i]` is the id of the program in slot i (the kernel keeps a
 * `struct bpf_prog *`; an id is what a worker of parallel mode can resolve
 * from memory alone), 0 for an empty slot.
 *
 * From userspace, as fd_array_map_alloc_check and the fd array ops: key and
 * value are u32 (EINVAL otherwise, and for BPF_F_RDONLY_PROG or
 * BPF_F_WRONLY_PROG); an update stores the program behind a program fd
 * (BPF_ANY only, else EINVAL; E2BIG past max_entries; EBADF for an fd that
 * is no program; EINVAL for a program of another type than the map's
 * owner, which the first program stored sets, as bpf_prog_map_compatible);
 * a lookup gives the program's id (ENOENT for an empty slot); delete
 * empties a slot (ENOENT when empty already).
 *
 * `bpf_tail_call(ctx, map, index)` is the interpreter's JMP_TAIL_CALL, in
 * its order: an index >= max_entries falls through, so does a run that
 * made MAX_TAIL_CALL_CNT (33) tail calls already; then the count goes up,
 * and an empty slot falls through; else the program is replaced, same
 * registers (r1 the context) and the same stack frame, and the helper does
 * not return. A fall-through leaves every register as it was, as the
 * interpreter does. The count lives in the context (cpu/context.ts
 * CTX_TAIL_CALL_CNT): one per run of the program from its hook.
 *
 * @example
 * const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 8);
 * const p = k.progs.load(k.asm`r0 = 1\nexit`, { name: 'one' });
 * jmp.updateElem(u32(0), u32(p.fd));
 */

import type { CpuContext } from '../cpu/context.ts';
import { CTX_PROG_ID, CTX_TAIL_CALL_CNT } from '../cpu/context.ts';
import type { Cpu } from '../cpu/cpu.ts';
import type { BpfProgTable } from '../preempt/bpf-prog-table.ts';
import { progTypeName } from '../preempt/bpf-prog-table.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { alignUp } from '../segments/ctype.ts';
import { ErrnoError } from '../segments/errno.ts';
import { BpfMap, type BpfMapAttr, bpfMapHeader } from './bpf-map.ts';
import {
  BPF_ANY,
  BPF_F_ACCESS_MASK,
  BPF_F_NUMA_NODE,
  BPF_F_RDONLY_PROG,
  BPF_F_WRONLY_PROG,
} from './bpf-uapi.ts';
import { bpfMapAreaAlloc, bpfMapAreaFree } from './map-area.ts';

/** MAX_TAIL_CALL_CNT: the tail calls one run of a program may make. */
export const MAX_TAIL_CALL_CNT = 33;

const PTRS_OFF = alignUp(bpfMapHeader.size + 8, 8);

export class ProgArrayMap extends BpfMap {
  /** Address of `ptrs[0]`. */
  readonly ptrs: number;
  /** map->owner.type: the program type of the first program stored, or 0. */
  private ownerType = 0;

  /** fd_array_map_alloc_check then array_map_alloc_check. */
  static allocCheck(attr: BpfMapAttr): void {
    if (attr.valueSize !== 4) {
      throw new ErrnoError('EINVAL', `value_size ${attr.valueSize} of a program array is not 4`);
    }
    if (attr.mapFlags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) {
      throw new ErrnoError(
        'EINVAL',
        'a program array takes no BPF_F_RDONLY_PROG/BPF_F_WRONLY_PROG',
      );
    }
    if (attr.maxEntries === 0) throw new ErrnoError('EINVAL', 'max_entries is 0');
    if (attr.keySize !== 4) {
      throw new ErrnoError('EINVAL', `key_size ${attr.keySize} of an array is not 4`);
    }
    if (attr.mapFlags & ~(BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK)) {
      throw new ErrnoError('EINVAL', `map_flags 0x${attr.mapFlags.toString(16)} not allowed here`);
    }
  }

  /** The array of empty slots; ENOMEM when it does not fit. */
  static create(k: Kernel, attr: BpfMapAttr, id: number): ProgArrayMap {
    const addr = bpfMapAreaAlloc(k, PTRS_OFF + 4 * attr.maxEntries);
    if (addr === 0) throw new ErrnoError('ENOMEM', `no memory for ${attr.maxEntries} slots`);
    return new ProgArrayMap(k, attr, id, addr, k.progs);
  }

  private constructor(
    m: Kernel,
    attr: BpfMapAttr,
    id: number,
    addr: number,
    private readonly progs: BpfProgTable,
  ) {
    super(m, attr, id, addr, false);
    this.ptrs = addr + PTRS_OFF;
    this.writeHeader();
    m.memory.write32(addr + bpfMapHeader.size, 4);
  }

  /** The program id in slot `index`, 0 when empty. */
  slot(index: number): number {
    return this.m.memory.read32(this.ptrs + 4 * index);
  }

  /**
   * bpf_tail_call's JMP_TAIL_CALL on CPU `cpu`: replaces the program of
   * `ctx` with slot `index`'s, or falls through (see the top comment).
   */
  tailCall(ctx: CpuContext, cpu: Cpu, index: number): void {
    const w = ctx.words;
    if (index >= this.maxEntries) return;
    if (w[CTX_TAIL_CALL_CNT] >= MAX_TAIL_CALL_CNT) return;
    w[CTX_TAIL_CALL_CNT]++;
    const id = this.slot(index);
    if (id === 0) return;
    const info = this.progs.byIdLookup(id);
    if (info === undefined) {
      throw new ErrnoError(
        'EFAULT',
        `${this.describe} slot ${index} holds program id ${id}, which is not loaded`,
      );
    }
    cpu.tailCall(ctx, info.prog);
    w[CTX_PROG_ID] = id;
  }

  // ---- syscall side -----------------------------------------------------------------

  override sysLookup(key: Uint8Array, value: Uint8Array): void {
    const index = this.index(key);
    const id = index < this.maxEntries ? this.slot(index) : 0;
    if (id === 0) throw new ErrnoError('ENOENT', `slot ${index} of ${this.describe} is empty`);
    new DataView(value.buffer, value.byteOffset).setUint32(0, id, true);
  }

  override sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): void {
    if (flags !== BPF_ANY) {
      throw new ErrnoError(
        'EINVAL',
        `flags 0x${flags.toString(16)} on ${this.describe}: only BPF_ANY`,
      );
    }
    const index = this.index(key);
    if (index >= this.maxEntries) {
      throw new ErrnoError('E2BIG', `index ${index} >= max_entries ${this.maxEntries}`);
    }
    const fd = new DataView(value.buffer, value.byteOffset).getInt32(0, true);
    const info = this.progs.get(fd);
    if (this.ownerType !== 0 && info.type !== this.ownerType) {
      throw new ErrnoError(
        'EINVAL',
        `program fd ${fd} is ${progTypeName(info.type)}; ${this.describe} holds ${progTypeName(this.ownerType)} programs`,
      );
    }
    this.ownerType = info.type;
    this.m.memory.write32(this.ptrs + 4 * index, info.id);
  }

  override sysDelete(key: Uint8Array): void {
    const index = this.index(key);
    if (index >= this.maxEntries) {
      throw new ErrnoError('E2BIG', `index ${index} >= max_entries ${this.maxEntries}`);
    }
    if (this.slot(index) === 0) {
      throw new ErrnoError('ENOENT', `slot ${index} of ${this.describe} is empty`);
    }
    this.m.memory.write32(this.ptrs + 4 * index, 0);
  }

  override sysGetNextKey(key: Uint8Array | null, next: Uint8Array): void {
    const index = key === null ? 0xffffffff : this.index(key);
    if (index === this.maxEntries - 1) {
      throw new ErrnoError('ENOENT', `index ${index} is the last of ${this.describe}`);
    }
    new DataView(next.buffer, next.byteOffset).setUint32(
      0,
      index >= this.maxEntries ? 0 : index + 1,
      true,
    );
  }

  override free(): void {
    bpfMapAreaFree(this.m, this.addr);
  }

  private index(key: Uint8Array): number {
    return new DataView(key.buffer, key.byteOffset).getUint32(0, true);
  }
}
