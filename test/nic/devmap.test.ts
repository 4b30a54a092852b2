/**
 * DEVMAP and DEVMAP_HASH (kernel/bpf/devmap.c) on the redirect machinery:
 * userspace errnos in the kernel's order, a redirect out of another device
 * through its bulk queue (16 frames) into ndo_xdp_xmit's TX counters with
 * xdp_devmap_xmit traced, and the devmap program on egress.
 */

import { describe, expect, it } from 'vitest';
import { bpfMapCreate } from '../../maps/syscall.ts';
import '../../nic/cpumap.ts';
import '../../nic/devmap.ts'; // registers DEVMAP and DEVMAP_HASH
import type { CpuMap } from '../../nic/cpumap.ts';
import { buildFrame } from '../../nic/frame.ts';
import { BPF_XDP_CPUMAP, BPF_XDP_DEVMAP } from '../../nic/xdp-uapi.ts';
import { buffersOutstanding, flow, rig, traceText } from './xdp-fixtures.ts';

const u32 = (...vals: number[]) => new Uint8Array(new Uint32Array(vals).buffer);
const readU32 = (b: Uint8Array, at = 0) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

function devmapRig(type: 'DEVMAP' | 'DEVMAP_HASH', max = 4, value = 4) {
  const r = rig(2);
  const eth1 = r.net.addDevice({ name: 'eth1' });
  const h = bpfMapCreate(r.k, type, 'tx_port', 4, value, max);
  return { ...r, eth1, h };
}

describe('DEVMAP from userspace', () => {
  it('update: flags, key range, NOEXIST, an unknown ifindex; ifindex 0 clears', () => {
    const { h, eth1 } = devmapRig('DEVMAP');
    expect(() => h.updateElem(u32(0), u32(2), 4)).toThrow(/^EINVAL/);
    expect(() => h.updateElem(u32(4), u32(2))).toThrow('E2BIG: key 4 >= max_entries 4');
    expect(() => h.updateElem(u32(0), u32(2), 1)).toThrow(/^EEXIST/);
    expect(() => h.updateElem(u32(0), u32(9))).toThrow('EINVAL: no device with ifindex 9');
    h.updateElem(u32(0), u32(eth1.ifindex));
    expect(readU32(h.lookupElem(u32(0)))).toBe(eth1.ifindex);
    h.updateElem(u32(0), u32(0));
    expect(() => h.lookupElem(u32(0))).toThrow(/^ENOENT/);
    expect(() => h.deleteElem(u32(4))).toThrow('EINVAL: key 4 >= max_entries 4');
    h.deleteElem(u32(1));
  });

  it('a program fd must be SEC("xdp/devmap")', () => {
    const r = devmapRig('DEVMAP', 4, 8);
    const prog = r.k.loadText(r.k.asm`r0 = 2\nexit`, 'egress');
    expect(() => r.h.updateElem(u32(0), u32(2, r.net.loadXdpProgram(prog)))).toThrow(
      /^EINVAL: program fd \d+ is not SEC\("xdp\/devmap"\)/,
    );
    expect(() =>
      r.h.updateElem(u32(0), u32(0, r.net.loadXdpProgram(prog, BPF_XDP_DEVMAP))),
    ).toThrow('EINVAL: a program fd needs an ifindex');
    r.h.updateElem(u32(0), u32(2, r.net.loadXdpProgram(prog, BPF_XDP_DEVMAP)));
    expect(readU32(r.h.lookupElem(u32(0)), 4)).toBe(r.net.progId(prog));
  });
});

describe('DEVMAP_HASH from userspace', () => {
  it('any u32 key, E2BIG past max_entries, EEXIST for NOEXIST, ENOENT on delete of an absent key', () => {
    const { h, eth1 } = devmapRig('DEVMAP_HASH', 2);
    h.updateElem(u32(1000), u32(eth1.ifindex));
    h.updateElem(u32(7), u32(eth1.ifindex));
    expect(() => h.updateElem(u32(5), u32(eth1.ifindex))).toThrow(/^E2BIG/);
    expect(() => h.updateElem(u32(7), u32(eth1.ifindex), 1)).toThrow('EEXIST: key 7 exists');
    expect(() => h.updateElem(u32(8), u32(0))).toThrow(
      'EINVAL: a DEVMAP_HASH value needs an ifindex',
    );
    h.updateElem(u32(7), u32(eth1.ifindex)); // replacing a present key needs no room
    expect(new Set([...h.keys()].map((k) => readU32(k)))).toEqual(new Set([1000, 7]));
    expect(() => h.deleteElem(u32(3))).toThrow(/^ENOENT/);
    h.deleteElem(u32(7));
    expect([...h.keys()].map((k) => readU32(k))).toEqual([1000]);
  });
});

