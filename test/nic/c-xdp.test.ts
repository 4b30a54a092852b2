/**
 * XDP programs written in C on the NIC: an object's SEC("xdp") program
 * attached to eth0 and run on traffic, `bpf_redirect_map` from C into a
 * BTF-defined CPUMAP (with the object's SEC("xdp/cpumap") program in
 * `struct bpf_cpumap_val`) and DEVMAP (with a SEC("xdp/devmap") program in
 * `struct bpf_devmap_val`), the helper's fallback, the verifier's refusal
 * of a CPUMAP lookup at load, BPF_PROG_TEST_RUN with live frames driving a
 * cpumap as the kernel selftests do, and the C round-robin scenario under
 * the engine's strategies.
 */

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfObject } from '../../loader/bpf-object.ts';
import { compileBpfC } from '../../loader/clang.ts';
import { BPF_MAP_TYPE } from '../../maps/bpf-uapi.ts';
import { typedPercpuMap } from '../../maps/typed-map.ts';
import type { CpuMap } from '../../nic/cpumap.ts';
import { buildFrame } from '../../nic/frame.ts';
import { TrafficSource } from '../../nic/traffic.ts';
import { xdpTestRun } from '../../nic/xdp-test-run.ts';
import {
  BPF_F_TEST_XDP_LIVE_FRAMES,
  BPF_XDP,
  BPF_XDP_CPUMAP,
  BPF_XDP_DEVMAP,
  XDP_DROP,
  XDP_REDIRECT,
} from '../../nic/xdp-uapi.ts';
import { runScenario } from '../../scenarios/run-scenario.ts';
import { cCpumapRoundRobin } from '../../scenarios/xdp/c-cpumap-round-robin.ts';
import { u32, u64 } from '../../segments/ctype.ts';
import { findClang } from '../loader/compile.ts';
import { flow, rig, runAll } from './xdp-fixtures.ts';

const clang = findClang(14);
if (typeof clang !== 'string') console.log(`C XDP tests skipped: ${clang.missing}`);
const DEV_SOURCE = path.join(import.meta.dirname, 'fixtures/xdp_redirect_dev.bpf.c');
const CPU_SOURCE = path.join(import.meta.dirname, '../../scenarios/c/xdp_redirect_cpu.bpf.c');
const le32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);

function devObject(flags: string[] = []): BpfObject {
  return BpfObject.open(compileBpfC(DEV_SOURCE, { clang: clang as string, flags }), {
    name: 'xdp_redirect_dev',
  });
}

