import { describe, expect, it } from 'vitest';
import { attachMachine, viewRemoteCpus } from '../../../preempt/parallel/attach.ts';
import { stalePointer } from '../../../scenarios/races/stale-pointer.ts';
import { PhysicalMemory } from '../../../segments/memory.ts';

describe('attaching a machine over shared memory', () => {
  it('rebuilds the same machine, byte for byte, over a buffer another thread set up', () => {
    const recipe = stalePointer('fixed-guard');
    const buffer = new SharedArrayBuffer(64 << 20);
    const first = attachMachine(recipe, {}, buffer, 0);
    const snapshot = new Uint8Array(buffer.slice(0));
    const again = attachMachine(recipe, {}, buffer, first.dirtyEnd);
    expect(again.layout).toBe(first.layout);
    expect(again.ctl.addr).toBe(first.ctl.addr);
    expect(Buffer.compare(new Uint8Array(buffer), snapshot)).toBe(0);
    expect(again.liveTasks.map((t) => t.addr)).toEqual(first.liveTasks.map((t) => t.addr));
    expect(first.dirtyEnd).toBeLessThan(buffer.byteLength);
  });

  it('refuses a shared buffer of another size than the memory', () => {
    expect(() => new PhysicalMemory(1 << 16, new SharedArrayBuffer(1 << 15))).toThrow(
      'EINVAL: shared buffer of 32768 bytes does not match memory size 65536',
    );
  });

  it('shows other CPUs running what their run queue says, and refuses to set it', () => {
    const { machine: m } = attachMachine(
      stalePointer('racy'),
      {},
      new SharedArrayBuffer(64 << 20),
      0,
    );
    viewRemoteCpus(m, 0);
    const [own, remote] = m.cpus;
    const task = m.tasks.get(2)!;
    remote.rq.curr = task.addr; // what CPU 1's worker writes when it switches to the task
    expect(remote.curr).toBe(task);
    expect(remote.isIdle).toBe(false);
    expect(own.curr).toBe(own.idle);
    expect(() => {
      remote.curr = remote.idle;
    }).toThrow("EPERM: CPU 1's running task is set by its own worker");
  });
});
