/**
 * Native XDP on a device: attach rules, the xdp_md fields a program reads,
 * the five verdicts and where each frame ends (XDP_TX counted per device,
 * XDP_PASS at the stack of the CPU, XDP_ABORTED with xdp_exception), and
 * bpf_xdp_adjust_head / bpf_xdp_adjust_meta with the kernel's limits
 * (net/core/filter.c).
 */

import { describe, expect, it } from 'vitest';
import { BPF_XDP_CPUMAP } from '../../nic/xdp-uapi.ts';
import { buffersOutstanding, receiveOn, rig, traceText } from './xdp-fixtures.ts';

describe('XDP attach', () => {
  it('refuses a cpumap program on a device', () => {
    const { k, eth0 } = rig(1);
    const prog = k.loadText(k.asm`r0 = 2\nexit`, 'cpumap_prog');
    expect(() => eth0.attachXdp({ prog, expectedAttachType: BPF_XDP_CPUMAP })).toThrow(
      'EINVAL: cpumap_prog: a program for a cpumap entry cannot be attached to eth0',
    );
    eth0.attachXdp(prog);
    expect(eth0.xdpProgId).toBeGreaterThan(0);
    eth0.attachXdp(null);
    expect(eth0.xdpProg).toBeNull();
  });
});

describe('XDP verdicts', () => {
  const verdict = (act: number) => {
    const r = rig(2);
    r.eth0.attachXdp(r.k.loadText(r.k.asm`r0 = ${act}\nexit`, `xdp_${act}`));
    receiveOn(r, 1, 10);
    return r;
  };

  it('XDP_PASS reaches the stack of the queue CPU', () => {
    const r = verdict(2);
    expect(r.net.percpu[1].stack.packets).toBe(10);
    expect(r.net.percpu[1].stack.bytes).toBe(640);
    expect(r.eth0.queues[1].stats.xdpPass).toBe(10);
    expect(buffersOutstanding(r)).toBe(0);
  });

  it('XDP_DROP frees the buffer and counts the drop', () => {
    const r = verdict(1);
    expect(r.eth0.queues[1].stats.xdpDrop).toBe(10);
    expect(r.net.percpu[1].stack.packets).toBe(0);
    expect(buffersOutstanding(r)).toBe(0);
  });

  it('XDP_TX is counted on the device', () => {
    const r = verdict(3);
    expect(r.eth0.xdpTx).toBe(10);
    expect(buffersOutstanding(r)).toBe(0);
  });

  it('XDP_ABORTED fires xdp_exception with the kernel format', () => {
    const r = verdict(0);
    expect(r.eth0.queues[1].stats.xdpAborted).toBe(10);
    const lines = traceText(r.k).filter((l) => l.includes('xdp_exception:'));
    expect(lines).toHaveLength(10);
    expect(lines[0]).toMatch(/\[001\].* xdp_exception: prog_id=\d+ action=ABORTED ifindex=1$/);
  });

  it('an unknown verdict warns once, fires xdp_exception and drops', () => {
    const r = verdict(7);
    expect(r.eth0.queues[1].stats.xdpInvalid).toBe(10);
    const warnings = r.k.reports.filter((x) => x.lines[0].includes('XDP return value'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].lines[0]).toMatch(
      /^Illegal XDP return value 7 on prog xdp_7 \(id \d+\) dev eth0, expect packet loss!$/,
    );
    expect(traceText(r.k).filter((l) => l.includes('action=0x7'))).toHaveLength(10);
    expect(buffersOutstanding(r)).toBe(0);
  });

  it('XDP_REDIRECT with no redirect helper called fails with EBADRQC', () => {
    const r = verdict(4);
    expect(r.eth0.queues[1].stats.xdpRedirectErr).toBe(10);
    expect(traceText(r.k).filter((l) => l.includes('xdp_redirect_err:'))[0]).toMatch(
      /xdp_redirect_err: prog_id=\d+ action=REDIRECT ifindex=1 to_ifindex=0 err=-56 map_id=0 map_index=0$/,
    );
    expect(buffersOutstanding(r)).toBe(0);
  });
});

