import { describe, expect, it } from 'vitest';
import { array, s32, struct, u8, u16, u32, u64 } from '../../segments/ctype.ts';
import { CACHELINE, Linker } from '../../segments/linker.ts';
import { PAGE_SIZE } from '../../segments/memory.ts';

describe('ctype layouts', () => {
  it('lays out structs with C alignment and padding', () => {
    const t = struct('t', [
      ['a', u8],
      ['b', u64],
      ['c', u16],
    ]);
    expect(t.field('b').offset).toBe(8);
    expect(t.field('c').offset).toBe(16);
    expect(t.size).toBe(24);
    expect(array(u32, 5).size).toBe(20);
    expect(() => t.field('d')).toThrow("ENOENT: struct t has no field 'd'");
  });
});

describe('the .data..percpu layout (PERCPU_INPUT)', () => {
  it('orders subsections first, page_aligned, read_mostly, plain, shared_aligned', () => {
    const l = new Linker();
    l.definePerCpu('plain_var', u64, 7n);
    l.definePerCpu('shared', u32, 1, { subsection: 'shared_aligned' });
    l.definePerCpu('rm', s32, -1, { subsection: 'read_mostly' });
    l.definePerCpu('page', u8, 3, { subsection: 'page_aligned' });
    l.definePerCpu('first', u32, 9, { subsection: 'first' });
    const image = l.link(0x10000);
    const at = (n: string) => image.symbols.get(n)!.address;
    expect(at('first')).toBe(0); // __per_cpu_start: zero-based
    expect(at('page')).toBe(PAGE_SIZE); // . = ALIGN(PAGE_SIZE)
    expect(at('rm')).toBe(PAGE_SIZE + CACHELINE); // . = ALIGN(cacheline)
    expect(at('plain_var')).toBe(PAGE_SIZE + 2 * CACHELINE); // . = ALIGN(cacheline)
    expect(at('shared') % CACHELINE).toBe(0); // ____cacheline_aligned
    expect(at('shared')).toBe(PAGE_SIZE + 3 * CACHELINE);
    expect(image.percpuTemplate.length).toBe(at('shared') + 4);
  });

  it('puts initial values into the template', () => {
    const l = new Linker();
    l.definePerCpu('x', u64, 0x1122334455667788n);
    l.definePerCpu(
      'pair',
      struct('pair', [
        ['a', u32],
        ['b', u32],
      ]),
      { b: 5 },
    );
    const image = l.link(0x10000);
    const view = new DataView(image.percpuTemplate.buffer);
    expect(view.getBigUint64(image.symbols.get('x')!.address, true)).toBe(0x1122334455667788n);
    expect(view.getUint32(image.symbols.get('pair')!.address + 4, true)).toBe(5);
  });

  it('honours extra alignment and refuses bad definitions with the name', () => {
    const l = new Linker();
    l.definePerCpu('a', u8, 0);
    l.definePerCpu('b', u8, 0, { align: 256 });
    expect(l.link(0x10000).symbols.get('b')!.address % 256).toBe(0);
    const m = new Linker();
    m.definePerCpu('dup', u8);
    expect(() => m.definePerCpu('dup', u8)).toThrow("EEXIST: symbol 'dup' is already defined");
    expect(() => m.definePerCpu('bad name', u8)).toThrow(
      "EINVAL: 'bad name' is not a C identifier",
    );
    expect(() => m.definePerCpu('c', u8, 0, { align: 3 })).toThrow('alignment 3 of');
    expect(() => m.definePerCpu('d', u32, 'x')).toThrow('u32 initializer x is not a number');
  });

  it('places .data then .bss at the given base', () => {
    const l = new Linker();
    l.defineData('d', u32, 5);
    l.defineBss('z', u64);
    const image = l.link(0x20000);
    expect(image.symbols.get('d')!.address).toBe(0x20000);
    expect(image.symbols.get('z')!.address).toBe(0x20008);
    expect(image.data.bytes.length + image.data.bssSize).toBe(16); // .bss padding included
    expect(() => l.definePerCpu('late', u8)).toThrow('EBUSY');
  });
});
