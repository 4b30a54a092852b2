import { describe, expect, it } from 'vitest';
import { ErrnoError } from '../../segments/errno.ts';
import { MemoryAccessError, PAGE_SIZE, PhysicalMemory } from '../../segments/memory.ts';

describe('PhysicalMemory', () => {
  it('is one SharedArrayBuffer of the requested size', () => {
    const mem = new PhysicalMemory(1 << 16);
    expect(mem.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(mem.size).toBe(1 << 16);
  });

  it('reads and writes little-endian values of every size', () => {
    const mem = new PhysicalMemory(1 << 16);
    mem.write64(0x2000, 0x1122334455667788n);
    expect(mem.read8(0x2000)).toBe(0x88);
    expect(mem.read16(0x2000)).toBe(0x7788);
    expect(mem.read32(0x2004)).toBe(0x11223344);
    expect(mem.readSized(0x2000, 8)).toBe(0x1122334455667788n);
    mem.writeSized(0x2008, 2, -1n);
    expect(mem.read32(0x2008)).toBe(0xffff);
  });

  it('leaves page 0 unmapped so NULL faults', () => {
    const mem = new PhysicalMemory(1 << 16);
    expect(() => mem.read8(0)).toThrow(MemoryAccessError);
    expect(() => mem.write32(PAGE_SIZE - 4, 1)).toThrow('EFAULT: bad write of 4 bytes at 0xffc');
    expect(mem.isMapped(PAGE_SIZE, 1)).toBe(true);
  });

  it('refuses accesses that run past the end', () => {
    const mem = new PhysicalMemory(1 << 16);
    expect(() => mem.read64((1 << 16) - 4)).toThrow('EFAULT: bad read of 8 bytes at 0xfffc');
    expect(() => mem.fill((1 << 16) - 8, 9)).toThrow(MemoryAccessError);
  });

  it('rejects sizes that are not whole pages or are out of range, with the value', () => {
    expect(() => new PhysicalMemory(10000)).toThrow(
      'EINVAL: memory size 10000 is not a multiple of 4096',
    );
    expect(() => new PhysicalMemory(4096)).toThrow(ErrnoError);
  });
});
