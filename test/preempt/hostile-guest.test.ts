/**
 * Hostile guests: programs that store garbage, zero and all-ones into the
 * kernel's structures (their own saved context, their run queue, their trace
 * ring), from the running task and from another CPU, under rr, random and
 * PCT. A guest store there is a page fault oops naming the structure
 * (kernel-protection.ts), which keeps its bytes; the same stores made by
 * kernel code (a buggy kfunc, which has full access) are caught when the
 * kernel reads the structure back, with a named report. Either way the
 * bystander on the other CPU finishes with its result, and no JS exception
 * escapes.
 */

import { describe, expect, it } from 'vitest';
import { CTX_DEPTH, CTX_REGS, CTX_STACK_TOP } from '../../cpu/context.ts';
import { runDeterministic, type Strategy } from '../../preempt/engine.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine } from '../../preempt/machine.ts';
import { pct } from '../../preempt/strategies/pct.ts';
import { random } from '../../preempt/strategies/random.ts';
import { roundRobin } from '../../preempt/strategies/round-robin.ts';
import { type Task, taskStruct } from '../../preempt/task.ts';
import { pageFaultIn } from './page-fault-fixtures.ts';

const TASK_STRUCT_OFF = taskStruct.off;

const contextWord = (t: Task, word: number) => t.addr + TASK_STRUCT_OFF.thread + 4 * word;

const strategies: [string, () => Strategy][] = [
  ['rr', () => roundRobin({ quantum: 50 })],
  ['random', () => random({ seed: 5 })],
  ['pct', () => pct({ seed: 5, depth: 3 })],
];

/** A long loop, then exit 0: long enough to be preempted and resumed. */
const spin = (label: string, n: number) => `
  r6 = 0
${label}:
  r6 += 1
  if r6 < ${n} goto ${label}`;

/**
 * Stores `value` (32 bits) at the address in r1, `count` words from it,
 * stepping 4 bytes: with guest stores, or through `buggy_store32`, a kfunc
 * standing for kernel code that corrupts its own structure.
 */
const storeWords = (count: number, value: number, by: By) =>
  by === 'guest'
    ? `
  r2 = ${value}
  r3 = 0
fill:
  *(u32 *)(r1 + 0) = r2
  r1 += 4
  r3 += 1
  if r3 < ${count} goto fill`
    : `
  r6 = r1
  r7 = ${value}
  r8 = 0
fill:
  r1 = r6
  r2 = r7
  call buggy_store32
  r6 += 4
  r8 += 1
  if r8 < ${count} goto fill`;

type By = 'guest' | 'kernel';

interface Case {
  readonly name: string;
  /** The attacker's program; r1 holds `target(k, victim)`. */
  readonly program: (by: By) => string;
  readonly target: (k: Kernel, self: Task, victim: Task) => number;
  /** Bytes at the target the store reaches, compared before and after a guest's attempt. */
  readonly bytes: number;
  /** The attacker runs on the victim's CPU (1) or on the other one (0, attacking CPU 1's victim). */
  readonly from: 'self' | 'other';
  /** The structure a guest store's page fault names. */
  readonly region: string;
  /** What some report's first line says after a kernel store; null when what was stored is a state the kernel could be in. */
  readonly report: RegExp | null;
}

const VALUES = [
  ['garbage', 0x5a5a5a5a],
  ['zero', 0],
  ['all-ones', -1],
] as const;

