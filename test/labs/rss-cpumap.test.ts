/**
 * Lab rss-cpumap (C, compiled at test time): the untouched starter (the
 * kernel documentation's round robin with a shared ARRAY of statistics)
 * is balanced but fails order, exactness, per-CPU statistics and
 * malformed frames, the same way every time; the reference solution
 * (flow hash, PERCPU_ARRAY, XDP_DROP of non-IPv4) gets full marks; and
 * each deliberately wrong solution fails exactly the test it should. A
 * compiler error is reported as clang wrote it.
 */

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clangMissing } from '../../labs/rss-cpumap/harness.ts';
import { failed, grade, SOLUTIONS } from './grade-fixture.ts';

const T = 600_000;
const missing = clangMissing();
if (missing !== null) console.log(`lab rss-cpumap tests skipped: ${missing}`);

const ORDER = [
  'order: every flow in order under PCT (40 schedules)',
  'order: every flow in order under random schedules (40)',
];
const PRESSURE =
  'rings of 8 under a burst: drops counted, order and statistics exact (PCT, 30 schedules)';
const PER_CPU = "statistics per CPU: each CPU's rx_packets is its stack's (PCT, 10 schedules)";
const MALFORMED = 'malformed frames dropped in XDP and counted';

describe.skipIf(missing !== null)('lab rss-cpumap', () => {
  it('the starter is balanced but fails order, statistics and malformed frames, the same way twice', {
    timeout: T,
  }, async () => {
    const r = await grade('rss-cpumap', 'starter');
    expect(failed(r)).toEqual([
      ...ORDER,
      'statistics exact under random schedules (60)',
      PER_CPU,
      MALFORMED,
      PRESSURE,
    ]);
    expect(r.score).toBe(25);
    expect(r.tests[2].detail).toMatch(
      /flow \d+: frame \d+ \(CPU \d\) reached the stack after frame \d+/,
    );
    expect(r.tests[2].replay).toMatch(/^npx percpu-emu lab run rss-cpumap order --replay v2\./);
    expect(r.tests[4].detail).toMatch(/stats: \d+ packets, \d+ bytes; the stacks: 128 packets/);
    const again = await grade('rss-cpumap', 'starter');
    expect(again.tests.map((t) => [t.ok, t.detail, t.replay])).toEqual(
      r.tests.map((t) => [t.ok, t.detail, t.replay]),
    );
  });

  it('the reference solution gets full marks', { timeout: T }, async () => {
    const r = await grade('rss-cpumap', 'rss-cpumap');
    expect(failed(r), JSON.stringify(r.tests.filter((t) => !t.ok))).toEqual([]);
    expect(r.score).toBe(100);
  });

  it('round-robin steering with everything else right fails only the order tests', {
    timeout: T,
  }, async () => {
    const r = await grade('rss-cpumap', 'rss-cpumap-round-robin');
    expect(failed(r)).toEqual([...ORDER, PRESSURE]);
  });

  it('a shared ARRAY with atomic adds is exact but not per CPU', { timeout: T }, async () => {
    const r = await grade('rss-cpumap', 'rss-cpumap-atomic');
    expect(failed(r)).toEqual([PER_CPU]);
    expect(r.tests.find((t) => t.name === PER_CPU)?.detail).toMatch(
      /one value shared by every CPU/,
    );
  });

  it('hashing ARP frames as IPv4 fails only the malformed-frames test', {
    timeout: T,
  }, async () => {
    const r = await grade('rss-cpumap', 'rss-cpumap-no-drop');
    expect(failed(r)).toEqual([MALFORMED]);
    expect(r.tests.find((t) => t.name === MALFORMED)?.detail).toMatch(
      /8 malformed frames sent: stats.dropped 0, XDP_DROP 0, 8 reached a stack/,
    );
  });

  it("a compiler error fails the build test with clang's message", { timeout: T }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rss-lab-'));
    cpSync(join(SOLUTIONS, 'rss-cpumap'), dir, { recursive: true });
    const src = readFileSync(join(dir, 'steer.bpf.c'), 'utf8');
    writeFileSync(join(dir, 'steer.bpf.c'), src.replace('return XDP_DROP;', 'return XDP_DROP'));
    const r = await grade('rss-cpumap', dir);
    expect(r.tests[0].ok).toBe(false);
    expect(r.tests[0].detail).toMatch(
      /steer\.bpf\.c does not compile:\n.*steer\.bpf\.c:\d+:\d+: error: expected ';'/s,
    );
  });
});
