import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressMap } from '../../segments/address-map.ts';
import { PAGE_SIZE, PhysicalMemory } from '../../segments/memory.ts';
import { Vmalloc } from '../../segments/vmalloc.ts';

function region(size = 64 * PAGE_SIZE) {
  const memory = new PhysicalMemory(1 << 20);
  const map = new AddressMap(memory.size);
  map.skipTo(PAGE_SIZE);
  return { memory, v: Vmalloc.create(memory, map, size) };
}

describe('vmalloc', () => {
  it('hands out page-aligned, zeroed runs and takes them back', () => {
    const { memory, v } = region();
    const a = v.vzalloc(3 * PAGE_SIZE + 1);
    expect(a % PAGE_SIZE).toBe(0);
    expect(v.areaSize(a)).toBe(4 * PAGE_SIZE);
    expect(v.usedPages).toBe(4);
    memory.fill(a, 4 * PAGE_SIZE, 0xff);
    v.vfree(a);
    expect(v.usedPages).toBe(0);
    const b = v.vzalloc(PAGE_SIZE);
    expect(memory.read32(b)).toBe(0);
  });

  it('returns 0 when no run fits, and refuses a vfree of anything but an area start', () => {
    const { v } = region(8 * PAGE_SIZE);
    expect(v.vmalloc(v.nrPages * PAGE_SIZE + 1)).toBe(0);
    expect(v.vmalloc(0)).toBe(0);
    const a = v.vmalloc(PAGE_SIZE);
    expect(() => v.vfree(a + PAGE_SIZE)).toThrow(/^EINVAL: vfree\(0x[0-9a-f]+\): not the start/);
    expect(() => v.vfree(a + 8)).toThrow(/^EINVAL/);
    v.vfree(a);
    expect(() => v.vfree(a)).toThrow(/^EINVAL/);
    v.vfree(0);
  });

  it('never overlaps, stays inside its pages and reuses freed space (model check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer({ min: 1, max: 9 * PAGE_SIZE }),
            fc.nat(40).map((k) => -k - 1),
          ),
          {
            maxLength: 80,
          },
        ),
        (ops) => {
          const { memory, v } = region(48 * PAGE_SIZE);
          const live: { addr: number; pages: number }[] = [];
          for (const op of ops) {
            if (op > 0) {
              const pages = Math.ceil(op / PAGE_SIZE);
              const addr = v.vzalloc(op);
              const free = v.nrPages - live.reduce((s, a) => s + a.pages, 0);
              if (addr === 0) {
                expect(pages > free || fragmented(live, v, pages)).toBe(true);
                continue;
              }
              expect(v.contains(addr) && v.contains(addr + pages * PAGE_SIZE - 1)).toBe(true);
              for (const o of live) {
                expect(
                  addr + pages * PAGE_SIZE <= o.addr || o.addr + o.pages * PAGE_SIZE <= addr,
                ).toBe(true);
              }
              expect(memory.read32(addr)).toBe(0);
              memory.write32(addr, 0xdead);
              live.push({ addr, pages });
            } else if (live.length > 0) {
              const [gone] = live.splice(-op % live.length, 1);
              v.vfree(gone.addr);
            }
            expect(v.usedPages).toBe(live.reduce((s, a) => s + a.pages, 0));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** True when no run of `pages` free pages exists among the live areas. */
function fragmented(live: { addr: number; pages: number }[], v: Vmalloc, pages: number): boolean {
  const used = new Array<boolean>(v.nrPages).fill(false);
  for (const a of live) {
    const first = (a.addr - v.pagesStart) / PAGE_SIZE;
    for (let p = first; p < first + a.pages; p++) used[p] = true;
  }
  let run = 0;
  for (const u of used) {
    run = u ? 0 : run + 1;
    if (run >= pages) return false;
  }
  return true;
}
