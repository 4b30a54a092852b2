/**
 * Ethernet frames of a flow, as a traffic generator writes them: an
 * Ethernet header, IPv4 (no options) or IPv6, and a TCP or UDP header with
 * the flow's ports, padded to the frame size with a counting pattern. The
 * checksums are left 0 (nothing here verifies them; a NIC with checksum
 * offload would not either).
 *
 * @example
 * const f = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1234, dport: 80, proto: 'udp', size: 64 });
 * f.length; // 64
 */

import { ErrnoError } from '../segments/errno.ts';

/** A flow: what the traffic source sends. */
export interface FlowSpec {
  /** Dotted IPv4 or colon IPv6 source address. */
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly proto: 'tcp' | 'udp';
  /** Frame size in bytes, without the FCS (60..1514 for the usual MTU). */
  readonly size: number;
}

export const ETH_HLEN = 14;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
/** ETH_ZLEN: the smallest frame without FCS. */
export const ETH_ZLEN = 60;
/** ETH_FRAME_LEN: the largest frame of a 1500-byte MTU, without FCS. */
export const ETH_FRAME_LEN = 1514;

/** The 4 bytes of a dotted IPv4 address, or undefined when `s` is not one. */
export function parseIpv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return undefined;
  }
  return Uint8Array.from(parts.map(Number));
}

/** The 16 bytes of an IPv6 address (with `::`), or undefined when `s` is not one. */
export function parseIpv6(s: string): Uint8Array | undefined {
  if (!s.includes(':')) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

function address(s: string, what: string): Uint8Array {
  const a = parseIpv4(s) ?? parseIpv6(s);
  if (a === undefined)
    throw new ErrnoError('EINVAL', `${what} '${s}' is not an IPv4 or IPv6 address`);
  return a;
}

function checkPort(p: number, what: string): void {
  if (!Number.isInteger(p) || p < 0 || p > 0xffff) {
    throw new ErrnoError('EINVAL', `${what} ${p} is not a port 0..65535`);
  }
}

/** The frame of `flow`, `flow.size` bytes; EINVAL for bad addresses, ports or a size too small. */
export function buildFrame(flow: FlowSpec): Uint8Array {
  const src = address(flow.src, 'source address');
  const dst = address(flow.dst, 'destination address');
  if (src.length !== dst.length) {
    throw new ErrnoError('EINVAL', `flow ${flow.src} -> ${flow.dst} mixes IPv4 and IPv6`);
  }
  checkPort(flow.sport, 'source port');
  checkPort(flow.dport, 'destination port');
  const v6 = src.length === 16;
  const ipLen = v6 ? 40 : 20;
  const l4Len = flow.proto === 'tcp' ? 20 : 8;
  const min = Math.max(ETH_ZLEN, ETH_HLEN + ipLen + l4Len);
  if (!Number.isInteger(flow.size) || flow.size < min || flow.size > 0xffff) {
    throw new ErrnoError('EINVAL', `frame size ${flow.size} is not in ${min}..65535 for this flow`);
  }
  const f = new Uint8Array(flow.size);
  const dv = new DataView(f.buffer);
  // Locally administered MACs: 02:00:00:00:00:02 <- 02:00:00:00:00:01.
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
  dv.setUint16(12, v6 ? ETH_P_IPV6 : ETH_P_IP);
  const ip = ETH_HLEN;
  const proto = flow.proto === 'tcp' ? 6 : 17;
  const payloadLen = Math.min(flow.size - ETH_HLEN - ipLen, 0xffff);
  if (v6) {
    dv.setUint32(ip, 0x6000_0000);
    dv.setUint16(ip + 4, payloadLen);
    f[ip + 6] = proto;
    f[ip + 7] = 64;
    f.set(src, ip + 8);
    f.set(dst, ip + 24);
  } else {
    f[ip] = 0x45;
    dv.setUint16(ip + 2, payloadLen + ipLen);
    f[ip + 8] = 64;
    f[ip + 9] = proto;
    f.set(src, ip + 12);
    f.set(dst, ip + 16);
  }
  const l4 = ip + ipLen;
  dv.setUint16(l4, flow.sport);
  dv.setUint16(l4 + 2, flow.dport);
  if (flow.proto === 'tcp') f[l4 + 12] = 0x50;
  else dv.setUint16(l4 + 4, flow.size - l4);
  for (let i = l4 + l4Len; i < f.length; i++) f[i] = i & 0xff;
  return f;
}
