/**
 * Physical memory: one SharedArrayBuffer, and a guest address is a byte offset
 * into it. Page 0 (or more, see `lowLimit`) is never mapped, so a NULL
 * dereference faults. Everything
 * two CPUs could touch lives here; JS objects are handles and caches only.
 *
 * Host-side accessors check bounds and throw a {@link MemoryAccessError};
 * the interpreter does its own inline check and raises a CPU fault instead,
 * and for guest instructions only, `protection` keeps the kernel's own
 * structures out of reach.
 *
 * @example
 * const mem = new PhysicalMemory(1 << 20);
 * mem.write64(0x2000, 0x1122334455667788n);
 * mem.read32(0x2000); // 0x55667788
 */

import { ErrnoError } from './errno.ts';
import { PageProtection } from './page-protection.ts';

export const PAGE_SIZE = 4096;
/** Guest addresses are 32-bit offsets; keep a margin below 4 GiB. */
export const MAX_MEMORY_SIZE = 0x8000_0000;

export type AccessKind = 'read' | 'write';

/** A host-side (TS API) access outside mapped memory. */
export class MemoryAccessError extends ErrnoError {
  constructor(
    readonly addr: number,
    readonly size: number,
    readonly access: AccessKind,
  ) {
    super('EFAULT', `bad ${access} of ${size} bytes at ${hexAddress(addr)}`);
  }
}

/**
 * An address held in a JS number, for a message: hex when exact; a number
 * past 2^53 (a 64-bit register read as a number, plus an offset) is not
 * exact and says so; anything else (negative, fractional, NaN) as it is.
 *
 * @example
 * hexAddress(0x3000);        // '0x3000'
 * hexAddress(2 ** 64 + 4096); // 'an address above 2^53 (about 0x10000000000001000)'
 * hexAddress(-1);            // '-1'
 */
export function hexAddress(addr: number): string {
  if (Number.isSafeInteger(addr) && addr >= 0) return `0x${addr.toString(16)}`;
  if (Number.isFinite(addr) && addr >= 2 ** 53) {
    return `an address above 2^53 (about 0x${BigInt(Math.floor(addr)).toString(16)})`;
  }
  return String(addr);
}

export class PhysicalMemory {
  /**
   * Addresses below this are never mapped: page 0 by default, so NULL
   * faults. A machine extends it over the per-CPU template's range, so a
   * per-CPU pointer used without this_cpu_ptr faults as on x86-64.
   */
  lowLimit = PAGE_SIZE;
  readonly buffer: SharedArrayBuffer;
  readonly size: number;
  readonly u8: Uint8Array;
  readonly view: DataView;
  /**
   * What guest instructions may do on each page (page-protection.ts); the
   * host accessors here ignore it: kernel code has full access.
   */
  readonly protection: PageProtection;

  /**
   * @param buffer the SharedArrayBuffer to use (its contents kept), for a
   *   machine rebuilt over another thread's memory; a new zeroed one by default.
   */
  constructor(size: number, buffer?: SharedArrayBuffer) {
    if (!Number.isInteger(size) || size < 2 * PAGE_SIZE || size > MAX_MEMORY_SIZE) {
      throw new ErrnoError(
        'EINVAL',
        `memory size ${size} must be an integer between ${2 * PAGE_SIZE} and ${MAX_MEMORY_SIZE}`,
      );
    }
    if (size % PAGE_SIZE !== 0) {
      throw new ErrnoError('EINVAL', `memory size ${size} is not a multiple of ${PAGE_SIZE}`);
    }
    this.size = size;
    if (buffer !== undefined && buffer.byteLength !== size) {
      throw new ErrnoError(
        'EINVAL',
        `shared buffer of ${buffer.byteLength} bytes does not match memory size ${size}`,
      );
    }
    this.buffer = buffer ?? new SharedArrayBuffer(size);
    this.u8 = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
    this.protection = new PageProtection(size);
  }

  /** True when [addr, addr+len) lies entirely in mapped memory. */
  isMapped(addr: number, len: number): boolean {
    return Number.isInteger(addr) && addr >= this.lowLimit && len >= 0 && addr + len <= this.size;
  }

  check(addr: number, len: number, access: AccessKind): void {
    if (!this.isMapped(addr, len)) throw new MemoryAccessError(addr, len, access);
  }

  read8(addr: number): number {
    this.check(addr, 1, 'read');
    return this.u8[addr];
  }
  read16(addr: number): number {
    this.check(addr, 2, 'read');
    return this.view.getUint16(addr, true);
  }
  read32(addr: number): number {
    this.check(addr, 4, 'read');
    return this.view.getUint32(addr, true);
  }
  read64(addr: number): bigint {
    this.check(addr, 8, 'read');
    return this.view.getBigUint64(addr, true);
  }
  write8(addr: number, value: number): void {
    this.check(addr, 1, 'write');
    this.u8[addr] = value;
  }
  write16(addr: number, value: number): void {
    this.check(addr, 2, 'write');
    this.view.setUint16(addr, value, true);
  }
  write32(addr: number, value: number): void {
    this.check(addr, 4, 'write');
    this.view.setUint32(addr, value >>> 0, true);
  }
  write64(addr: number, value: bigint): void {
    this.check(addr, 8, 'write');
    this.view.setBigUint64(addr, BigInt.asUintN(64, value), true);
  }

  /** Reads `size` (1, 2, 4 or 8) bytes as an unsigned bigint. */
  readSized(addr: number, size: number): bigint {
    switch (size) {
      case 1:
        return BigInt(this.read8(addr));
      case 2:
        return BigInt(this.read16(addr));
      case 4:
        return BigInt(this.read32(addr));
      case 8:
        return this.read64(addr);
    }
    throw new ErrnoError('EINVAL', `access size ${size} is not 1, 2, 4 or 8`);
  }

  /** Writes the low `size` (1, 2, 4 or 8) bytes of `value`. */
  writeSized(addr: number, size: number, value: bigint): void {
    switch (size) {
      case 1:
        this.write8(addr, Number(BigInt.asUintN(8, value)));
        return;
      case 2:
        this.write16(addr, Number(BigInt.asUintN(16, value)));
        return;
      case 4:
        this.write32(addr, Number(BigInt.asUintN(32, value)));
        return;
      case 8:
        this.write64(addr, value);
        return;
    }
    throw new ErrnoError('EINVAL', `access size ${size} is not 1, 2, 4 or 8`);
  }

  readBytes(addr: number, len: number): Uint8Array {
    this.check(addr, len, 'read');
    return this.u8.slice(addr, addr + len);
  }

  writeBytes(addr: number, bytes: Uint8Array): void {
    this.check(addr, bytes.length, 'write');
    this.u8.set(bytes, addr);
  }

  fill(addr: number, len: number, value = 0): void {
    this.check(addr, len, 'write');
    this.u8.fill(value, addr, addr + len);
  }
}
