/**
 * RSS against Microsoft's published verification suite ("Verifying the RSS
 * hash calculation"): the verification key, each vector's hash over the
 * addresses only and over addresses plus TCP ports, IPv4 and IPv6.
 */

import { describe, expect, it } from 'vitest';
import { buildFrame, parseIpv4, parseIpv6 } from '../../nic/frame.ts';
import { RSS_INDIR_SIZE, Rss } from '../../nic/rss.ts';
import { RSS_VERIFICATION_KEY, toeplitzHash } from '../../nic/toeplitz.ts';

interface Vector {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  withPorts: number;
  ipOnly: number;
}

const IPV4: Vector[] = [
  {
    src: '66.9.149.187',
    sport: 2794,
    dst: '161.142.100.80',
    dport: 1766,
    withPorts: 0x51ccc178,
    ipOnly: 0x323e8fc2,
  },
  {
    src: '199.92.111.2',
    sport: 14230,
    dst: '65.69.140.83',
    dport: 4739,
    withPorts: 0xc626b0ea,
    ipOnly: 0xd718262a,
  },
  {
    src: '24.19.198.95',
    sport: 12898,
    dst: '12.22.207.184',
    dport: 38024,
    withPorts: 0x5c2b394a,
    ipOnly: 0xd2d0a5de,
  },
  {
    src: '38.27.205.30',
    sport: 48228,
    dst: '209.142.163.6',
    dport: 2217,
    withPorts: 0xafc7327f,
    ipOnly: 0x82989176,
  },
  {
    src: '153.39.163.191',
    sport: 44251,
    dst: '202.188.127.2',
    dport: 1303,
    withPorts: 0x10e828a2,
    ipOnly: 0x5d1809c5,
  },
];

const IPV6: Vector[] = [
  {
    src: '3ffe:2501:200:1fff::7',
    sport: 2794,
    dst: '3ffe:2501:200:3::1',
    dport: 1766,
    withPorts: 0x40207d3d,
    ipOnly: 0x2cc18cd5,
  },
  {
    src: '3ffe:501:8::260:97ff:fe40:efab',
    sport: 14230,
    dst: 'ff02::1',
    dport: 4739,
    withPorts: 0xdde51bbf,
    ipOnly: 0x0f0c461c,
  },
  {
    src: '3ffe:1900:4545:3:200:f8ff:fe21:67cf',
    sport: 44251,
    dst: 'fe80::200:f8ff:fe21:67cf',
    dport: 38024,
    withPorts: 0x02d1feef,
    ipOnly: 0x4b61e985,
  },
];

function input(v: Vector, ports: boolean): Uint8Array {
  const parse = (s: string) => parseIpv4(s) ?? parseIpv6(s)!;
  const a = [...parse(v.src), ...parse(v.dst)];
  if (ports) a.push(v.sport >> 8, v.sport & 0xff, v.dport >> 8, v.dport & 0xff);
  return Uint8Array.from(a);
}

describe('Toeplitz hash: the RSS verification suite', () => {
  for (const v of [...IPV4, ...IPV6]) {
    it(`${v.src}:${v.sport} -> ${v.dst}:${v.dport}`, () => {
      expect(toeplitzHash(RSS_VERIFICATION_KEY, input(v, false))).toBe(v.ipOnly);
      expect(toeplitzHash(RSS_VERIFICATION_KEY, input(v, true))).toBe(v.withPorts);
    });
  }

  it('refuses an input longer than the key allows', () => {
    expect(() => toeplitzHash(new Uint8Array(8), new Uint8Array(5))).toThrow(
      /EINVAL: a 8-byte key/,
    );
  });
});

describe('Rss: a device hashes its frames', () => {
  it('hashes TCP frames over addresses and ports, IPv4 and IPv6', () => {
    const rss = new Rss(4);
    for (const v of [...IPV4, ...IPV6]) {
      const f = buildFrame({
        src: v.src,
        dst: v.dst,
        sport: v.sport,
        dport: v.dport,
        proto: 'tcp',
        size: 128,
      });
      expect(rss.hashFrame(f, 0, f.length)).toBe(v.withPorts);
    }
  });

  it('hashes a non-first IPv4 fragment over the addresses only', () => {
    const v = IPV4[0];
    const f = buildFrame({
      src: v.src,
      dst: v.dst,
      sport: v.sport,
      dport: v.dport,
      proto: 'udp',
      size: 64,
    });
    f[14 + 7] = 1; // fragment offset 8 bytes
    expect(new Rss(2).hashFrame(f, 0, f.length)).toBe(v.ipOnly);
  });

  it('gives 0 for a frame that is not IP', () => {
    const f = new Uint8Array(60);
    f[12] = 0x08;
    f[13] = 0x06; // ARP
    expect(new Rss(2).hashFrame(f, 0, f.length)).toBe(0);
  });

  it('has the ethtool default indirection table and takes a new one', () => {
    const rss = new Rss(3);
    const table = rss.getIndirectionTable();
    expect(table).toHaveLength(RSS_INDIR_SIZE);
    expect(table.slice(0, 6)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(rss.queueOfHash(0x51ccc178)).toBe((0x51ccc178 & 127) % 3);
    rss.setIndirectionTable(Array(RSS_INDIR_SIZE).fill(2));
    expect(rss.queueOfHash(0x51ccc178)).toBe(2);
    rss.setIndirectionTable(null);
    expect(rss.getIndirectionTable()).toEqual(table);
  });

  it('refuses a bad key or table with the value', () => {
    const rss = new Rss(2);
    expect(() => rss.setKey(new Uint8Array(16))).toThrow('EINVAL: an RSS key is 40 bytes, not 16');
    expect(() => rss.setIndirectionTable([0, 1])).toThrow(/128 entries, not 2/);
    expect(() => rss.setIndirectionTable(Array(128).fill(2))).toThrow(
      'EINVAL: indirection entry 0 is queue 2 of 2',
    );
    rss.setKey(new Uint8Array(40));
    const v = IPV4[0];
    const f = buildFrame({
      src: v.src,
      dst: v.dst,
      sport: v.sport,
      dport: v.dport,
      proto: 'tcp',
      size: 64,
    });
    expect(rss.hashFrame(f, 0, f.length)).toBe(0);
  });
});
