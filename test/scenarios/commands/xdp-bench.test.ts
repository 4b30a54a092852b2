/**
 * `percpu-emu xdp-bench redirect-cpu` as a user runs it: the statistics of
 * a shipped XDP scenario, and --qsize reaching the CPUMAP entries (a queue
 * of 4 drops packets that one of 2048 holds), exit 1 when an invariant fails.
 */

import { describe, expect, it } from 'vitest';
import { spawnCli } from '../cli-process.ts';

const bench = (...args: string[]) =>
  spawnCli(['xdp-bench', 'redirect-cpu', 'rss-cpumap', '--interval', '0.01', ...args]);
const rxDropped = (out: string) =>
  Number(/Rx dropped +: ([\d,]+)/.exec(out)?.[1].replace(/,/g, ''));

describe('percpu-emu xdp-bench redirect-cpu', () => {
  it('prints the interval lines with -e and the summary, exit 0 when the invariants hold', () => {
    const r = bench('-e');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^eth0->\? +\d+ rx\/s/);
    expect(r.stdout.match(/ {2}receive total /g)?.length).toBeGreaterThan(1);
    expect(r.stdout).toMatch(/ {2}kthread total +\d+ pkt\/s/);
    expect(r.stdout).toContain('  Packets received    : 1,200');
  });

  it('--qsize sets the queue of every CPUMAP entry: 4 drops, 2048 does not', () => {
    const small = bench('--qsize', '4');
    expect(small.status, small.stderr).toBe(0);
    expect(rxDropped(small.stdout)).toBeGreaterThan(0);
    // The scenario expects drops at its rings: with none, its invariant fails (exit 1).
    const large = bench('--qsize', '2048');
    expect(rxDropped(large.stdout)).toBe(0);
    expect(large.stdout).toMatch(/^FAILED ring drops appear/m);
    expect(large.status).toBe(1);
  });
});
