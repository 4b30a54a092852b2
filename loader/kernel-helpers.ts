/**
 * The helpers and kfuncs compiled libbpf programs call that the machine's
 * own guest interface lacks, installed on a kernel by the first object
 * loaded into it (each only when nothing has that id or name yet):
 *
 *   14 bpf_get_current_pid_tgid   tgid << 32 | pid of the current task (tgid = pid)
 *   15 bpf_get_current_uid_gid    0: every task is root
 *   16 bpf_get_current_comm(buf, size)   the task's comm, NUL-terminated
 *  181 bpf_loop(nr, callback, ctx, flags)  callback(i, ctx) until it returns 1
 *
 *   kfuncs (ids from 400) bpf_iter_num_new/next/destroy, the open-coded
 *   iterator `bpf_for` is built on: `struct bpf_iter_num` on the program's
 *   stack holds { int cur; int end; } (kernel/bpf/bpf_iter.c's
 *   bpf_iter_num_kern).
 *
 * Every call runs whole on the calling CPU, like the machine's other helpers.
 *
 * @example
 * installLoaderHelpers(k);
 * k.kfuncs.byNameLookup('bpf_iter_num_next')?.id; // 401
 */

import type { CpuContext } from '../cpu/context.ts';
import type { Cpu } from '../cpu/cpu.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { ERRNO } from '../segments/errno.ts';

/** BPF_MAX_LOOPS: the most iterations bpf_loop and bpf_iter_num allow. */
export const BPF_MAX_LOOPS = 8 * 1024 * 1024;

export const LOADER_KFUNCS = {
  bpf_iter_num_new: 400,
  bpf_iter_num_next: 401,
  bpf_iter_num_destroy: 402,
} as const;

const i32 = (ctx: CpuContext, r: number) => ctx.regU32(r) | 0;

/** Installs what is missing; idempotent. */
export function installLoaderHelpers(k: Kernel): void {
  const helper = (id: number, name: string, fn: (ctx: CpuContext, cpu: Cpu) => void) => {
    if (k.helpers.get(id) === undefined) k.helpers.register(id, name, fn);
  };
  const kfunc = (name: keyof typeof LOADER_KFUNCS, fn: (ctx: CpuContext) => void) => {
    if (k.kfuncs.byNameLookup(name) === undefined) k.kfuncs.register(LOADER_KFUNCS[name], name, fn);
  };
  helper(14, 'bpf_get_current_pid_tgid', (ctx) => {
    const pid = k.here().curr.pid;
    ctx.setRegNumber(0, pid * 0x1_0000_0000 + pid);
  });
  helper(15, 'bpf_get_current_uid_gid', (ctx) => ctx.setRegNumber(0, 0));
  helper(16, 'bpf_get_current_comm', (ctx) => {
    const buf = ctx.regNumber(1);
    const size = ctx.regU32(2);
    if (size === 0) {
      ctx.setRegNumber(0, -ERRNO.EINVAL);
      return;
    }
    k.memory.check(buf, size, 'write');
    const comm = new TextEncoder().encode(k.here().curr.comm).subarray(0, size - 1);
    k.memory.fill(buf, size, 0);
    k.memory.writeBytes(buf, comm);
    ctx.setRegNumber(0, 0);
  });
  helper(181, 'bpf_loop', (ctx, cpu) => {
    const nr = ctx.regU32(1);
    const callback = ctx.regNumber(2);
    const cbCtx = ctx.regNumber(3);
    if (ctx.regNumber(4) !== 0) return ctx.setRegNumber(0, -ERRNO.EINVAL);
    if (nr > BPF_MAX_LOOPS) return ctx.setRegNumber(0, -ERRNO.E2BIG);
    let i = 0;
    while (i < nr) {
      const ret = cpu.callback(ctx, callback, [i, cbCtx]);
      i++;
      if (ret === 1) break;
    }
    ctx.setRegNumber(0, i);
  });
  kfunc('bpf_iter_num_new', (ctx) => {
    const it = ctx.regNumber(1);
    const start = i32(ctx, 2);
    const end = i32(ctx, 3);
    k.memory.check(it, 8, 'write');
    if (start > end || end - start > BPF_MAX_LOOPS) {
      k.memory.write32(it, 0);
      k.memory.write32(it + 4, 0);
      ctx.setRegNumber(0, start > end ? -ERRNO.EINVAL : -ERRNO.E2BIG);
      return;
    }
    k.memory.write32(it, (start - 1) >>> 0);
    k.memory.write32(it + 4, end >>> 0);
    ctx.setRegNumber(0, 0);
  });
  kfunc('bpf_iter_num_next', (ctx) => {
    const it = ctx.regNumber(1);
    const cur = k.memory.read32(it) | 0;
    const end = k.memory.read32(it + 4) | 0;
    if (cur + 1 >= end) {
      k.memory.write32(it, 0);
      k.memory.write32(it + 4, 0);
      ctx.setRegNumber(0, 0);
      return;
    }
    k.memory.write32(it, (cur + 1) >>> 0);
    ctx.setRegNumber(0, it);
  });
  kfunc('bpf_iter_num_destroy', (ctx) => {
    const it = ctx.regNumber(1);
    k.memory.write32(it, 0);
    k.memory.write32(it + 4, 0);
  });
}
