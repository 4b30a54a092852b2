/**
 * Machines for the network layer's parallel-mode tests, one per named
 * export (a worker rebuilds each by importing this module).
 */

import { bpfMapCreate } from '../../maps/syscall.ts';
import { netOf } from '../../nic/net-setup.ts';
import { TrafficSource } from '../../nic/traffic.ts';
import type { MachineRecipe } from '../../preempt/machine.ts';
import { flow } from './xdp-fixtures.ts';

const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);

/**
 * CPU 0 receives every frame and redirects it to CPU 1's cpumap kthread,
 * while a native task on CPU 0 tries to replace that entry mid-run.
 */
export const cpumapUpdatedWhileRunning: MachineRecipe = {
  machine: { cpus: 2, tickInterval: 300 },
  setup(k) {
    const net = netOf(k);
    const cpuMap = bpfMapCreate(k, 'CPUMAP', 'cpu_map', 4, 4, 2);
    cpuMap.updateElem(u32(1), u32(64));
    const eth0 = net.addDevice({ name: 'eth0' });
    eth0.attachXdp(
      k.loadText(
        k.assemble('r1 = cpu_map ll\nr2 = 1\nr3 = 0\ncall bpf_redirect_map\nexit'),
        'xdp_to_cpu1',
      ),
    );
    new TrafficSource(eth0, { flows: [flow(0)], count: 50, rate: 10_000 }).start(k, () =>
      net.drained(),
    );
    k.spawn({
      comm: 'admin',
      cpu: 0,
      allowed: [0],
      body: function* () {
        yield* k.msleep(1);
        cpuMap.updateElem(u32(1), u32(128));
        return 0;
      },
    });
  },
};
