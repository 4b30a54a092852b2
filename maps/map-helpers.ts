/**
 * The map helpers guest programs call, by their `enum bpf_func_id` numbers:
 *
 *   1 bpf_map_lookup_elem(map, key)          value address (this CPU's copy) or NULL
 *   2 bpf_map_update_elem(map, key, value, flags)   0 or -errno
 *   3 bpf_map_delete_elem(map, key)          0 or -errno
 *  87 bpf_map_push_elem(map, value, flags)   0 or -errno
 *  88 bpf_map_pop_elem(map, value)           0 or -errno
 *  89 bpf_map_peek_elem(map, value)          0 or -errno
 * 164 bpf_for_each_map_elem(map, callback, ctx, flags)   elements visited, or -EINVAL
 *     for flags != 0; calls the program's `callback(map, key, value, ctx)`
 *     (r2 from `r2 = func(callback) ll`) per element until it returns 1
 * 195 bpf_map_lookup_percpu_elem(map, key, cpu)   CPU `cpu`'s copy or NULL
 *  12 bpf_tail_call(ctx, prog_array, index)   does not return when it jumps; falls
 *     through (registers untouched) for an index out of range, an empty slot,
 *     or a run past MAX_TAIL_CALL_CNT (maps/prog-array-map.ts)
 *  25 bpf_perf_event_output(ctx, perf_event_array, flags, data, size)   0, -EINVAL,
 *     -E2BIG, -ENOENT, -EOPNOTSUPP, -ENOSPC (maps/perf-event-array-map.ts)
 *
 * and the ring buffer's (maps/ringbuf-map.ts):
 *
 * 130 bpf_ringbuf_output(ringbuf, data, size, flags)   0, -EINVAL (flags), -EAGAIN (no room)
 * 131 bpf_ringbuf_reserve(ringbuf, size, flags)   a sample's address, or NULL (no room, flags)
 * 132 bpf_ringbuf_submit(sample, flags)    returns 0
 * 133 bpf_ringbuf_discard(sample, flags)   returns 0
 * 134 bpf_ringbuf_query(ringbuf, flags)    BPF_RB_AVAIL_DATA, _RING_SIZE, _CONS_POS, _PROD_POS
 *
 * Each runs whole on the calling CPU, like one instruction. A first argument
 * that is not a map, a key or value pointer outside memory, or a helper the
 * map type has no use for (which the verifier would refuse) faults the task
 * with an error naming it; the kernel's ordinary failures are negative
 * errnos in r0.
 *
 * @example
 * m.asm`r1 = counts ll
 *       r2 = r10
 *       r2 += -4
 *       call bpf_map_lookup_elem
 *       exit`;
 */

import type { CpuContext } from '../cpu/context.ts';
import type { Kernel } from '../preempt/kernel.ts';
import { ERRNO, ErrnoError } from '../segments/errno.ts';
import type { BpfMap } from './bpf-map.ts';
import { BPF_F_RDONLY_PROG } from './bpf-uapi.ts';
import { mapAt } from './map-table.ts';
import { PerfEventArrayMap } from './perf-event-array-map.ts';
import { ProgArrayMap } from './prog-array-map.ts';
import { RingbufMap } from './ringbuf-map.ts';

/** The map in r1, checked. */
type MapOf = (ctx: CpuContext, helper: string) => BpfMap;

/**
 * Registers the map helpers on `k` with its first map (until then no
 * program can hold one); bpfMapCreate calls it.
 *
 * @example
 * installMapHelpers(k);
 */
export function installMapHelpers(k: Kernel): void {
  if (k.helpers.get(1) === undefined) registerMapHelpers(k);
}

