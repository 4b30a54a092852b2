/**
 * Links an image and loads its `.data` and `.bss` into physical memory at the
 * next free place of the address map. The `.data..percpu` template stays a
 * template: boot copies it into every per-CPU unit.
 *
 * @example
 * const image = linkAndLoad(linker, memory, addressMap);
 * memory.read64(image.symbols.get('jiffies')!.address);
 */

import type { AddressMap } from './address-map.ts';
import type { LinkedImage, Linker } from './linker.ts';
import type { PhysicalMemory } from './memory.ts';

export function linkAndLoad(linker: Linker, memory: PhysicalMemory, map: AddressMap): LinkedImage {
  const base = map.peek();
  const image = linker.link(base);
  const size = image.data.bytes.length + image.data.bssSize;
  if (size > 0) {
    map.reserve('.data/.bss', size);
    memory.writeBytes(base, image.data.bytes);
  }
  return image;
}
