import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../preempt/kernel.ts';
import { Machine, type MachineOptions } from '../../preempt/machine.ts';
import { SOFTIRQ_MASK } from '../../preempt/preempt-count.ts';
import { Rcu, rcuStateType } from '../../preempt/rcu.ts';
import { type Task, type TaskBody, taskStruct } from '../../preempt/task.ts';
import { ofKind, run, stepUntil } from './machine-fixtures.ts';

function withRcu(opts: MachineOptions = {}): { m: Kernel; rcu: Rcu; log: string[] } {
  const m = new Machine({ cpus: 2, tickInterval: 10, ...opts }).boot();
  return { m, rcu: m.rcu, log: [] };
}

/** A native task body that yields `n` times. */
function* idle(n: number): TaskBody {
  for (let k = 0; k < n; k++) yield;
  return 0;
}

describe('RCU grace periods', () => {
  it('wait for a reader on another CPU to leave its read section', () => {
    const { m, rcu, log } = withRcu();
    let inside = false;
    m.spawn({
      comm: 'reader',
      cpu: 1,
      allowed: [1],
      *body() {
        rcu.readLock();
        inside = true;
        log.push('lock');
        yield* idle(300);
        log.push('unlock');
        rcu.readUnlock();
        return 0;
      },
    });
    m.spawn({
      comm: 'updater',
      cpu: 0,
      allowed: [0],
      *body() {
        while (!inside) yield;
        log.push('call_rcu');
        rcu.callRcu(() => log.push('callback'));
        yield* idle(600);
        return 0;
      },
    });
    expect(run(m, 7).finished).toBe(true);
    expect(log).toEqual(['lock', 'call_rcu', 'unlock', 'callback']);
    expect(rcu.completed).toBe(1);
  });

  it('wait for a reader that was preempted inside its section and migrated', () => {
    const { m, rcu, log } = withRcu({ cpus: 3, timeSlice: 1 });
    let inside = false;
    const reader = m.spawn({
      comm: 'reader',
      cpu: 1,
      allowed: [1, 2],
      *body() {
        rcu.readLock();
        inside = true;
        yield* idle(400);
        log.push(`unlock on CPU ${m.here().id}`);
        rcu.readUnlock();
        return 0;
      },
    });
    // Competes for CPU 1, so the reader is preempted inside its section.
    m.spawn({ comm: 'hog', cpu: 1, allowed: [1], body: () => idle(600) });
    m.spawn({
      comm: 'updater',
      cpu: 0,
      allowed: [0],
      *body() {
        while (!inside) yield;
        rcu.callRcu(() => log.push('callback'));
        yield* idle(900);
        return 0;
      },
    });
    expect(run(m, 5).finished).toBe(true);
    expect(reader.switches.involuntary).toBeGreaterThan(0n);
    const migrations = m
      .tracer!.events()
      .filter((e) => e.type === 'sched_migrate_task' && e.taskPid === reader.pid);
    expect(migrations.length).toBeGreaterThan(0);
    expect(log).toEqual(['unlock on CPU 2', 'callback']);
  });

  it('are not held by idle CPUs (dynticks-idle)', () => {
    const { m, rcu } = withRcu({ cpus: 4 });
    let ran = false;
    m.spawn({
      comm: 'updater',
      cpu: 0,
      *body() {
        rcu.callRcu(() => {
          ran = true;
        });
        yield* idle(100);
        return 0;
      },
    });
    // Only CPU 0 ever runs.
    for (let k = 0; k < 20 && !ran; k++) m.runCpu(0, 10);
    expect(ran).toBe(true);
    expect(m.cpus.slice(1).every((c) => c.clock === 0)).toBe(true);
  });

  it('do not end on ticks inside preempt_disable(): such a region is a reader too', () => {
    const { m, rcu } = withRcu({ cpus: 1 });
    let enabled = false;
    m.spawn({
      comm: 'atomic',
      cpu: 0,
      *body() {
        m.preemptDisable();
        rcu.callRcu(() => {});
        yield* idle(100);
        m.preemptEnable();
        enabled = true;
        yield* idle(100);
        return 0;
      },
    });
    m.runCpu(0, 90);
    expect(m.cpus[0].ticks).toBeGreaterThan(5);
    expect(rcu.completed).toBe(0);
    while (!enabled) m.runCpu(0, 1);
    m.runCpu(0, 30);
    expect(rcu.completed).toBe(1);
  });

  it('run callbacks in RCU_SOFTIRQ on the CPU that queued them, in queue order', () => {
    const { m, rcu } = withRcu();
    const seen: string[] = [];
    m.spawn({
      comm: 'queuer',
      cpu: 1,
      allowed: [1],
      *body() {
        for (const name of ['a', 'b']) {
          rcu.callRcu(() => {
            const c = m.here();
            seen.push(`${name} on CPU ${c.id}, softirq ${(c.preemptCount & SOFTIRQ_MASK) !== 0}`);
          });
        }
        yield* idle(200);
        return 0;
      },
    });
    run(m, 10);
    expect(seen).toEqual(['a on CPU 1, softirq true', 'b on CPU 1, softirq true']);
    const rcuSoftirqs = m
      .tracer!.events()
      .filter((e) => e.type === 'softirq_entry' && e.name === 'RCU');
    expect(rcuSoftirqs.length).toBeGreaterThan(0);
    expect(rcuSoftirqs.every((e) => e.cpu === 1)).toBe(true);
  });

  it('report a callback that throws as an oops and still run the others', () => {
    const { m, rcu } = withRcu({ cpus: 1 });
    let after = false;
    m.spawn({
      comm: 'queuer',
      cpu: 0,
      *body() {
        rcu.callRcu(() => {
          throw new Error('no such object');
        });
        rcu.callRcu(() => {
          after = true;
        });
        yield* idle(200);
        return 0;
      },
    });
    run(m, 10);
    expect(ofKind(m, 'oops')[0].lines).toEqual([
      'BUG: an RCU callback failed: no such object',
      expect.stringMatching(/^CPU: 0 PID: \d+ Comm: /),
    ]);
    expect(after).toBe(true);
  });

  it('queue a callback made during a grace period for the next one', () => {
    const { m, rcu } = withRcu({ cpus: 1 });
    const order: number[] = [];
    m.spawn({
      comm: 'queuer',
      cpu: 0,
      *body() {
        rcu.callRcu(() => order.push(rcu.completed));
        expect(rcu.gpInProgress).toBe(true);
        rcu.callRcu(() => order.push(rcu.completed));
        yield* idle(200);
        return 0;
      },
    });
    run(m, 10);
    // The first started grace period 1; the second, queued during it, waits for period 2.
    expect(order).toEqual([1, 2]);
    expect(rcu.completed).toBe(2);
  });
});