describe('redirect into another device', () => {
  it('flushes the bulk queue at 16 and at the end of the poll into eth1 TX counters', () => {
    const r = devmapRig('DEVMAP');
    r.h.updateElem(u32(0), u32(r.eth1.ifindex));
    r.eth0.attachXdp(
      r.k.loadText(
        r.k.assemble('r1 = tx_port ll\nr2 = 0\nr3 = 0\ncall bpf_redirect_map\nexit'),
        'xdp_fwd',
      ),
    );
    const frame = buildFrame(flow(0));
    for (let i = 0; i < 20; i++) r.eth0.receive(frame, 0);
    r.k.runCpu(0, 1);
    expect(r.eth1.txPackets).toBe(20);
    expect(r.eth1.txBytes).toBe(20 * 64);
    const xmit = traceText(r.k).filter((l) => l.includes('xdp_devmap_xmit:'));
    expect(xmit.map((l) => l.replace(/.*xdp_devmap_xmit: /, ''))).toEqual([
      'ndo_xdp_xmit from_ifindex=1 to_ifindex=2 action=REDIRECT sent=16 drops=0 err=0',
      'ndo_xdp_xmit from_ifindex=1 to_ifindex=2 action=REDIRECT sent=4 drops=0 err=0',
    ]);
    expect(
      traceText(r.k).some((l) =>
        /xdp_redirect: .* to_ifindex=2 err=0 map_id=\d+ map_index=0$/.test(l),
      ),
    ).toBe(true);
    expect(buffersOutstanding(r)).toBe(0);
  });

  it('the devmap program sees egress_ifindex and may drop', () => {
    const r = devmapRig('DEVMAP', 4, 8);
    const egress = r.k.loadText(
      r.k.assemble('r2 = *(u32 *)(r1 + 20)\nr0 = 1\nif r2 == 2 goto out\nr0 = 2\nout:\nexit'),
      'egress',
    );
    r.h.updateElem(u32(0), u32(r.eth1.ifindex, r.net.loadXdpProgram(egress, BPF_XDP_DEVMAP)));
    r.eth0.attachXdp(
      r.k.loadText(
        r.k.assemble('r1 = tx_port ll\nr2 = 0\nr3 = 0\ncall bpf_redirect_map\nexit'),
        'xdp_fwd',
      ),
    );
    for (let i = 0; i < 5; i++) r.eth0.receive(buildFrame(flow(0)), 0);
    r.k.runCpu(0, 1);
    expect(r.eth1.txPackets).toBe(0);
    expect(traceText(r.k).some((l) => l.includes('sent=0 drops=5'))).toBe(true);
    expect(buffersOutstanding(r)).toBe(0);
  });
});

describe('XDP_REDIRECT from a cpumap program', () => {
  it('the kthread on CPU 1 redirects into a DEVMAP and flushes it itself', () => {
    const r = devmapRig('DEVMAP');
    const { k } = r;
    r.h.updateElem(u32(0), u32(r.eth1.ifindex));
    const cpuMap = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 8, 2);
    const fwd = k.loadText(
      k.assemble('r1 = tx_port ll\nr2 = 0\nr3 = 0\ncall bpf_redirect_map\nexit'),
      'cpumap_fwd',
    );
    cpuMap.updateElem(u32(1), u32(64, r.net.loadXdpProgram(fwd, BPF_XDP_CPUMAP)));
    r.eth0.attachXdp(
      k.loadText(
        k.assemble('r1 = cpu_map ll\nr2 = 1\nr3 = 0\ncall bpf_redirect_map\nexit'),
        'to_cpu1',
      ),
    );
    for (let i = 0; i < 12; i++) r.eth0.receive(buildFrame(flow(0)), 0);
    for (let i = 0; i < 30; i++) {
      k.runCpu(0, 300);
      k.runCpu(1, 300);
    }
    expect((cpuMap.map as CpuMap).kthreadStats[1]).toMatchObject({
      processed: 12,
      redirect: 12,
      pass: 0,
    });
    expect(r.eth1.txPackets).toBe(12);
    expect(
      traceText(k).some((l) =>
        /\[001\].*xdp_devmap_xmit: ndo_xdp_xmit from_ifindex=1 to_ifindex=2/.test(l),
      ),
    ).toBe(true);
    expect(buffersOutstanding(r)).toBe(0);
  });
});
