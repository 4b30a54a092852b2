/**
 * pcap files: the classic format read in either byte order and with
 * microsecond or nanosecond stamps, refused with a reason when it is not
 * one, and replayed by the traffic source at the capture's own pace.
 */

import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../nic/frame.ts';
import { parsePcap, writePcap } from '../../nic/pcap.ts';
import { TrafficSource } from '../../nic/traffic.ts';
import { flow, rig, runAll } from './xdp-fixtures.ts';

describe('pcap', () => {
  it('round-trips frames and microsecond timestamps', () => {
    const frames = [buildFrame(flow(0)), buildFrame(flow(1, 90))];
    const file = writePcap(frames.map((bytes, i) => ({ tsNs: 1_000_000_000 + i * 5000, bytes })));
    const back = parsePcap(file);
    expect(back.map((p) => p.bytes)).toEqual(frames);
    expect(back.map((p) => p.tsNs)).toEqual([1e9, 1e9 + 5000]);
  });

  it('reads big-endian files and nanosecond stamps', () => {
    const le = writePcap([{ tsNs: 7000, bytes: buildFrame(flow(0)) }]);
    const be = new Uint8Array(le.length);
    const s = new DataView(le.buffer);
    const d = new DataView(be.buffer);
    d.setUint32(0, 0xa1b23c4d, false); // nanosecond magic, big-endian
    d.setUint16(4, 2, false);
    d.setUint16(6, 4, false);
    d.setUint32(16, 65535, false);
    d.setUint32(20, 1, false);
    d.setUint32(24, 0, false);
    d.setUint32(28, 7000, false);
    d.setUint32(32, s.getUint32(32, true), false);
    d.setUint32(36, s.getUint32(36, true), false);
    be.set(le.subarray(40), 40);
    expect(parsePcap(be)[0].tsNs).toBe(7000);
  });

  it('says what is wrong with a file that is not one', () => {
    expect(() => parsePcap(new Uint8Array(10))).toThrow(
      'EINVAL: pcap file of 10 bytes has no global header',
    );
    expect(() => parsePcap(new Uint8Array(24))).toThrow(/EINVAL: pcap magic 0x0 is not/);
    const file = writePcap([{ tsNs: 0, bytes: buildFrame(flow(0)) }]);
    new DataView(file.buffer).setUint32(20, 105, true);
    expect(() => parsePcap(file)).toThrow('EINVAL: pcap link type 105 is not Ethernet (1)');
    expect(() =>
      parsePcap(writePcap([{ tsNs: 0, bytes: buildFrame(flow(0)) }]).subarray(0, 50)),
    ).toThrow(/claims 64 bytes/);
  });

  it('the traffic source replays a capture, every frame reaching the stack', () => {
    const r = rig(2);
    const pcap = writePcap(
      Array.from({ length: 6 }, (_, i) => ({ tsNs: i * 100_000, bytes: buildFrame(flow(i)) })),
    );
    const src = new TrafficSource(r.eth0, { pcap, count: 30 });
    src.start(r.k, () => r.net.drained());
    runAll(r.k);
    expect(src.offered).toBe(30);
    expect(r.net.stackTotals().packets).toBe(30);
  });
});
