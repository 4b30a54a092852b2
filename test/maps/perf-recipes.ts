/**
 * A machine for the perf buffer tests under both engines (parallel mode's
 * workers rebuild it by importing this module): on each CPU a bound task
 * outputs PRODUCED samples with BPF_F_CURRENT_CPU into a one-page ring,
 * counting in per-CPU `oks` and `fails` what bpf_perf_event_output
 * returned; a native task on CPU 0 reads the rings with a perf buffer as
 * they fill (every READER_PERIOD steps), until every producer said it is done (`done`), then once
 * more, and leaves the samples and lost counts it saw in `samples` and
 * `lost`. A one-page ring holds 170 of these 24-byte records, so samples
 * are lost whenever the reader falls behind.
 */

import { PerfBuffer } from '../../maps/perf-buffer.ts';
import { bpfMapCreate } from '../../maps/syscall.ts';
import type { MachineRecipe } from '../../preempt/machine.ts';
import { u64 } from '../../segments/ctype.ts';

/** Samples each producer outputs. */
export const PRODUCED = 600;
/** Steps the reader waits between two reads: long enough for a ring to fill. */
const READER_PERIOD = 3000;

const producer = `
    r6 = r1
    r7 = 0
  loop:
    *(u64 *)(r10 - 8) = r7
    r1 = r6
    r2 = events ll
    r3 = 0xffffffff ll
    r4 = r10
    r4 += -8
    r5 = 8
    call bpf_perf_event_output
    if r0 == 0 goto ok
    r1 = fails ll
    goto count
  ok:
    r1 = oks ll
  count:
    r2 = 1
    call this_cpu_add
    r7 += 1
    if r7 < ${PRODUCED} goto loop
    r1 = done ll
    r2 = 1
    lock *(u64 *)(r1 + 0) += r2
    r0 = 0
    exit
`;

export const perfProducers: MachineRecipe = {
  machine: { cpus: 2, tickInterval: 200 },
  define(m) {
    m.definePerCpu('oks', u64, 0n);
    m.definePerCpu('fails', u64, 0n);
    m.defineData('done', u64, 0n);
    m.defineData('samples', u64, 0n);
    m.defineData('lost', u64, 0n);
  },
  setup(k) {
    const events = bpfMapCreate(k, 'PERF_EVENT_ARRAY', 'events', 4, 4, k.nrCpus);
    let samples = 0;
    let lost = 0;
    const pb = PerfBuffer.open(events, 1, {
      sample: (cpu, data) => {
        if (data.length !== 12) throw new Error(`CPU ${cpu}: a sample of ${data.length} bytes`);
        samples++;
      },
      lost: (_cpu, n) => {
        lost += n;
      },
    });
    const program = k.assemble(producer, 'producer');
    for (const c of k.cpus) k.spawn({ comm: `prod${c.id}`, cpu: c.id, allowed: [c.id], program });
    const done = new Int32Array(k.memory.buffer, k.symbol('done'), 2);
    k.spawn({
      comm: 'reader',
      cpu: 0,
      allowed: [0],
      *body() {
        for (;;) {
          const finished = Atomics.load(done, 0) === k.nrCpus;
          pb.poll();
          if (finished) break;
          for (let i = 0; i < READER_PERIOD; i++) yield;
        }
        k.memory.write64(k.symbol('samples'), BigInt(samples));
        k.memory.write64(k.symbol('lost'), BigInt(lost));
        return 0;
      },
    });
  },
};
