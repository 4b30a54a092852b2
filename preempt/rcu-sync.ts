/**
 * The blocking RCU calls of native tasks (kernel/rcu/tree.c's
 * synchronize_rcu and rcu_barrier, wait_rcu_gp's shape): the calling task
 * queues an RCU callback that wakes it, and sleeps in TASK_UNINTERRUPTIBLE
 * until it runs. The kernel offers them as `k.synchronizeRcu()` and
 * `k.rcuBarrier()`.
 *
 * Context: a native task's body, on its CPU; `yield*` the result.
 *
 * @example
 * k.spawn({ comm: 'updater', *body() { unpublish(); yield* k.synchronizeRcu(); free(); return 0; } });
 */

import { ErrnoError } from '../segments/errno.ts';
import type { Kernel, TaskWait } from './kernel.ts';
import { wakeUpProcess } from './scheduler.ts';
import { TASK_UNINTERRUPTIBLE } from './task.ts';

/**
 * synchronize_rcu(): returns once a full grace period has elapsed, so every
 * reader that was inside a read section at the call has left it. The task
 * sleeps meanwhile; it must not be a reader itself (EINVAL).
 */
export function* synchronizeRcu(k: Kernel): TaskWait {
  const rcu = k.rcu;
  if (rcu.depth() > 0) {
    throw new ErrnoError(
      'EINVAL',
      'illegal synchronize_rcu() in an RCU read-side critical section: it would wait for itself',
    );
  }
  let done = false;
  const wake = sleeper(k);
  rcu.callRcu(() => {
    done = true;
    wake();
  });
  while (!done) yield* wake.sleep();
}

/**
 * rcu_barrier(): returns once every callback queued before the call, on
 * any CPU, has run. The task sleeps meanwhile.
 */
export function* rcuBarrier(k: Kernel): TaskWait {
  const rcu = k.rcu;
  let left = 0;
  const wake = sleeper(k);
  // A marker at the end of each CPU's list runs after every callback before it.
  for (const c of k.cpus) {
    if (rcu.pendingCallbacksOn(c.id) === 0) continue;
    left++;
    rcu.callRcu(() => {
      if (--left === 0) wake();
    }, c.id);
  }
  while (left > 0) yield* wake.sleep();
}

/**
 * The calling native task's sleep and its wake-up: `yield* s.sleep()` puts
 * it to sleep (TASK_UNINTERRUPTIBLE) until `s()` is called.
 */
function sleeper(k: Kernel): (() => void) & { sleep(): TaskWait } {
  const task = k.here().curr;
  const wake = () => {
    if (task.state === TASK_UNINTERRUPTIBLE) wakeUpProcess(k, task, task.cpu);
  };
  return Object.assign(wake, {
    *sleep(): TaskWait {
      task.state = TASK_UNINTERRUPTIBLE;
      k.here().reschedRequested = true;
      yield;
    },
  });
}
