/**
 * Reading (and writing) classic pcap files (the libpcap format: a 24-byte
 * global header, then per packet a 16-byte record header and the captured
 * bytes), Ethernet link type only, microsecond or nanosecond timestamps,
 * either byte order. pcapng is not read.
 *
 * @example
 * for (const p of parsePcap(readFileSync('trace.pcap'))) dev.receive(p.bytes);
 */

import { ErrnoError } from '../segments/errno.ts';

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

export interface PcapPacket {
  /** Capture time in ns since the epoch of the file's clock. */
  readonly tsNs: number;
  readonly bytes: Uint8Array;
  /** The length on the wire (more than bytes.length when the capture was cut). */
  readonly origLen: number;
}

/** The packets of a pcap file; EINVAL naming what is wrong (magic, link type, a cut record). */
export function parsePcap(file: Uint8Array): PcapPacket[] {
  if (file.length < GLOBAL_HEADER) {
    throw new ErrnoError('EINVAL', `pcap file of ${file.length} bytes has no global header`);
  }
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let little: boolean;
  let nsRes: boolean;
  const be = dv.getUint32(0, false);
  const le = dv.getUint32(0, true);
  if (le === MAGIC_US || le === MAGIC_NS) {
    little = true;
    nsRes = le === MAGIC_NS;
  } else if (be === MAGIC_US || be === MAGIC_NS) {
    little = false;
    nsRes = be === MAGIC_NS;
  } else {
    throw new ErrnoError('EINVAL', `pcap magic 0x${be.toString(16)} is not a classic pcap file's`);
  }
  const linktype = dv.getUint32(20, little) & 0x0fff_ffff;
  if (linktype !== LINKTYPE_ETHERNET) {
    throw new ErrnoError('EINVAL', `pcap link type ${linktype} is not Ethernet (1)`);
  }
  const out: PcapPacket[] = [];
  for (let at = GLOBAL_HEADER; at < file.length; ) {
    if (at + RECORD_HEADER > file.length) {
      throw new ErrnoError('EINVAL', `pcap record ${out.length} at byte ${at} has a cut header`);
    }
    const sec = dv.getUint32(at, little);
    const frac = dv.getUint32(at + 4, little);
    const incl = dv.getUint32(at + 8, little);
    const orig = dv.getUint32(at + 12, little);
    const start = at + RECORD_HEADER;
    if (start + incl > file.length) {
      throw new ErrnoError(
        'EINVAL',
        `pcap record ${out.length} claims ${incl} bytes, ${file.length - start} left`,
      );
    }
    out.push({
      tsNs: sec * 1e9 + (nsRes ? frac : frac * 1000),
      bytes: file.slice(start, start + incl),
      origLen: orig,
    });
    at = start + incl;
  }
  return out;
}

/** A little-endian microsecond pcap file of `packets` (for tests and for saving kept frames). */
export function writePcap(packets: readonly { tsNs: number; bytes: Uint8Array }[]): Uint8Array {
  const size = GLOBAL_HEADER + packets.reduce((n, p) => n + RECORD_HEADER + p.bytes.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC_US, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, LINKTYPE_ETHERNET, true);
  let at = GLOBAL_HEADER;
  for (const p of packets) {
    const us = Math.floor(p.tsNs / 1000);
    dv.setUint32(at, Math.floor(us / 1e6), true);
    dv.setUint32(at + 4, us % 1e6, true);
    dv.setUint32(at + 8, p.bytes.length, true);
    dv.setUint32(at + 12, p.bytes.length, true);
    out.set(p.bytes, at + RECORD_HEADER);
    at += RECORD_HEADER + p.bytes.length;
  }
  return out;
}