describe('struct xdp_md', () => {
  it('data, data_end, data_meta, ingress_ifindex and rx_queue_index', () => {
    const r = rig(2);
    const { k } = r;
    const out = k.kheap.kzalloc(64);
    // Store (data_end - data), (data - data_meta), ifindex, queue, and the first byte.
    r.eth0.attachXdp(
      k.loadText(
        k.assemble(`
          r6 = ${out} ll
          r2 = *(u32 *)(r1 + 0)
          r3 = *(u32 *)(r1 + 4)
          r4 = *(u32 *)(r1 + 8)
          r5 = r3
          r5 -= r2
          *(u32 *)(r6 + 0) = r5
          r5 = r2
          r5 -= r4
          *(u32 *)(r6 + 4) = r5
          r5 = *(u32 *)(r1 + 12)
          *(u32 *)(r6 + 8) = r5
          r5 = *(u32 *)(r1 + 16)
          *(u32 *)(r6 + 12) = r5
          r5 = *(u8 *)(r2 + 12)
          *(u32 *)(r6 + 16) = r5
          r0 = 2
          exit
        `),
        'md_reader',
      ),
    );
    receiveOn(r, 1, 1, 100);
    const m = k.memory;
    expect([
      m.read32(out),
      m.read32(out + 4),
      m.read32(out + 8),
      m.read32(out + 12),
      m.read32(out + 16),
    ]).toEqual([100, 0, 1, 1, 0x08]);
  });
});

/** Runs `ops` (helper, delta) in order on one 64-byte frame; returns each r0, then data_end - data and the metadata length. */
function adjust(ops: readonly ['head' | 'meta', number][], act = 2) {
  const r = rig(1);
  const { k } = r;
  const out = k.kheap.kzalloc(64);
  const calls = ops
    .map(
      ([h, d], i) => `
          r1 = r6
          r2 = ${d}
          call bpf_xdp_adjust_${h}
          *(u32 *)(r7 + ${4 * i}) = r0`,
    )
    .join('');
  const base = 4 * ops.length;
  r.eth0.attachXdp(
    k.loadText(
      k.assemble(`
          r6 = r1
          r7 = ${out} ll${calls}
          r2 = *(u32 *)(r6 + 0)
          r3 = *(u32 *)(r6 + 4)
          r4 = *(u32 *)(r6 + 8)
          r3 -= r2
          *(u32 *)(r7 + ${base}) = r3
          r2 -= r4
          *(u32 *)(r7 + ${base + 4}) = r2
          r0 = ${act}
          exit
        `),
      'adjust',
    ),
  );
  receiveOn(r, 0, 1);
  const words = Array.from({ length: ops.length + 2 }, (_, i) => k.memory.read32(out + 4 * i) | 0);
  return {
    results: words.slice(0, ops.length),
    len: words[ops.length],
    metalen: words[ops.length + 1],
    r,
  };
}

describe('bpf_xdp_adjust_head', () => {
  it('grows the head down to hard_start + sizeof(struct xdp_frame), not one byte more', () => {
    expect(adjust([['head', -216]])).toMatchObject({ results: [0], len: 280 });
    expect(adjust([['head', -217]])).toMatchObject({ results: [-22], len: 64 });
  });

  it('shrinks the head until ETH_HLEN bytes are left', () => {
    expect(adjust([['head', 50]])).toMatchObject({ results: [0], len: 14 });
    expect(adjust([['head', 51]])).toMatchObject({ results: [-22], len: 64 });
  });

  it('moves the metadata with data and keeps room for it', () => {
    expect(
      adjust([
        ['meta', -8],
        ['head', -208],
      ]),
    ).toMatchObject({ results: [0, 0], len: 272, metalen: 8 });
    expect(
      adjust([
        ['meta', -8],
        ['head', -209],
      ]),
    ).toMatchObject({ results: [0, -22], len: 64, metalen: 8 });
  });

  it('passes the adjusted frame to the stack', () => {
    const { r } = adjust([['head', 14]]);
    expect(r.net.percpu[0].stack.bytes).toBe(50);
  });
});

describe('bpf_xdp_adjust_meta', () => {
  it('takes multiples of 4 up to 32 bytes', () => {
    expect(adjust([['meta', -4]])).toMatchObject({ results: [0], metalen: 4 });
    expect(adjust([['meta', -32]])).toMatchObject({ results: [0], metalen: 32 });
    expect(adjust([['meta', -36]])).toMatchObject({ results: [-13], metalen: 0 });
    expect(adjust([['meta', -3]])).toMatchObject({ results: [-13], metalen: 0 });
  });

  it('refuses metadata above data or below the xdp_frame', () => {
    expect(adjust([['meta', 4]])).toMatchObject({ results: [-22] });
    expect(
      adjust([
        ['head', -216],
        ['meta', -4],
      ]),
    ).toMatchObject({ results: [0, -22], metalen: 0 });
    expect(
      adjust([
        ['meta', -8],
        ['meta', 8],
      ]),
    ).toMatchObject({ results: [0, 0], metalen: 0 });
  });
});