describe.skipIf(typeof clang !== 'string')('XDP programs from C objects', () => {
  it('SEC() gives the expected attach type; a SEC("xdp/cpumap") program cannot go on a device', () => {
    const r = rig(2);
    const obj = BpfObject.open(compileBpfC(CPU_SOURCE, { clang: clang as string }), {
      name: 'xdp_redirect_cpu',
    }).load(r.k);
    expect(obj.program('xdp_redir_cpu_round_robin').expectedAttachType).toBe(BPF_XDP);
    expect(obj.program('cpumap_count').expectedAttachType).toBe(BPF_XDP_CPUMAP);
    expect(() => r.eth0.attachXdp(obj.program('cpumap_count'))).toThrow(
      'EINVAL: cpumap_count: a program for a cpumap entry cannot be attached to eth0',
    );
    expect(obj.map('cpu_map').loaded().map.type).toBe(BPF_MAP_TYPE.CPUMAP);
  });

  it('the CPUMAP of .maps: every update makes a kthread; the value holds qsize and the SEC("xdp/cpumap") program', () => {
    const r = rig(2);
    const obj = BpfObject.open(compileBpfC(CPU_SOURCE, { clang: clang as string }), {
      name: 'xdp_redirect_cpu',
    }).load(r.k);
    const cpuMap = obj.map('cpu_map').loaded();
    expect(() =>
      cpuMap.updateElem(
        le32(1),
        le32(64, r.net.loadXdpProgram(obj.program('xdp_redir_cpu_round_robin'))),
      ),
    ).toThrow(/^ENOMEM/);
    expect(() => cpuMap.updateElem(le32(2), le32(64, 0))).toThrow(/^ENODEV/);
    const fd = r.net.loadXdpProgram(obj.program('cpumap_count'));
    cpuMap.updateElem(le32(1), le32(64, fd));
    const v = new DataView(cpuMap.lookupElem(le32(1)).buffer);
    expect([v.getUint32(0, true), v.getUint32(4, true)]).toEqual([
      64,
      r.net.progId(obj.program('cpumap_count').prog),
    ]);
    expect([...r.k.tasks.values()].map((t) => t.comm)).toContain(
      `cpumap/1/map:${(cpuMap.map as CpuMap).id}`,
    );
  });

  it('bpf_redirect_map from C: an empty DEVMAP slot returns the fallback; a filled one sends out of eth1 through its devmap program', () => {
    const r = rig(2);
    const eth1 = r.net.addDevice({ name: 'eth1' });
    const obj = devObject();
    obj.rodata.port = 1;
    obj.rodata.fallback = BigInt(XDP_DROP);
    obj.load(r.k);
    const prog = obj.program('xdp_redirect_dev');
    const frame = buildFrame(flow(0));
    expect(xdpTestRun(r.k, prog.prog, { dataIn: frame }).retval).toBe(XDP_DROP);
    const fd = r.net.loadXdpProgram(obj.program('egress_count'));
    expect(obj.program('egress_count').expectedAttachType).toBe(BPF_XDP_DEVMAP);
    obj.map('tx_port').loaded().updateElem(le32(1), le32(eth1.ifindex, fd));
    expect(xdpTestRun(r.k, prog.prog, { dataIn: frame }).retval).toBe(XDP_REDIRECT);
    r.eth0.attachXdp(prog);
    new TrafficSource(r.eth0, { flows: [flow(0), flow(1)], count: 40, rate: 20_000 }).start(
      r.k,
      () => r.net.drained(),
    );
    runAll(r.k);
    expect(r.eth0.rxTotals().xdpRedirect).toBe(40);
    expect(eth1.txPackets).toBe(40);
    const seen = obj.map('egress_seen').loaded().lookupElem(le32(0));
    expect(new DataView(seen.buffer).getBigUint64(0, true)).toBe(40n);
  });

  it('a program passing the CPUMAP to bpf_map_lookup_elem is refused at load with the verifier message, and the machine keeps no map', () => {
    const r = rig(1);
    const before = r.k.maps.entries().length;
    expect(() => devObject(['-DLOOKUP_CPUMAP']).load(r.k)).toThrow(
      /^EINVAL: xdp_lookup_cpumap: insn \d+: cannot pass map_type 16 into func bpf_map_lookup_elem#1$/,
    );
    expect(r.k.maps.entries().length).toBe(before);
  });

  it('BPF_PROG_TEST_RUN with live frames drives the C redirect into a cpumap: the kthread and its program see every frame', () => {
    const r = rig(2);
    const obj = BpfObject.open(compileBpfC(CPU_SOURCE, { clang: clang as string }), {
      name: 'xdp_redirect_cpu',
    });
    obj.rodata.cpus_count = 1;
    obj.load(r.k);
    obj.map('cpus_available').loaded().updateElem(le32(0), le32(1));
    const fd = r.net.loadXdpProgram(obj.program('cpumap_count'));
    obj.map('cpu_map').loaded().updateElem(le32(1), le32(256, fd));
    const res = xdpTestRun(r.k, obj.program('xdp_redir_cpu_round_robin').prog, {
      dataIn: buildFrame(flow(3)),
      repeat: 100,
      flags: BPF_F_TEST_XDP_LIVE_FRAMES,
    });
    expect(res.retval).toBe(0);
    for (let i = 0; i < 50; i++) r.k.runCpu(1, 1000); // the kthread on CPU 1
    const passed = typedPercpuMap<number, bigint>(obj.map('passed').loaded(), u32, u64).get(0);
    expect(passed).toEqual([0n, 100n]);
    const map = obj.map('cpu_map').loaded().map as CpuMap;
    expect(map.kthreadStats[1].pass).toBe(100);
  });

  it("the cpumap program drops the flow to drop_port on the target CPU: counted as the kthread's drops, never passed", () => {
    const r = rig(2);
    const obj = BpfObject.open(compileBpfC(CPU_SOURCE, { clang: clang as string }), {
      name: 'xdp_redirect_cpu',
    });
    obj.rodata.cpus_count = 1;
    obj.rodata.drop_port = 80;
    obj.load(r.k);
    obj.map('cpus_available').loaded().updateElem(le32(0), le32(1));
    obj
      .map('cpu_map')
      .loaded()
      .updateElem(le32(1), le32(256, r.net.loadXdpProgram(obj.program('cpumap_count'))));
    r.eth0.attachXdp(obj.program('xdp_redir_cpu_round_robin'));
    const flows = [flow(0), { ...flow(1), dport: 8080 }];
    new TrafficSource(r.eth0, { flows, count: 50, rate: 20_000 }).start(r.k, () => r.net.drained());
    runAll(r.k);
    const kt = (obj.map('cpu_map').loaded().map as CpuMap).kthreadStats[1];
    expect(kt.pass + kt.drop).toBe(50);
    expect(kt.drop).toBe(25);
    expect(kt.stack).toBe(25);
  });

  it('the C round-robin scenario holds under round-robin, random and PCT', () => {
    for (const [strategy, seed] of [
      ['rr', 1],
      ['random', 2],
      ['pct', 3],
    ] as const) {
      const res = runScenario(cCpumapRoundRobin(), { strategy, seed });
      expect(res.ok, `${strategy} ${seed}: ${JSON.stringify(res.verdicts)}`).toBe(true);
    }
  });
});
