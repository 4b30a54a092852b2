/**
 * `npm run bench -- xdp`: frames per second through the whole path: NIC ->
 * XDP redirect on CPU 0 -> cpumap bulk queue and ring -> kthread on the
 * other CPUs -> XDP_PASS to their stacks, on 2 and 4 CPUs under the
 * deterministic engine (round-robin, quantum 1000) and on 2 CPUs in
 * parallel mode. The baseline, measured in the same run: the same number of
 * frames through XDP_DROP on the receiving CPU, entering as a burst (the
 * traffic source fills the RX ring as the driver empties it). The machines
 * are in xdp-recipes.ts: the cpumap frames come at 12,000 per emulated
 * second per kthread, so every frame reaches a stack; RSS points every
 * flow at queue 0; tracing is off.
 *
 * Time: a deterministic run is one thread, and is timed by the host CPU
 * time of this process (`process.cpuUsage`), which on an idle host is its
 * wall time and on a host shared with other jobs is not inflated by their
 * share of the cores. A parallel run is timed by the wall clock from the
 * start of its CPUs to their end (the runner's `wallMs`, after every
 * worker booted). Each deterministic figure is the median of five rounds
 * after a warm-up of three runs of each (the JIT's figures settle only
 * after a few runs); the parallel one the median of three runs after one.
 *
 * @example
 * // npm run bench -- xdp --json
 */

import { CpuMap, netStackOf } from '../nic/index.ts';
import { runDeterministic } from '../preempt/engine.ts';
import { Machine } from '../preempt/machine.ts';
import { ParallelRunner } from '../preempt/parallel/runner.ts';
import { roundRobin } from '../preempt/strategies/round-robin.ts';
import { type BenchReport, median } from './report.ts';
import { setupXdpBench, XDP_BENCH_FRAMES, xdpBenchMachine } from './xdp-recipes.ts';

const ROUNDS = 5;

/** Host CPU seconds of this process since `from`. */
function cpuSeconds(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}

/** One deterministic run; frames that reached a stack (or were dropped, for the baseline) per CPU second. */
function once(cpus: number, mode: 'drop' | 'cpumap'): number {
  const k = new Machine(xdpBenchMachine(cpus)).boot();
  setupXdpBench(k, mode);
  const t0 = process.cpuUsage();
  const r = runDeterministic(k, roundRobin({ quantum: 1000 }), { maxSteps: 2_000_000_000 });
  const sec = cpuSeconds(t0);
  if (!r.finished) throw new Error(`xdp bench (${mode}, ${cpus} CPUs) did not finish`);
  const net = netStackOf(k);
  const done =
    mode === 'drop' ? net.deviceByName('eth0').rxTotals().xdpDrop : net.stackTotals().packets;
  if (done !== XDP_BENCH_FRAMES)
    throw new Error(`xdp bench (${mode}): ${done} of ${XDP_BENCH_FRAMES} frames`);
  return done / sec;
}

function measure(cpus: number, mode: 'drop' | 'cpumap'): number {
  return median(Array.from({ length: ROUNDS }, () => once(cpus, mode)));
}

/**
 * One parallel run of the cpumap path on 2 CPUs: frames to the stacks per
 * wall second, and the ring drops. Each CPU's clock runs at its own
 * thread's pace, so CPU 0 may offer frames faster than CPU 1's kthread
 * takes them: those are dropped at the ring (counted, never lost).
 */
async function onceParallel(runner: ParallelRunner): Promise<{ pps: number; drops: number }> {
  const r = await runner.run(
    { module: new URL('./xdp-recipes.ts', import.meta.url).href, exportName: 'cpumapParallel2' },
    { maxSteps: 2_000_000_000, timeoutMs: 600_000 },
  );
  if (r.end !== 'finished') throw new Error(`xdp bench (parallel): ended ${r.end}`);
  const net = netStackOf(r.machine);
  const done = net.stackTotals().packets;
  const map = net.redirectMaps.find((m): m is CpuMap => m instanceof CpuMap)!;
  const drops = map.enqueueStats.flat().reduce((n, e) => n + e.drops, 0);
  if (done + drops !== XDP_BENCH_FRAMES) {
    throw new Error(
      `xdp bench (parallel): ${done} passed + ${drops} dropped of ${XDP_BENCH_FRAMES}`,
    );
  }
  return { pps: done / (r.wallMs / 1000), drops };
}

export async function run(): Promise<BenchReport> {
  for (let i = 0; i < 3; i++) {
    once(2, 'drop');
    once(2, 'cpumap');
    once(4, 'cpumap');
  }
  const drop = measure(2, 'drop');
  const two = measure(2, 'cpumap');
  const four = measure(4, 'cpumap');
  const runner = new ParallelRunner();
  let parallel: number;
  let drops: number;
  try {
    await onceParallel(runner);
    const rounds: { pps: number; drops: number }[] = [];
    for (let i = 0; i < 3; i++) rounds.push(await onceParallel(runner));
    parallel = median(rounds.map((x) => x.pps));
    drops = median(rounds.map((x) => x.drops));
  } finally {
    await runner.close();
  }
  const baseline = 'XDP_DROP on the receiving CPU';
  return {
    suite: 'xdp',
    results: [
      { name: 'xdp_drop_pps', value: drop, unit: 'frames/s' },
      { name: 'cpumap_pass_pps_2cpu', value: two, unit: 'frames/s', ratio: two / drop, baseline },
      { name: 'cpumap_pass_pps_4cpu', value: four, unit: 'frames/s', ratio: four / drop, baseline },
      {
        name: 'cpumap_parallel_pps_2cpu',
        value: parallel,
        unit: 'frames/s',
        ratio: parallel / drop,
        baseline,
        note: `wall time; median ${drops} of ${XDP_BENCH_FRAMES} frames dropped at the ring (counted)`,
      },
    ],
  };
}
