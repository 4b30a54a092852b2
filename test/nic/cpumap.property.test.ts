/**
 * The cpumap's accounting under random everything: random traffic (flows,
 * count, rate or burst), random qsize, random replace and delete events
 * from a userspace task, random schedules. After every run: received =
 * passed + dropped + redirected, redirected = ring drops + kthread
 * processed, each drop in one counter, and every frame buffer freed.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bpfMapCreate } from '../../maps/syscall.ts';
import { type FlowSpec, netOf, TrafficSource } from '../../nic/index.ts';
import { runScenario } from '../../scenarios/run-scenario.ts';
import { defineScenario } from '../../scenarios/scenario.ts';
import { buffersFreed, framesAccountedFor } from '../../scenarios/xdp/xdp-invariants.ts';

const u32 = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);

interface Case {
  cpus: number;
  flows: number;
  count: number;
  rate: number | null;
  qsize: number;
  events: { afterMs: number; target: number; qsize: number }[];
  seed: number;
}

const arbCase: fc.Arbitrary<Case> = fc.record({
  cpus: fc.integer({ min: 2, max: 3 }),
  flows: fc.integer({ min: 1, max: 12 }),
  count: fc.integer({ min: 0, max: 250 }),
  rate: fc.option(fc.integer({ min: 2000, max: 60_000 }), { nil: null }),
  qsize: fc.integer({ min: 1, max: 64 }),
  events: fc.array(
    fc.record({
      afterMs: fc.integer({ min: 0, max: 6 }),
      target: fc.integer({ min: 0, max: 2 }),
      qsize: fc.integer({ min: 0, max: 32 }),
    }),
    { maxLength: 4 },
  ),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
});

function scenarioOf(c: Case) {
  const flows: FlowSpec[] = Array.from({ length: c.flows }, (_, i) => ({
    src: `10.4.${i}.1`,
    dst: '10.4.255.1',
    sport: 2000 + 31 * i,
    dport: 80,
    proto: i % 2 === 0 ? 'udp' : 'tcp',
    size: 64 + 16 * i,
  }));
  return defineScenario({
    name: 'cpumap-property',
    description: 'random traffic, qsize, replace/delete events and schedule',
    machine: { cpus: c.cpus, tickInterval: 300 },
    setup(k) {
      const net = netOf(k);
      const map = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 4, k.nrCpus);
      for (let cpu = 0; cpu < k.nrCpus; cpu++) map.updateElem(u32(cpu), u32(c.qsize));
      const eth0 = net.addDevice({ name: 'eth0', rxRingSize: 64 });
      // Spread by source port over every CPU; an empty slot passes (fallback XDP_PASS).
      eth0.attachXdp(
        k.loadText(
          k.assemble(`
            r2 = *(u32 *)(r1 + 0)
            r3 = *(u32 *)(r1 + 4)
            r4 = r2
            r4 += 36
            if r4 > r3 goto pass
            r2 = *(u8 *)(r2 + 35)
            r2 %= ${k.nrCpus}
            r1 = cpu_map ll
            r3 = 2
            call bpf_redirect_map
            exit
          pass:
            r0 = 2
            exit`),
          'xdp_spread',
        ),
      );
      new TrafficSource(eth0, { flows, count: c.count, rate: c.rate ?? undefined }).start(k, () =>
        net.drained(),
      );
      k.spawn({
        comm: 'admin',
        cpu: 0,
        body: function* () {
          for (const e of c.events) {
            if (e.afterMs > 0) yield* k.msleep(e.afterMs);
            const target = e.target % k.nrCpus;
            if (e.qsize === 0) map.deleteElem(u32(target));
            else map.updateElem(u32(target), u32(e.qsize));
          }
          return 0;
        },
      });
    },
    invariants: [framesAccountedFor, buffersFreed],
  });
}

describe('cpumap accounting property', () => {
  it('holds for random traffic, qsize, replace/delete events and schedules', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const r = runScenario(scenarioOf(c), {
          strategy: 'random',
          seed: c.seed,
          maxSteps: 20_000_000,
        });
        expect(r.engine.finished).toBe(true);
        expect(r.verdicts.filter((v) => !v.ok)).toEqual([]);
        // After the process exits (maps closed), nothing but the RX rings holds a buffer.
        const net = netOf(r.machine);
        let posted = 0;
        for (const d of net.devices.values()) for (const q of d.queues) posted += q.ring.posted;
        expect(net.liveBuffers - posted).toBe(0);
      }),
      { numRuns: 100, seed: 20261204 },
    );
  }, 240_000);
});
