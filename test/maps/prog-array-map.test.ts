/**
 * PROG_ARRAY and bpf_tail_call, following the kernel's prog_tests/tailcalls.c
 * (tailcall_1: slots filled, emptied and refilled fall through in order;
 * tailcall_2: a chain of tail calls cut at each link; tailcall_3: the
 * MAX_TAIL_CALL_CNT limit of 33), the interpreter's order of checks, the
 * same frame and r1 after the jump, the create and update errnos of
 * fd_array_map_alloc_check and bpf_fd_array_map_update_elem, and a context
 * resumed from memory alone (as another worker of parallel mode resumes it).
 */

import { describe, expect, it } from 'vitest';
import { CTX_PROG_ID, CTX_TAIL_CALL_CNT } from '../../cpu/context.ts';
import { BPF_F_RDONLY_PROG, BPF_NOEXIST } from '../../maps/bpf-uapi.ts';
import { MAX_TAIL_CALL_CNT } from '../../maps/prog-array-map.ts';
import { bpfMapCreate } from '../../maps/syscall.ts';
import { BPF_PROG_TYPE } from '../../preempt/bpf-prog-table.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { ofKind, run } from '../preempt/machine-fixtures.ts';
import { readU32, readU64, u32b } from './map-bytes.ts';

const booted = (cpus = 2) => new Machine({ cpus }).boot();

/** Loads `source` through BPF_PROG_LOAD; returns its fd. */
const load = (k: Kernel, name: string, source: string, type: number = BPF_PROG_TYPE.SCHED_CLS) =>
  k.progs.load(k.assemble(source, name), { name, type: type as 6 }).fd;

/** Runs `source` as a task with r1 = `r1`; returns its exit code. */
function exitOf(k: Kernel, source: string, r1 = 0x1234): number {
  const t = k.spawn({
    comm: 'entry',
    cpu: 0,
    allowed: [0],
    program: k.assemble(source),
    args: [r1],
  });
  run(k);
  return Number(t.exitCode);
}

const tailCall = (map: string, index: number) => `
  r1 = r6
  r2 = ${map} ll
  r3 = ${index}
  call bpf_tail_call`;

