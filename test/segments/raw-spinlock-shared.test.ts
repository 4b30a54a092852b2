import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../../segments/memory.ts';
import { RawSpinlock, setThreadsShareMemory } from '../../segments/raw-spinlock.ts';

// Another thread holding the lock as CPU 1. With `release`, once the test's
// thread has seen it held (word 1 set), it releases it (as unlockAt does) 50 ms
// later; without, it holds it until terminated: however late the test's thread
// runs, it finds the lock as the test says.
const HOLDER = `
const { workerData } = require('node:worker_threads');
const words = new Int32Array(workerData.buffer);
const at = workerData.addr >> 2;
Atomics.store(words, at + 1, 1);
Atomics.store(words, at, 1);
Atomics.store(words, 0, 1);
Atomics.notify(words, 0);
if (workerData.release) {
  Atomics.wait(words, 1, 0);
  setTimeout(() => {
    Atomics.store(words, at + 1, -1);
    Atomics.store(words, at, 0);
    Atomics.notify(words, at, 1);
  }, 50);
}
`;

describe('spinlocks in a thread that shares the memory', () => {
  afterEach(() => setThreadsShareMemory(false));

  function heldByAnotherThread(release: boolean) {
    const memory = new PhysicalMemory(1 << 16);
    const lock = RawSpinlock.init(memory, 0x2000);
    const words = new Int32Array(memory.buffer);
    const worker = new Worker(HOLDER, {
      eval: true,
      workerData: { buffer: memory.buffer, addr: 0x2000, release },
    });
    // Until the other thread holds it (a bound only against a thread that never starts).
    expect(Atomics.wait(words, 0, 0, 50_000)).not.toBe('timed-out');
    return { lock, worker, words };
  }

  it('spin until the other CPU releases the lock, instead of reporting a lockup', async () => {
    setThreadsShareMemory(true);
    const { lock, worker, words } = heldByAnotherThread(true);
    expect(lock.holder).toBe(1);
    Atomics.store(words, 1, 1);
    Atomics.notify(words, 1);
    lock.lock(0);
    expect(lock.holder).toBe(0);
    lock.unlock(0);
    await worker.terminate();
  });

  it('report a lockup without it, as the single-threaded engine does', async () => {
    const { lock, worker } = heldByAnotherThread(false);
    expect(() => lock.lock(0)).toThrow(
      'EBUSY: spinlock lockup on CPU#0: lock at 0x2000 is held by CPU#1',
    );
    await worker.terminate();
  });

  it('still report a recursion rather than spin forever on a lock the CPU holds', () => {
    setThreadsShareMemory(true);
    const lock = RawSpinlock.init(new PhysicalMemory(1 << 16), 0x2000);
    lock.lock(3);
    expect(() => lock.lock(3)).toThrow('EBUSY: spinlock recursion on CPU#3');
  });
});