describe('RCU readers', () => {
  it('nest per task', () => {
    const { m, rcu } = withRcu({ cpus: 1 });
    const depths: number[] = [];
    m.spawn({
      comm: 'nester',
      cpu: 0,
      *body() {
        rcu.readLock();
        rcu.readLock();
        depths.push(rcu.depth());
        rcu.readUnlock();
        depths.push(rcu.depth());
        rcu.readUnlock();
        depths.push(rcu.depth());
        yield;
        return 0;
      },
    });
    run(m);
    expect(depths).toEqual([2, 1, 0]);
  });

  it('warns on rcu_read_unlock() without rcu_read_lock()', () => {
    const { m, rcu } = withRcu({ cpus: 1 });
    m.spawn({
      comm: 'unbalanced',
      cpu: 0,
      *body() {
        rcu.readUnlock();
        yield;
        return 0;
      },
    });
    run(m);
    const [w] = ofKind(m, 'warning');
    expect(w.lines[1]).toBe('rcu_read_unlock() in unbalanced/1 without rcu_read_lock()');
  });

  it('a task that exits inside its read section is warned about and holds no grace period', () => {
    const { m, rcu } = withRcu({ cpus: 1 });
    let ran = false;
    m.spawn({
      comm: 'leaver',
      cpu: 0,
      *body() {
        rcu.readLock();
        rcu.callRcu(() => {
          ran = true;
        });
        yield;
        return 0;
      },
    });
    m.spawn({ comm: 'after', cpu: 0, body: () => idle(100) });
    run(m);
    expect(ofKind(m, 'warning')[0].lines).toEqual([
      'WARNING: leaver/1 still has locks held!',
      ' #0: (rcu_read_lock){....}, nesting 1',
    ]);
    expect(ran).toBe(true);
  });
});