describe('PROG_ARRAY and bpf_tail_call (prog_tests/tailcalls.c)', () => {
  it('tailcall_1: each slot is jumped to while filled; emptied slots fall through to the next', () => {
    const k = booted();
    const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 3);
    const fds = [0, 1, 2].map((i) => load(k, `classifier_${i}`, `r0 = ${i}\nexit`));
    // entry: several call sites per slot, then 3 (tailcall1.c).
    const entry = `r6 = r1\n${[0, 0, 1, 1, 2, 2].map((i) => tailCall('jmp_table', i)).join('\n')}\nr0 = 3\nexit`;
    for (let i = 0; i < 3; i++) jmp.updateElem(u32b(i), u32b(fds[i]));
    for (let i = 0; i < 3; i++) {
      expect(exitOf(k, entry)).toBe(i);
      jmp.deleteElem(u32b(i));
    }
    expect(exitOf(k, entry)).toBe(3);
    for (let i = 2; i >= 0; i--) {
      jmp.updateElem(u32b(i), u32b(fds[i]));
      expect(exitOf(k, entry)).toBe(i);
    }
    // jmp -> jmp: slot 0 now holds classifier_2.
    jmp.updateElem(u32b(0), u32b(fds[2]));
    expect(exitOf(k, entry)).toBe(2);
    expect(() => jmp.deleteElem(u32b(3))).toThrow(/^E2BIG/);
  });

  it('tailcall_2: a chain 0 -> 1 -> 2 ends where a link is missing', () => {
    const k = booted();
    const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 5);
    const c0 = load(k, 'classifier_0', `r6 = r1\n${tailCall('jmp_table', 1)}\nr0 = 0\nexit`);
    const c1 = load(k, 'classifier_1', `r6 = r1\n${tailCall('jmp_table', 2)}\nr0 = 1\nexit`);
    const c2 = load(k, 'classifier_2', 'r0 = 2\nexit');
    for (const [i, fd] of [c0, c1, c2].entries()) jmp.updateElem(u32b(i), u32b(fd));
    const entry = `r6 = r1\n${tailCall('jmp_table', 0)}\nr0 = 3\nexit`;
    expect(exitOf(k, entry)).toBe(2);
    jmp.deleteElem(u32b(2));
    expect(exitOf(k, entry)).toBe(1);
    jmp.deleteElem(u32b(0));
    expect(exitOf(k, entry)).toBe(3);
  });

  it('tailcall_3: a program that tail calls itself runs 1 + MAX_TAIL_CALL_CNT times', () => {
    expect(MAX_TAIL_CALL_CNT).toBe(33);
    const k = booted();
    const count = bpfMapCreate(k, 'ARRAY', 'count', 4, 8, 1);
    const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 1);
    const self = load(
      k,
      'classifier_0',
      `r6 = r1
       r7 = count[0] + 0 ll
       r8 = *(u64 *)(r7 + 0)
       r8 += 1
       *(u64 *)(r7 + 0) = r8
       ${tailCall('jmp_table', 0)}
       r0 = 1
       exit`,
    );
    jmp.updateElem(u32b(0), u32b(self));
    expect(exitOf(k, `r6 = r1\n${tailCall('jmp_table', 0)}\nr0 = 0\nexit`)).toBe(1);
    // The entry's tail call is the first of 33: classifier_0 runs 33 times.
    expect(readU64(count.lookupElem(u32b(0)))).toBe(MAX_TAIL_CALL_CNT);
  });

  it.each(['interp', 'jit'] as const)(
    'a tail call through callx (the helper id in a register) jumps as `call bpf_tail_call` does (%s)',
    (tier) => {
      const k = new Machine({ cpus: 1, tier }).boot();
      const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 1);
      jmp.updateElem(u32b(0), u32b(load(k, 'target', 'r0 = 7\nexit')));
      const entry = 'r1 = r1\nr2 = jmp_table ll\nr3 = 0\nr4 = 12\ncallx r4\nr0 = 3\nexit';
      expect(exitOf(k, entry)).toBe(7);
      jmp.deleteElem(u32b(0));
      expect(exitOf(k, entry)).toBe(3);
    },
  );

  it('the target runs on the same stack frame with the same r1; other registers are kept too', () => {
    const k = booted();
    const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 1);
    const target = load(k, 'target', 'r0 = *(u64 *)(r10 - 8)\nr0 += r1\nr0 += r7\nexit');
    jmp.updateElem(u32b(0), u32b(target));
    const entry = `
      r6 = r1
      r7 = 1000
      r2 = 7
      *(u64 *)(r10 - 8) = r2
      ${tailCall('jmp_table', 0)}
      r0 = 0
      exit`;
    expect(exitOf(k, entry, 0x500)).toBe(7 + 0x500 + 1000);
  });

  it('falls through for an index out of range, leaving r0 and the count as they were', () => {
    const k = booted();
    const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 2);
    jmp.updateElem(u32b(1), u32b(load(k, 'one', 'r0 = 1\nexit')));
    const entry = (i: number) => `
      r6 = r1
      r0 = 42
      r1 = r6
      r2 = jmp_table ll
      r3 = ${i}
      call bpf_tail_call
      exit`;
    expect(exitOf(k, entry(2))).toBe(42);
    expect(exitOf(k, entry(-1))).toBe(42);
    expect(exitOf(k, entry(0))).toBe(42);
    expect(exitOf(k, entry(1))).toBe(1);
  });

  it('a preempted tail-called program resumes in that program, also from its id in memory alone', () => {
    const k = booted(1);
    const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 1);
    const loop = Array.from({ length: 50 }, () => 'r0 += 1').join('\n');
    const fd = load(k, 'long', `r0 = 0\n${loop}\nexit`);
    jmp.updateElem(u32b(0), u32b(fd));
    const t = k.spawn({
      comm: 'entry',
      cpu: 0,
      program: k.assemble(`r6 = r1\n${tailCall('jmp_table', 0)}\nr0 = 99\nexit`),
    });
    k.runCpu(0, 30);
    const ctx = t.ctx!;
    expect(ctx.words[CTX_PROG_ID]).toBe(k.progs.get(fd).id);
    expect(ctx.words[CTX_TAIL_CALL_CNT]).toBe(1);
    // Another worker's handle on this task knows only the task's own program.
    ctx.program = t.body.kind === 'program' ? t.body.program : ctx.program;
    run(k);
    expect(Number(t.exitCode)).toBe(50);
  });

  it('a context naming a program id that is not loaded oopses as corrupted, naming the id', () => {
    const k = booted(1);
    bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 1);
    const t = k.spawn({ comm: 'entry', cpu: 0, program: k.assemble('r0 = 0\nr0 += 1\nexit') });
    k.runCpu(0, 1);
    t.ctx!.words[CTX_PROG_ID] = 77;
    run(k);
    expect(ofKind(k, 'oops')[0].lines.join('\n')).toMatch(/program id 77 is not loaded/);
  });

  it('a tail call from a subprogram faults with a message saying so', () => {
    const k = booted(1);
    const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 1);
    jmp.updateElem(u32b(0), u32b(load(k, 'one', 'r0 = 1\nexit')));
    exitOf(k, `r6 = r1\ncall sub\nexit\nsub:\n${tailCall('jmp_table', 0)}\nr0 = 0\nexit`);
    expect(ofKind(k, 'oops')[0].lines.join('\n')).toMatch(
      /bpf_tail_call from call depth 1: this machine tail calls from the main function only/,
    );
  });

  it('bpf_tail_call on a map that is not a program array faults', () => {
    const k = booted(1);
    bpfMapCreate(k, 'ARRAY', 'arr', 4, 4, 1);
    exitOf(k, `r6 = r1\n${tailCall('arr', 0)}\nr0 = 0\nexit`);
    expect(ofKind(k, 'oops')[0].lines.join('\n')).toMatch(
      /bpf_tail_call: BPF_MAP_TYPE_ARRAY 'arr' is not a program array/,
    );
  });
});

