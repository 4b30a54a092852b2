import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../../preempt/kernel.ts';
import { Machine } from '../../../preempt/machine.ts';
import {
  IPI_CALL_FUNCTION,
  IPI_RESCHEDULE,
  IPI_STOP,
  ParallelControl,
  StopRequested,
} from '../../../preempt/parallel/mailbox.ts';

function control(cpus = 2): { m: Kernel; ctl: ParallelControl } {
  const m = new Machine({ cpus, memorySize: 16 << 20, trace: false }).boot();
  return { m, ctl: ParallelControl.reserve(m) };
}

describe('the parallel control block', () => {
  it('is a region of emulated memory reserved after the machine, one 64-byte line per CPU', () => {
    const { m, ctl } = control(4);
    const region = m.map.regions().at(-1)!;
    expect(region).toEqual({ name: 'parallel control', start: ctl.addr, size: 64 + 4 * 64 });
    expect(ctl.stopped).toBe(false);
    expect(ctl.crashedCpu).toBe(-1);
    expect(ctl.schedLock.locked).toBe(false);
  });

  it('accumulates IPI bits in the mailbox until the CPU takes them all at once', () => {
    const { ctl } = control();
    ctl.sendIpi(1, IPI_RESCHEDULE);
    ctl.sendIpi(1, IPI_CALL_FUNCTION);
    ctl.sendIpi(1, IPI_RESCHEDULE);
    expect(ctl.takeIpis(0)).toBe(0);
    expect(ctl.takeIpis(1)).toBe(IPI_RESCHEDULE | IPI_CALL_FUNCTION);
    expect(ctl.takeIpis(1)).toBe(0);
    expect(ctl.counters(1)).toMatchObject({ cpu: 1, ipis: 1, halted: false });
  });

  it('halts only while no IPI is pending, and counts the halt', () => {
    const { ctl } = control();
    ctl.sendIpi(0, IPI_RESCHEDULE);
    ctl.halt(0, 10_000); // returns at once: the mailbox is not empty
    expect(ctl.isHalted(0)).toBe(false);
    expect(ctl.counters(0).idleWaits).toBe(1);
    expect(ctl.takeIpis(0)).toBe(IPI_RESCHEDULE);
  });

  it('stops every CPU with the flag and a stop IPI; the first crash is the one kept', () => {
    const { ctl } = control(3);
    ctl.markCrashed(2);
    ctl.markCrashed(0);
    expect(ctl.crashedCpu).toBe(2);
    expect(ctl.stopped).toBe(true);
    for (const cpu of [0, 1, 2]) expect(ctl.takeIpis(cpu)).toBe(IPI_STOP);
  });

  it('stops waiting for a call-function answer once the machine stops', () => {
    const { ctl } = control();
    ctl.requestStop();
    expect(() => ctl.smpCallFunctionSingle(0, 1)).toThrow(StopRequested);
    expect(ctl.takeIpis(1)).toBe(IPI_STOP | IPI_CALL_FUNCTION);
  });

  it('gives up waiting for the scheduler lock, or the start line, once the machine stops', () => {
    const { ctl } = control();
    ctl.lock(1);
    expect(ctl.schedLock.holder).toBe(1);
    ctl.requestStop();
    expect(() => ctl.lock(0)).toThrow('EAGAIN: CPU 0 was asked to stop while waiting');
    expect(() => ctl.arriveAndWait(0)).toThrow(StopRequested);
    ctl.unlock(1);
    ctl.lock(0);
    expect(ctl.schedLock.holder).toBe(0);
  });

  it('lets the last CPU to arrive open the start line', () => {
    const { ctl } = control(1);
    expect(() => ctl.arriveAndWait(0)).not.toThrow();
  });

  it('publishes clocks past 2^32 and sums them into the trace clock', () => {
    const { ctl } = control();
    ctl.publishClock(0, 2 ** 33 + 5);
    ctl.publishClock(1, 7);
    expect(ctl.clockOf(0)).toBe(2 ** 33 + 5);
    expect(ctl.steps()).toBe(2 ** 33 + 12);
  });
});
