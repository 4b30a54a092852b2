/**
 * BPF_PROG_TEST_RUN for XDP (net/bpf/test_run.c): the checks and their
 * errnos, plain runs (repeat, data_out with the metadata, ctx_out), and
 * BPF_F_TEST_XDP_LIVE_FRAMES driving a cpumap as the kernel selftests do
 * (tools/testing/selftests/bpf/prog_tests/xdp_cpumap_attach.c runs live
 * frames into a cpumap and checks the cpumap program saw them).
 */

import { describe, expect, it } from 'vitest';
import { bpfMapCreate } from '../../maps/syscall.ts';
import '../../nic/cpumap.ts';
import type { CpuMap } from '../../nic/cpumap.ts';
import { buildFrame } from '../../nic/frame.ts';
import { xdpTestRun } from '../../nic/xdp-test-run.ts';
import { BPF_F_TEST_XDP_LIVE_FRAMES, BPF_XDP_CPUMAP, BPF_XDP_DEVMAP } from '../../nic/xdp-uapi.ts';
import { buffersOutstanding, flow, rig } from './xdp-fixtures.ts';

const LIVE = BPF_F_TEST_XDP_LIVE_FRAMES;
const md = (
  f: Partial<Record<'data' | 'data_end' | 'data_meta' | 'ifindex' | 'queue' | 'egress', number>>,
) =>
  new Uint8Array(
    new Uint32Array([
      f.data ?? 0,
      f.data_end ?? 64,
      f.data_meta ?? 0,
      f.ifindex ?? 0,
      f.queue ?? 0,
      f.egress ?? 0,
    ]).buffer,
  );

describe('BPF_PROG_TEST_RUN for XDP: checks', () => {
  const r = rig(2);
  const prog = r.k.loadText(r.k.asm`r0 = 2\nexit`, 'pass');
  const dataIn = buildFrame(flow(0));
  const run = (o: Partial<Parameters<typeof xdpTestRun>[2]>) => () =>
    xdpTestRun(r.k, prog, { dataIn, ...o });

  it('refuses cpumap and devmap programs, unknown flags, and batch_size without live frames', () => {
    expect(run({ expectedAttachType: BPF_XDP_CPUMAP })).toThrow(
      'EINVAL: pass is a program for a cpumap entry',
    );
    expect(run({ expectedAttachType: BPF_XDP_DEVMAP })).toThrow(/^EINVAL: .* devmap entry/);
    expect(run({ flags: 1 })).toThrow('EINVAL: test_run flags 0x1');
    expect(run({ batchSize: 8 })).toThrow(
      'EINVAL: batch_size is for BPF_F_TEST_XDP_LIVE_FRAMES only',
    );
    expect(run({ flags: LIVE, batchSize: 257 })).toThrow('E2BIG: batch_size 257 > 256');
    expect(run({ flags: LIVE, batchSize: 256 })).not.toThrow();
  });

  it('checks data_in and ctx_in as the kernel does', () => {
    expect(() => xdpTestRun(r.k, prog, { dataIn: new Uint8Array(13) })).toThrow(
      'EINVAL: data_size_in 13 < ETH_HLEN',
    );
    expect(run({ ctxIn: md({ data_meta: 4 }) })).toThrow(/^EINVAL: ctx_in data and data_meta/);
    expect(run({ ctxIn: md({ data_end: 60 }) })).toThrow(
      'EINVAL: ctx_in data_end 60 is not data_size_in 64',
    );
    expect(run({ ctxIn: md({ egress: 1 }) })).toThrow('EINVAL: ctx_in egress_ifindex must be 0');
    expect(run({ ctxIn: md({ queue: 1 }) })).toThrow(
      'EINVAL: rx_queue_index 1 without an ingress_ifindex',
    );
    expect(run({ ctxIn: md({ ifindex: 7 }) })).toThrow('ENODEV: no device with ifindex 7');
    expect(run({ ctxIn: md({ ifindex: 1, queue: 1 }) })).not.toThrow();
  });
});

describe('BPF_PROG_TEST_RUN for XDP: runs', () => {
  it('without live frames: repeat runs on one buffer, data_out with the metadata, ctx_out, repeat 0 is 1', () => {
    const r = rig(1);
    const out = r.k.kheap.kzalloc(8);
    const prog = r.k.loadText(
      r.k.assemble(`
        r6 = r1
        r2 = -4
        call bpf_xdp_adjust_meta
        r1 = ${out} ll
        r2 = *(u64 *)(r1 + 0)
        r2 += 1
        *(u64 *)(r1 + 0) = r2
        r0 = 2
        exit`),
      'meta_count',
    );
    const res = xdpTestRun(r.k, prog, { dataIn: buildFrame(flow(0)), repeat: 3 });
    expect(res.retval).toBe(2);
    expect(Number(r.k.memory.read64(out))).toBe(3);
    expect(res.dataOut.length).toBe(64 + 12); // 3 runs, 4 bytes of metadata each
    expect(res.ctxOut.length).toBe(24);
    expect(res.duration).toBeGreaterThan(0);
    xdpTestRun(r.k, prog, { dataIn: buildFrame(flow(0)), repeat: 0 });
    expect(Number(r.k.memory.read64(out))).toBe(4);
    expect(buffersOutstanding(r)).toBe(0);
  });

  it('live frames redirect into a cpumap whose kthread and program process them (xdp_cpumap_attach)', () => {
    const r = rig(2);
    const { k } = r;
    const h = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 8, k.nrCpus);
    const cpumapProg = k.loadText(k.asm`r0 = 2\nexit`, 'xdp_dummy_cm');
    h.updateElem(
      new Uint8Array(new Uint32Array([1]).buffer),
      new Uint8Array(
        new Uint32Array([512, r.net.loadXdpProgram(cpumapProg, BPF_XDP_CPUMAP)]).buffer,
      ),
    );
    const redirect = k.loadText(
      k.assemble('r1 = cpu_map ll\nr2 = 1\nr3 = 0\ncall bpf_redirect_map\nexit'),
      'xdp_redir',
    );
    const res = xdpTestRun(k, redirect, {
      dataIn: buildFrame(flow(0)),
      repeat: 200,
      flags: LIVE,
      batchSize: 32,
    });
    expect(res.retval).toBe(0);
    const map = h.map as CpuMap;
    expect(map.enqueueStats[0][1].processed).toBe(200);
    expect(map.enqueueStats[0][1].bulks).toBe(200 / 8);
    for (let i = 0; i < 50; i++) k.runCpu(1, 1000);
    expect(map.kthreadStats[1]).toMatchObject({ processed: 200, pass: 200 });
    expect(r.net.percpu[1].stack.packets).toBe(200);
    expect(buffersOutstanding(r)).toBe(0);
  });

  it('live XDP_TX goes back out of the ingress device', () => {
    const r = rig(1);
    xdpTestRun(r.k, r.k.loadText(r.k.asm`r0 = 3\nexit`, 'tx'), {
      dataIn: buildFrame(flow(0)),
      repeat: 10,
      flags: LIVE,
    });
    expect(r.eth0.txPackets).toBe(10);
    expect(buffersOutstanding(r)).toBe(0);
  });
});