describe('waiting for RCU from native tasks', () => {
  it('synchronizeRcu sleeps until a reader that was inside has left', () => {
    const { m, rcu, log } = withRcu();
    let inside = false;
    m.spawn({
      comm: 'reader',
      cpu: 1,
      allowed: [1],
      *body() {
        rcu.readLock();
        inside = true;
        yield* idle(200);
        log.push('reader done');
        rcu.readUnlock();
        return 0;
      },
    });
    const updater = m.spawn({
      comm: 'updater',
      cpu: 0,
      allowed: [0],
      *body() {
        while (!inside) yield;
        yield* m.synchronizeRcu();
        log.push('synchronized');
        return 0;
      },
    });
    run(m, 5);
    expect(log).toEqual(['reader done', 'synchronized']);
    expect(updater.switches.voluntary).toBeGreaterThan(0n); // it slept
  });

  it('synchronizeRcu inside a read section is refused', () => {
    const { m, rcu } = withRcu({ cpus: 1 });
    m.spawn({
      comm: 'selfwait',
      cpu: 0,
      *body() {
        rcu.readLock();
        yield* m.synchronizeRcu();
        return 0;
      },
    });
    run(m);
    expect(ofKind(m, 'oops')[0].lines[0]).toBe(
      'BUG: EINVAL: illegal synchronize_rcu() in an RCU read-side critical section: it would wait for itself',
    );
  });

  it('rcuBarrier returns once every callback queued before it has run, on every CPU', () => {
    const { m, rcu } = withRcu({ cpus: 3 });
    const ran: number[] = [];
    for (const cpu of [0, 1, 2]) {
      m.spawn({
        comm: `queuer${cpu}`,
        cpu,
        allowed: [cpu],
        *body() {
          rcu.callRcu(() => ran.push(cpu));
          yield;
          return 0;
        },
      });
    }
    let afterBarrier: number[] = [];
    m.spawn({
      comm: 'barrier',
      cpu: 0,
      allowed: [0],
      *body() {
        yield;
        yield* m.rcuBarrier();
        afterBarrier = [...ran];
        return 0;
      },
    });
    run(m, 3);
    expect(afterBarrier.sort()).toEqual([0, 1, 2]);
    expect(rcu.pendingCallbacks).toBe(0);
  });
});

/**
 * One CPU: a reader preempted inside its section by a hog, then a grace
 * period started from host code, which the blocked reader holds.
 */
function blockedReader(): { m: Kernel; rcu: Rcu; reader: Task } {
  const { m, rcu } = withRcu({ cpus: 1, timeSlice: 1 });
  const reader = m.spawn({
    comm: 'reader',
    cpu: 0,
    *body() {
      rcu.readLock();
      yield* idle(50);
      rcu.readUnlock();
      return 0;
    },
  });
  m.spawn({ comm: 'hog', cpu: 0, body: () => idle(200) });
  stepUntil(m, 0, () => rcu.isBlockedReader(reader));
  rcu.callRcu(() => {});
  return { m, rcu, reader };
}

