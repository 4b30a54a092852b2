/**
 * What `percpu-emu xdp-bench redirect-cpu` does (commands/xdp-bench.ts
 * declares it): run an XDP scenario with xdp-bench's statistics recorder
 * attached after its setup, and print the lines and the summary.
 *
 * @example
 * process.exitCode = await runXdpBench('rss-cpumap', { interval: 0.01, strategy: 'rr' });
 */

import { BPF_EXIST } from '../../maps/bpf-uapi.ts';
import { BPF_XDP_CPUMAP, CpuMap, netOf } from '../../nic/index.ts';
import { formatXdpBench, XdpBenchRecorder } from '../../nic/xdp-bench.ts';
import type { Kernel } from '../../preempt/kernel.ts';
import { loadScenario } from '../load-scenario.ts';
import { formatReport } from '../report.ts';
import { runScenario, type StrategyName } from '../run-scenario.ts';
import { defineScenario } from '../scenario.ts';
import { asInput, EXIT_FAILED, EXIT_OK, errnoAsInput } from './exit-status.ts';
import { exitStatus } from './run.ts';

export interface XdpBenchFlags {
  cpus?: number;
  qsize?: number;
  /** Emulated seconds between two prints. */
  interval: number;
  extended?: boolean;
  strategy: StrategyName;
  seed?: number;
}

/** Runs `spec` with the statistics recorder; returns the exit status. */
export async function runXdpBench(spec: string, o: XdpBenchFlags): Promise<number> {
  const s = await asInput(() => loadScenario(spec));
  let recorder: XdpBenchRecorder | undefined;
  const wrapped = defineScenario({
    ...s,
    setup(k) {
      s.setup(k);
      if (o.qsize !== undefined) resizeCpumaps(k, o.qsize);
      recorder = new XdpBenchRecorder(k, o.interval);
    },
  });
  const r = errnoAsInput(() =>
    runScenario(wrapped, { cpus: o.cpus, strategy: o.strategy, seed: o.seed }),
  );
  if (recorder === undefined) {
    // The setup threw or crashed: nothing was counted, the report says why.
    process.stdout.write(`${formatReport(r, spec)}\n`);
    return exitStatus(r);
  }
  process.stdout.write(
    `${formatXdpBench(recorder.finish(), { extended: o.extended ?? false }).join('\n')}\n`,
  );
  for (const v of r.verdicts.filter((x) => !x.ok))
    process.stdout.write(`FAILED ${v.name}: ${v.detail}\n`);
  return r.ok ? EXIT_OK : EXIT_FAILED;
}

/** Every live CPUMAP entry gets queue size `qsize` (a new entry, as an update makes). */
function resizeCpumaps(k: Kernel, qsize: number): void {
  for (const map of netOf(k).redirectMaps) {
    if (!(map instanceof CpuMap)) continue;
    for (let cpu = 0; cpu < map.maxEntries; cpu++) {
      const entry = map.redirectLookup(cpu);
      if (entry === null) continue;
      const value = new Uint8Array(map.valueSize);
      const dv = new DataView(value.buffer);
      dv.setUint32(0, qsize, true);
      if (map.valueSize === 8 && entry.prog !== null) {
        dv.setUint32(4, netOf(k).loadXdpProgram(entry.prog.prog, BPF_XDP_CPUMAP), true);
      }
      map.sysUpdate(new Uint8Array(new Uint32Array([cpu]).buffer), value, BPF_EXIST);
    }
  }
}