function registerMapHelpers(m: Kernel): void {
  const mapOf: MapOf = (ctx, helper) => mapAt(m, ctx.regNumber(1), helper);
  const writable = (map: BpfMap, helper: string) => {
    if (map.mapFlags & BPF_F_RDONLY_PROG) {
      throw new ErrnoError('EPERM', `${helper}: ${map.describe} is read-only for programs`);
    }
    return map;
  };
  m.helpers
    .register(1, 'bpf_map_lookup_elem', (ctx, cpu) => {
      const map = mapOf(ctx, 'bpf_map_lookup_elem');
      ctx.setRegNumber(0, map.lookupElem(ctx.regNumber(2), cpu.id));
    })
    .register(2, 'bpf_map_update_elem', (ctx, cpu) => {
      const map = writable(mapOf(ctx, 'bpf_map_update_elem'), 'bpf_map_update_elem');
      ctx.setRegNumber(
        0,
        map.updateElem(ctx.regNumber(2), ctx.regNumber(3), ctx.regNumber(4), cpu.id),
      );
    })
    .register(3, 'bpf_map_delete_elem', (ctx, cpu) => {
      const map = writable(mapOf(ctx, 'bpf_map_delete_elem'), 'bpf_map_delete_elem');
      ctx.setRegNumber(0, map.deleteElem(ctx.regNumber(2), cpu.id));
    })
    .register(87, 'bpf_map_push_elem', (ctx, cpu) => {
      const map = writable(mapOf(ctx, 'bpf_map_push_elem'), 'bpf_map_push_elem');
      ctx.setRegNumber(0, map.pushElem(ctx.regNumber(2), ctx.regNumber(3), cpu.id));
    })
    .register(88, 'bpf_map_pop_elem', (ctx, cpu) => {
      const map = writable(mapOf(ctx, 'bpf_map_pop_elem'), 'bpf_map_pop_elem');
      ctx.setRegNumber(0, map.popElem(ctx.regNumber(2), false, cpu.id));
    })
    .register(89, 'bpf_map_peek_elem', (ctx, cpu) => {
      ctx.setRegNumber(0, mapOf(ctx, 'bpf_map_peek_elem').popElem(ctx.regNumber(2), true, cpu.id));
    })
    .register(164, 'bpf_for_each_map_elem', (ctx, cpu) => {
      const map = mapOf(ctx, 'bpf_for_each_map_elem');
      const callback = ctx.regNumber(2);
      const cbCtx = ctx.regNumber(3);
      if (ctx.regNumber(4) !== 0) {
        ctx.setRegNumber(0, -ERRNO.EINVAL);
        return;
      }
      if (callback >= ctx.program.length) {
        throw new ErrnoError(
          'EINVAL',
          `bpf_for_each_map_elem: callback ${callback} is not an instruction`,
        );
      }
      const visited = map.forEachElem(cpu.id, (key, value) => {
        return cpu.callback(ctx, callback, [map.addr, key, value, cbCtx]) !== 0;
      });
      ctx.setRegNumber(0, visited);
    })
    .register(195, 'bpf_map_lookup_percpu_elem', (ctx, cpu) => {
      const map = mapOf(ctx, 'bpf_map_lookup_percpu_elem');
      ctx.setRegNumber(0, map.lookupPercpuElem(ctx.regNumber(2), ctx.regNumber(3), cpu.id));
    })
    .register(12, 'bpf_tail_call', (ctx, cpu) => {
      const map = mapAt(m, ctx.regNumber(2), 'bpf_tail_call');
      if (!(map instanceof ProgArrayMap))
        throw new ErrnoError('EINVAL', `bpf_tail_call: ${map.describe} is not a program array`);
      map.tailCall(ctx, cpu, ctx.regU32(3));
    })
    .register(25, 'bpf_perf_event_output', (ctx, cpu) => {
      const map = mapAt(m, ctx.regNumber(2), 'bpf_perf_event_output');
      if (!(map instanceof PerfEventArrayMap))
        throw new ErrnoError(
          'EINVAL',
          `bpf_perf_event_output: ${map.describe} is not a perf event array`,
        );
      const r = map.output(ctx.regU32(3), ctx.words[7], ctx.regNumber(4), ctx.regNumber(5), cpu.id);
      ctx.setRegNumber(0, r);
    });
  registerRingbufHelpers(m, mapOf);
}

/** Helpers 130-134 on BPF_MAP_TYPE_RINGBUF maps. */
function registerRingbufHelpers(m: Kernel, mapOf: MapOf): void {
  const ringbufOf = (ctx: CpuContext, helper: string): RingbufMap => {
    const map = mapOf(ctx, helper);
    if (!(map instanceof RingbufMap))
      throw new ErrnoError('EINVAL', `${helper}: ${map.describe} is not a ring buffer`);
    return map;
  };
  const commit = (ctx: CpuContext, helper: string, discard: boolean) => {
    const sample = ctx.regNumber(1);
    const rb = RingbufMap.fromSample(m, sample, (addr) => mapAt(m, addr, helper), helper);
    rb.commit(sample, ctx.regNumber(2), discard);
    ctx.setRegNumber(0, 0);
  };
  m.helpers
    .register(130, 'bpf_ringbuf_output', (ctx, cpu) => {
      const rb = ringbufOf(ctx, 'bpf_ringbuf_output');
      ctx.setRegNumber(0, rb.output(ctx.regNumber(2), ctx.regNumber(3), ctx.regNumber(4), cpu.id));
    })
    .register(131, 'bpf_ringbuf_reserve', (ctx, cpu) => {
      const rb = ringbufOf(ctx, 'bpf_ringbuf_reserve');
      ctx.setRegNumber(0, ctx.regNumber(3) !== 0 ? 0 : rb.reserve(ctx.regNumber(2), cpu.id));
    })
    .register(132, 'bpf_ringbuf_submit', (ctx) => commit(ctx, 'bpf_ringbuf_submit', false))
    .register(133, 'bpf_ringbuf_discard', (ctx) => commit(ctx, 'bpf_ringbuf_discard', true))
    .register(134, 'bpf_ringbuf_query', (ctx) => {
      ctx.setRegNumber(0, ringbufOf(ctx, 'bpf_ringbuf_query').query(ctx.regNumber(2)));
    });
}