const cases: Case[] = VALUES.flatMap(([what, v]) => [
  {
    name: `its own saved call depth set to ${what}`,
    program: (by) => `${storeWords(1, v === 0 ? 9 : v, by)}\n${spin('after', 3000)}`,
    target: (_k, self) => contextWord(self, CTX_DEPTH),
    bytes: 4,
    from: 'self',
    region: 'task_struct of attacker/2',
    report:
      /^BUG: saved context of attacker\/\d+ \(task_struct at 0x[0-9a-f]+\) is corrupted: call depth -?\d+ is not in 0\.\.7 at pc \d+$/,
  },
  {
    name: `its own saved r10 set to ${what}`,
    program: (by) => `${storeWords(1, v === 0 ? 4096 : v, by)}\n${spin('after', 3000)}`,
    target: (_k, self) => contextWord(self, CTX_REGS + 20),
    bytes: 4,
    from: 'self',
    region: 'task_struct of attacker/2',
    report:
      /^BUG: saved context of attacker\/\d+ \(task_struct at 0x[0-9a-f]+\) is corrupted: r10 0x[0-9a-f]+ is not the frame pointer/,
  },
  {
    name: `its own stack top set to ${what}`,
    program: (by) => `${storeWords(1, v, by)}\n${spin('after', 3000)}`,
    target: (_k, self) => contextWord(self, CTX_STACK_TOP),
    bytes: 4,
    from: 'self',
    region: 'task_struct of attacker/2',
    report: /^BUG: saved context of attacker\/\d+ \(task_struct at 0x[0-9a-f]+\) is corrupted: /,
  },
  {
    name: `another CPU's task's saved call depth set to ${what}`,
    program: (by) => `${storeWords(1, v === 0 ? 9 : v, by)}\nr0 = 0\nexit`,
    target: (_k, _self, victim) => contextWord(victim, CTX_DEPTH),
    bytes: 4,
    from: 'other',
    region: 'task_struct of victim/2',
    report:
      /^BUG: saved context of victim\/\d+ \(task_struct at 0x[0-9a-f]+\) is corrupted: call depth/,
  },
  {
    name: `its own run queue filled with ${what}`,
    program: (by) => `${storeWords(2 + 64 + 4, v, by)}\ncall schedule\n${spin('after', 3000)}`,
    target: (k) => k.cpus[1].rq.addr,
    bytes: 4 * (2 + 64 + 4),
    from: 'self',
    region: 'run queue of CPU 1',
    report: v === 0 ? null : /^BUG: run queue of CPU 1 at 0x[0-9a-f]+ is corrupted: /,
  },
  {
    name: `its own trace ring filled with ${what}`,
    program: (by) => `${storeWords(4096, v, by)}\n${spin('after', 3000)}`,
    target: (k) => k.tracer!.rings.regions[1].start,
    bytes: 4096 * 4,
    from: 'self',
    region: 'trace ring of CPU 1',
    report: v === 0 ? null : /^BUG: trace ring of CPU 1 at 0x[0-9a-f]+ is corrupted/,
  },
]);

/** Boots two CPUs: a bystander (and, for `other`, the attacker) on CPU 0, the victim or attacker on CPU 1. */
function boot(c: Case, by: By): { k: Kernel; bystander: Task; attacker: Task; victim: Task } {
  const k = new Machine({ cpus: 2 }).boot();
  k.kfuncs.register(9000, 'buggy_store32', (ctx) => {
    k.memory.write32(ctx.regNumber(1), Number(ctx.reg(2) & 0xffff_ffffn));
  });
  const bystander = k.spawn({
    comm: 'bystander',
    cpu: 0,
    allowed: [0],
    program: k.assemble(`${spin('b', 4000)}\nr0 = 0\nexit`),
  });
  const attackerCpu = c.from === 'self' ? 1 : 0;
  const victim = k.spawn({
    comm: c.from === 'self' ? 'attacker' : 'victim',
    cpu: 1,
    allowed: [1],
    program: k.assemble(
      c.from === 'self' ? `${c.program(by)}\nr0 = 0\nexit` : `${spin('v', 4000)}\nr0 = 0\nexit`,
    ),
  });
  const attacker =
    c.from === 'self'
      ? victim
      : k.spawn({
          comm: 'attacker',
          cpu: attackerCpu,
          allowed: [0],
          program: k.assemble(c.program(by)),
        });
  attacker.ctx!.setReg(1, BigInt(c.target(k, attacker, victim)));
  return { k, bystander, attacker, victim };
}

describe('hostile guests in deterministic mode', () => {
  for (const c of cases) {
    for (const [name, strategy] of strategies) {
      it(`${c.name} by a guest store, under ${name}: a page fault naming it, the bytes kept, the bystander finishes`, () => {
        const { k, bystander, attacker } = boot(c, 'guest');
        const at = c.target(k, attacker, attacker);
        const before = c.region.startsWith('trace') ? null : k.memory.readBytes(at, 4);
        const r = runDeterministic(k, strategy(), { maxSteps: 2_000_000 });
        expect(r.crash).toBeUndefined();
        expect(r.end).toBe('finished');
        expect(bystander.exited).toBe(true);
        expect(bystander.exitCode).toBe(0n);
        const oops = k.reports.find((x) => x.kind === 'oops');
        expect(oops?.lines[0]).toMatch(pageFaultIn(c.region));
        expect(oops?.lines[1]).toBe('#PF: supervisor write access in kernel mode');
        expect(oops?.lines[2]).toBe('#PF: error_code(0x0003) - permissions violation');
        // The first store faulted, so the first word is what the kernel left there.
        if (before !== null && c.from === 'other') {
          expect(k.memory.readBytes(at, 4)).toEqual(before);
        }
        expect(k.reports.filter((x) => x.kind === 'oops')).toHaveLength(1);
      });

      it(`${c.name} by kernel code, under ${name}: a named report, the bystander finishes`, () => {
        const { k, bystander } = boot(c, 'kernel');
        const r = runDeterministic(k, strategy(), { maxSteps: 2_000_000 });
        expect(r.crash).toBeUndefined();
        expect(r.end).toBe('finished');
        expect(bystander.exited).toBe(true);
        expect(bystander.exitCode).toBe(0n);
        if (c.report !== null)
          expect(k.reports.map((x) => x.lines[0])).toContainEqual(expect.stringMatching(c.report));
      });
    }
  }

  it('a task that queues its own pid faults on the store into its run queue', () => {
    const k = new Machine({ cpus: 1 }).boot();
    const rq = k.cpus[0].rq;
    const self = k.spawn({
      comm: 'selfqueue',
      program: k.assemble(`
        r2 = *(u32 *)(r1 + 4)
        r3 = r2
        r3 <<= 2
        r4 = r1
        r4 += r3
        *(u32 *)(r4 + 24) = r7
        r2 += 1
        *(u32 *)(r1 + 4) = r2
        call schedule
        r0 = 0
        exit`),
    });
    const other = k.spawn({ comm: 'other', program: k.assemble('r0 = 0\nexit') });
    self.ctx!.setReg(1, BigInt(rq.addr));
    self.ctx!.setReg(7, BigInt(self.pid));
    const r = runDeterministic(k, roundRobin({ quantum: 5 }));
    expect(r.end).toBe('finished');
    const exits = k.tracer!.events().filter((e) => e.type === 'sched_process_exit');
    const pids = exits.map((e) => (e.type === 'sched_process_exit' ? e.taskPid : -1));
    expect(pids.sort()).toEqual([self.pid, other.pid]);
    // The load from the run queue is allowed (read-only), the store is not.
    expect(k.reports.map((x) => x.lines[0])).toEqual([
      expect.stringMatching(pageFaultIn('run queue of CPU 0')),
    ]);
  });
});

