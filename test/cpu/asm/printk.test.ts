import { describe, expect, it } from 'vitest';
import { assemble } from '../../../cpu/asm/pseudo-c.ts';
import { runDeterministic } from '../../../preempt/engine.ts';
import { Machine } from '../../../preempt/machine.ts';
import { roundRobin } from '../../../preempt/strategies/round-robin.ts';

describe('the printk pseudo-instruction', () => {
  it('packs the format on the stack and calls bpf_trace_printk, keeping r6-r9', () => {
    const k = new Machine({ cpus: 1 }).boot();
    const program = k.asm`
      r6 = 41
      r7 = -3
      printk "r6 %d, r7 %d\\n", r6, r7
      r6 += 1
      printk "r6 %d # not a comment", r6
      r0 = r6
      exit`;
    const t = k.spawn({ comm: 'p', program });
    runDeterministic(k, roundRobin());
    expect(t.exitCode).toBe(42n);
    const lines = k.tracer!.events().filter((e) => e.type === 'bpf_trace_printk');
    expect(lines.map((e) => ('text' in e ? e.text : ''))).toEqual([
      'r6 41, r7 -3',
      'r6 42 # not a comment',
    ]);
  });

  it('refuses arguments in r1-r5, more than three, and formats too long for bpf_trace_printk', () => {
    expect(() => assemble('printk "%d", r2')).toThrow(
      /printk argument r2: r1-r5 carry the call's arguments/,
    );
    expect(() => assemble('printk "%d", r6, r7, r8, r9')).toThrow(/at most 3 arguments/);
    expect(() => assemble(`printk "${'x'.repeat(128)}"`)).toThrow(/129 bytes with its NUL > 128/);
    expect(() => assemble('printk "oops')).toThrow(/unterminated string/);
    expect(() => assemble('printk r6')).toThrow(/printk needs a format string/);
  });
});