describe('PROG_ARRAY from userspace (fd_array_map ops)', () => {
  it('creation: value_size 4, key_size 4, no *_PROG flags, max_entries > 0', () => {
    const k = booted();
    expect(() => bpfMapCreate(k, 'PROG_ARRAY', 'a', 4, 8, 1)).toThrow(/^EINVAL: value_size 8/);
    expect(() => bpfMapCreate(k, 'PROG_ARRAY', 'a', 8, 4, 1)).toThrow(/^EINVAL: key_size 8/);
    expect(() => bpfMapCreate(k, 'PROG_ARRAY', 'a', 4, 4, 0)).toThrow(/^EINVAL: max_entries is 0/);
    expect(() =>
      bpfMapCreate(k, 'PROG_ARRAY', 'a', 4, 4, 1, { mapFlags: BPF_F_RDONLY_PROG }),
    ).toThrow(/^EINVAL/);
  });

  it('update takes a program fd with BPF_ANY only; lookup gives the program id; delete empties', () => {
    const k = booted();
    const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 2);
    const fd = load(k, 'one', 'r0 = 1\nexit');
    expect(fd).toBe(100);
    expect(() => jmp.lookupElem(u32b(0))).toThrow(/^ENOENT: slot 0/);
    expect(() => jmp.updateElem(u32b(0), u32b(fd), BPF_NOEXIST)).toThrow(/^EINVAL: flags 0x1/);
    expect(() => jmp.updateElem(u32b(2), u32b(fd))).toThrow(/^E2BIG: index 2 >= max_entries 2/);
    expect(() => jmp.updateElem(u32b(0), u32b(3))).toThrow(/^EBADF: fd 3 is not a program/);
    jmp.updateElem(u32b(0), u32b(fd));
    expect(readU32(jmp.lookupElem(u32b(0)))).toBe(k.progs.get(fd).id);
    expect([...jmp.keys()].map((key) => readU32(key))).toEqual([0, 1]);
    jmp.deleteElem(u32b(0));
    expect(() => jmp.deleteElem(u32b(0))).toThrow(/^ENOENT: slot 0/);
  });

  it('the first program stored sets the owner type; a program of another type is EINVAL', () => {
    const k = booted();
    const jmp = bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 2);
    jmp.updateElem(u32b(0), u32b(load(k, 'xdp1', 'r0 = 2\nexit', BPF_PROG_TYPE.XDP)));
    const tc = load(k, 'tc1', 'r0 = 0\nexit', BPF_PROG_TYPE.SCHED_CLS);
    expect(() => jmp.updateElem(u32b(1), u32b(tc))).toThrow(
      "EINVAL: program fd 101 is BPF_PROG_TYPE_SCHED_CLS; BPF_MAP_TYPE_PROG_ARRAY 'jmp_table' holds BPF_PROG_TYPE_XDP programs",
    );
  });

  it('programs may not look a program array up, as the verifier refuses', () => {
    const k = booted(1);
    bpfMapCreate(k, 'PROG_ARRAY', 'jmp_table', 4, 4, 1);
    exitOf(
      k,
      'r1 = jmp_table ll\n*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nexit',
    );
    expect(ofKind(k, 'oops')[0].lines.join('\n')).toMatch(
      /bpf_map_lookup_elem cannot be used on BPF_MAP_TYPE_PROG_ARRAY/,
    );
  });
});