describe('spawn options', () => {
  const k = new Machine({ cpus: 2 }).boot();
  const program = k.assemble('r0 = 0\nexit');
  it.each([
    [{ args: [1, 2, 3, 4, 5, 6] }, "task 't': 6 args: a program takes at most 5 (r1..r5)"],
    [{ args: [1.5] }, "task 't': args[0] = 1.5 is not a 64-bit integer"],
    [{ args: [2n ** 64n] }, "task 't': args[0] = 18446744073709551616 is not a 64-bit integer"],
    [{ cpu: 2 }, "task 't': cpu 2 does not exist (CPUs 0..1)"],
    [{ allowed: [0, 7] }, "task 't': allowed CPU 7 does not exist (CPUs 0..1)"],
    [{ allowed: [] }, "task 't': allowed names no CPU"],
  ])('refuses %o with EINVAL', (extra, message) => {
    expect(() => k.spawn({ comm: 't', program, ...extra })).toThrow(`EINVAL: ${message}`);
  });

  it('takes five args into r1..r5, negative ones sign-extended', () => {
    const t = k.spawn({ comm: 'five', program, args: [1, 2, 3, 4, -1] });
    expect([1, 2, 3, 4, 5].map((r) => t.ctx!.reg(r))).toEqual([1n, 2n, 3n, 4n, 2n ** 64n - 1n]);
    expect(t.ctx!.reg(6)).toBe(0n);
  });
});

describe('small abuses', () => {
  it('free_percpu of NaN, a negative or a fractional address is EINVAL, printed as given', () => {
    const k = new Machine({ cpus: 1, sanitizer: false }).boot();
    for (const [p, shown] of [
      [Number.NaN, 'NaN'],
      [-1, '-1'],
      [1.5, '1.5'],
    ] as const) {
      expect(() => k.percpu.free(p)).toThrow(
        `EINVAL: free_percpu(${shown}): not a per-CPU pointer (a non-negative integer)`,
      );
    }
  });

  it('an address above 2^53 is printed as inexact, not as a wrong hex number', () => {
    const k = new Machine({ cpus: 1 }).boot();
    expect(() => k.memory.check(2 ** 64 + 0x3000, 8, 'read')).toThrow(
      'EFAULT: bad read of 8 bytes at an address above 2^53 (about 0x10000000000003000)',
    );
  });

  it('local_bh_enable without local_bh_disable warns as the kernel does and leaves the count', () => {
    const k = new Machine({ cpus: 1 }).boot();
    k.spawn({ comm: 'unbalanced', program: k.assemble('call local_bh_enable\nr0 = 0\nexit') });
    const r = runDeterministic(k, roundRobin());
    expect(r.end).toBe('finished');
    expect(k.reports.map((x) => x.lines[0])).toEqual([
      'WARNING: CPU: 0 PID: 1 local_bh_enable() without local_bh_disable() (softirq count 0)',
    ]);
    expect(k.cpus[0].preemptCount).toBe(0);
  });

  it('the soft-lockup watchdog fires within the default step budget', () => {
    const k = new Machine({ cpus: 4 }).boot();
    k.spawn({ comm: 'hog', program: k.assemble('call preempt_disable\nl:\ngoto l\nexit') });
    runDeterministic(k, roundRobin({ quantum: 1000 }));
    expect(k.reports.some((x) => x.kind === 'soft_lockup')).toBe(true);
  });
});