describe('RCU state in emulated memory', () => {
  it('is an rcu_state region whose gp_seq counts grace periods above two state bits', () => {
    const { m, rcu } = blockedReader();
    const region = m.map.regions().find((r) => r.name === 'rcu_state');
    expect(region?.start).toBe(rcu.addr);
    const slots = m.map.regions().find((r) => r.name === 'task structs')!.size / taskStruct.size;
    const type = rcuStateType(slots);
    expect(region?.size).toBe(type.size);
    const gpSeq = () => m.memory.read32(rcu.addr + type.field('gp_seq').offset);
    expect(gpSeq()).toBe(1); // 0 completed, one in progress
    run(m);
    expect(rcu.completed).toBe(1);
    expect(gpSeq()).toBe(4);
  });

  it('is seen whole by a second handle over the same memory', () => {
    const { m, rcu, reader } = blockedReader();
    const other = new Rcu(m, rcu.addr, rcu.taskStructs);
    expect(other.gpInProgress).toBe(true);
    expect(other.completed).toBe(0);
    expect(other.gpStart).toBe(rcu.gpStart);
    expect(other.owesQs(0)).toBe(true);
    expect(other.isBlockedReader(reader)).toBe(true);
    expect(other.holdsGracePeriod(reader)).toBe(true);
    expect(other.depth(reader)).toBe(1);
    run(m);
    expect(other.completed).toBe(1);
    expect(other.gpInProgress).toBe(false);
    expect(other.owesQs(0)).toBe(false);
    expect(other.isBlockedReader(reader)).toBe(false);
    expect(other.holdsGracePeriod(reader)).toBe(false);
  });

  it("keeps a reader's nesting in its task_struct", () => {
    const { m, rcu, reader } = blockedReader();
    const at = reader.addr + taskStruct.field('rcu_read_lock_nesting').offset;
    expect(m.memory.read32(at)).toBe(1);
    m.memory.write32(at, 3);
    expect(rcu.depth(reader)).toBe(3);
    m.memory.write32(at, 1);
    run(m);
    expect(m.memory.read32(at)).toBe(0);
  });

  it("runs a handle's callbacks once the shared gp_seq has passed their grace period", () => {
    const { m, rcu } = withRcu({ cpus: 1 });
    m.spawn({ comm: 'worker', cpu: 0, body: () => idle(100) });
    m.runCpu(0, 1);
    const other = new Rcu(m, rcu.addr, rcu.taskStructs);
    let ran = false;
    other.callRcu(() => {
      ran = true;
    });
    expect(rcu.gpInProgress).toBe(true); // started through the other handle, seen by the machine's
    run(m);
    expect(rcu.completed).toBe(1);
    expect(ran).toBe(false); // queued in the other handle's lists, which the machine does not run
    other.invokeCallbacks(m.cpus[0]);
    expect(ran).toBe(true);
  });
});

describe('the rcu_node lock', () => {
  it('is free between RCU calls and while callbacks run', () => {
    const { m, rcu, reader } = blockedReader();
    const heldInCallback: boolean[] = [];
    rcu.callRcu(() => heldInCallback.push(rcu.lock.locked));
    expect(rcu.lock.locked).toBe(false);
    run(m);
    expect(reader.exited).toBe(true);
    expect(heldInCallback).toEqual([false]);
    expect(rcu.lock.locked).toBe(false);
    expect(rcu.lock.holder).toBe(-1);
  });

  it('taken twice by one CPU is a recursion (EBUSY), and is one lock for every handle', () => {
    const { m, rcu } = withRcu({ cpus: 2 });
    rcu.lock.lock(0);
    expect(() => rcu.callRcu(() => {})).toThrow(/^EBUSY: spinlock recursion on CPU#0/);
    rcu.lock.unlock(0);
    const other = new Rcu(m, rcu.addr, rcu.taskStructs);
    rcu.lock.lock(1);
    expect(other.lock.holder).toBe(1);
    expect(() => other.callRcu(() => {})).toThrow(
      /^EBUSY: spinlock lockup on CPU#0: lock at 0x[0-9a-f]+ is held by CPU#1/,
    );
    rcu.lock.unlock(1);
    // Every CPU idle and called from host code: the grace period ends as it starts.
    other.callRcu(() => {});
    expect(other.lock.locked).toBe(false);
    expect(rcu.completed).toBe(1);
  });
});
