/**
 * Machines for the parallel runner's tests, one per named export, each a
 * recipe (machine options and a setup) that a worker rebuilds by importing
 * this module. Some inject emulator bugs on purpose.
 */

import type { MachineRecipe } from '../../../preempt/machine.ts';
import { u64 } from '../../../segments/ctype.ts';

/** Guest code on every CPU that counts to `n` in its CPU's `hits`. */
const counting = (n: number) => `
    r6 = 0
  loop:
    r1 = hits ll
    r2 = 1
    call this_cpu_add
    r6 += 1
    if r6 < ${n} goto loop
    r0 = 0
    exit
`;

/** One counting task per CPU, each bound to it. */
export const boundCounters: MachineRecipe = {
  machine: { cpus: 2, tickInterval: 200 },
  define(m) {
    m.definePerCpu('hits', u64, 0n);
  },
  setup(m) {
    const program = m.assemble(counting(2000));
    for (const c of m.cpus) m.spawn({ comm: `count${c.id}`, cpu: c.id, allowed: [c.id], program });
  },
};

/**
 * Six tasks queued on CPU 0, free to run anywhere, behind a kthread bound to
 * CPU 0 that spins and is never preempted (a time slice that never runs out,
 * no periodic balancing): only idle CPU 1 pulling them can run them, however
 * the host schedules the two threads. The kthread keeps no run going, so the
 * run finishes when the six have.
 */
export const crowdedCpu0: MachineRecipe = {
  machine: { cpus: 2, tickInterval: 100, timeSlice: 1e9, balanceInterval: 1e9 },
  define(m) {
    m.definePerCpu('hits', u64, 0n);
  },
  setup(m) {
    const hog = m.assemble('  r6 = 0\nloop:\n  r6 += 1\n  goto loop');
    m.spawn({ comm: 'hog0', cpu: 0, allowed: [0], kthread: true, program: hog });
    const program = m.assemble(counting(3000));
    for (let k = 0; k < 6; k++) m.spawn({ comm: `crowd${k}`, cpu: 0, program });
  },
};

/** The channel on which stuckOnCpu1 says its worker is stuck. */
export const STUCK_CHANNEL = 'percpu-emu-test-stuck-on-cpu1';

/** A guest loop that never ends, on each CPU: runs until stopped. */
export const forever: MachineRecipe = {
  machine: { cpus: 2 },
  setup(m) {
    const program = m.assemble('  r6 = 0\nloop:\n  r6 += 1\n  goto loop');
    for (const c of m.cpus) m.spawn({ comm: `spin${c.id}`, cpu: c.id, allowed: [c.id], program });
  },
};

/** CPU 1's timer handler throws (an emulator bug) on its fifth tick. */
export const throwsOnCpu1: MachineRecipe = {
  machine: { cpus: 2, tickInterval: 100 },
  setup(m) {
    forever.setup(m);
    m.onTimer(1, {
      fn: (mm, cpu) => {
        if (mm.cpus[cpu].ticks >= 5) throw new Error('injected emulator bug');
      },
    });
  },
};

/** CPU 1's worker thread exits from inside its timer handler. */
export const workerExitsOnCpu1: MachineRecipe = {
  machine: { cpus: 2, tickInterval: 100 },
  setup(m) {
    forever.setup(m);
    m.onTimer(1, {
      fn: (mm, cpu) => {
        if (mm.cpus[cpu].ticks >= 5) process.exit(3);
      },
    });
  },
};

/**
 * A guest loop on CPU 0; on CPU 1 a native kthread whose first step says so
 * on STUCK_CHANNEL (a BroadcastChannel, which reaches the test's thread
 * although this one never returns) and never returns.
 */
export const hangsOnCpu1: MachineRecipe = {
  machine: { cpus: 2 },
  setup(m) {
    const program = m.assemble('  r6 = 0\nloop:\n  r6 += 1\n  goto loop');
    m.spawn({ comm: 'spin0', cpu: 0, allowed: [0], program });
    m.spawn({
      comm: 'stuck',
      cpu: 1,
      allowed: [1],
      kthread: true,
      // biome-ignore lint/correctness/useYield: its one step never returns
      *body() {
        new BroadcastChannel(STUCK_CHANNEL).postMessage('stuck');
        for (;;) {
          // a native step that never yields: only terminating the worker ends it
        }
      },
    });
  },
};

/** A native task that may run on either CPU: refused in parallel mode. */
export const unboundNative: MachineRecipe = {
  machine: { cpus: 2 },
  setup(m) {
    m.spawn({
      comm: 'roamer',
      cpu: 0,
      *body() {
        yield;
        return 0;
      },
    });
  },
};

/** A kthread on CPU 0 that spawns a task once running: other workers would not know it. */
export const spawnsWhileRunning: MachineRecipe = {
  machine: { cpus: 2 },
  setup(m) {
    forever.setup(m);
    const program = m.assemble('  r0 = 0\n  exit');
    m.spawn({
      comm: 'spawner',
      cpu: 0,
      kthread: true,
      *body() {
        yield;
        m.spawn({ comm: 'late', cpu: 0, allowed: [0], program });
        return 0;
      },
    });
  },
};

/** Two tasks per CPU, free to migrate, each counting 30 times with a 1 ms sleep after each. */
export const sleepers: MachineRecipe = {
  machine: { cpus: 2, tickInterval: 100 },
  define(m) {
    m.definePerCpu('hits', u64, 0n);
  },
  setup(m) {
    const program = m.assemble(`
        r6 = 0
      loop:
        r1 = hits ll
        r2 = 1
        call this_cpu_add
        r1 = 1
        call msleep
        r6 += 1
        if r6 < 30 goto loop
        r0 = 0
        exit
    `);
    for (let k = 0; k < 4; k++) m.spawn({ comm: `sleeper${k}`, cpu: k % 2, program });
  },
};

/**
 * On every CPU, a task that 300 times allocates a percpu kptr object, writes
 * CPU 0's copy through bpf_per_cpu_ptr inside an RCU read section, reads it
 * back and drops the object (freed after a grace period), counting the
 * round trips that read back what they wrote in its CPU's `ok`; then, on
 * the same CPU, a native task waits for it to exit and for the callbacks
 * still queued there (rcu_barrier), so every drop is freed by the end.
 */
export const kptrRoundTrips: MachineRecipe = {
  machine: { cpus: 2, tickInterval: 200 },
  define(m) {
    m.definePerCpu('ok', u64, 0n);
  },
  setup(m) {
    const program = m.assemble(`
        r6 = 0
      loop:
        r1 = 16
        r2 = 0
        call bpf_percpu_obj_new_impl
        if r0 == 0 goto next
        r7 = r0
        call bpf_rcu_read_lock
        r1 = r7
        r2 = 0
        call bpf_per_cpu_ptr
        *(u64 *)(r0 + 8) = r6
        r8 = *(u64 *)(r0 + 8)
        call bpf_rcu_read_unlock
        r1 = r7
        r2 = 0
        call bpf_percpu_obj_drop_impl
        if r8 != r6 goto next
        r1 = ok ll
        r2 = 1
        call this_cpu_add
      next:
        r6 += 1
        if r6 < 300 goto loop
        r0 = 0
        exit
    `);
    for (const c of m.cpus) {
      const kptr = m.spawn({ comm: `kptr${c.id}`, cpu: c.id, allowed: [c.id], program });
      m.spawn({
        comm: `barrier${c.id}`,
        cpu: c.id,
        allowed: [c.id],
        *body() {
          while (!kptr.exited) yield;
          yield* m.rcuBarrier();
          return 0;
        },
      });
    }
  },
};
