/**
 * The percpu:percpu_access tracepoint: every access to the static per-CPU
 * variables asked for (`--trace-percpu hits`, or what an invariant names),
 * by a guest load, store or atomic or by a this_cpu op kfunc, recorded with
 * the CPU whose unit it touched, which is not always the CPU that ran it:
 * a stale `this_cpu_ptr` writes another CPU's unit, and the event shows it.
 *
 * Off, it costs nothing: no probe is chained and no range watched. On, it
 * widens each CPU's watched range (cpu.ts's slow path) to cover every
 * unit's copy of the variables and chains in front of the probe already
 * there (the sanitizer's), so both see each access; the this_cpu op kfuncs
 * are wrapped the same way. The events go through the tracer, so only a
 * tracer with the `percpu` group selected records them.
 *
 * Context: boot done, before the run; deterministic mode (the parallel
 * runner's workers have their own probes).
 *
 * @example
 * k.tracer!.select([...k.tracer!.selectedGroups, 'percpu']);
 * tracePercpuVariables(k, ['hits', 'done']);
 */

import type { CpuContext } from '../cpu/context.ts';
import type { Cpu, CpuProbe } from '../cpu/cpu.ts';
import { PERCPU_FAMILIES, PERCPU_OPS } from '../percpu/this-cpu-ops.ts';
import { ErrnoError } from '../segments/errno.ts';
import type { Kernel } from './kernel.ts';

/**
 * A traced variable: its per-CPU pointer and size. Static variables are
 * found by name; other per-CPU objects (a PERCPU_ARRAY's values, from the
 * layer that knows maps) come as ranges, named as the ftrace line shows them.
 */
export interface TracedVar {
  readonly name: string;
  readonly ptr: number;
  readonly size: number;
}

/**
 * Traces every access to the per-CPU variables `names` as percpu_access
 * events, and the per-CPU objects `ranges` (any chunk); ENOENT for a name
 * that is not a static per-CPU variable, EBUSY if this kernel already
 * traces accesses.
 */
export function tracePercpuVariables(
  k: Kernel,
  names: readonly string[],
  ranges: readonly TracedVar[] = [],
): void {
  if (k.cpus[0].cpu.probe instanceof PercpuAccessProbe) {
    throw new ErrnoError('EBUSY', 'per-CPU accesses are already traced');
  }
  const vars: TracedVar[] = names.map((name) => {
    const s = k.areas.symbol(name);
    return { name, ptr: s.address, size: s.size };
  });
  vars.push(...ranges);
  if (vars.length === 0) return;
  const lo = Math.min(...vars.map((v) => k.areas.perCpuPtr(v.ptr, 0)));
  const hi = Math.max(...vars.map((v) => k.areas.perCpuPtr(v.ptr, k.nrCpus - 1) + v.size));
  for (const c of k.cpus) {
    c.cpu.probe = new PercpuAccessProbe(k, vars, c.cpu.probe);
    const [wlo, whi] = c.cpu.watched;
    c.cpu.watch(whi > wlo ? Math.min(wlo, lo) : lo, Math.max(whi, hi));
  }
  wrapThisCpuOps(k, vars);
}

/** Emits the event, then shows the access to the probe it was chained in front of. */
class PercpuAccessProbe implements CpuProbe {
  constructor(
    private readonly k: Kernel,
    private readonly vars: readonly TracedVar[],
    private readonly previous: CpuProbe | null,
  ) {}

  thisCpuPtr(cpu: Cpu, ctx: CpuContext, pc: number): void {
    this.previous?.thisCpuPtr(cpu, ctx, pc);
  }

  memAccess(
    cpu: Cpu,
    ctx: CpuContext,
    pc: number,
    addr: number,
    size: number,
    kind: 'read' | 'write',
  ): void {
    emitAccess(this.k, this.vars, addr, size, kind, pc);
    this.previous?.memAccess?.(cpu, ctx, pc, addr, size, kind);
  }
}

function emitAccess(
  k: Kernel,
  vars: readonly TracedVar[],
  addr: number,
  size: number,
  kind: 'read' | 'write',
  pc: number,
): void {
  const c = k.current;
  if (c === null || k.tracer === null || !k.tracer.wants('percpu_access')) return;
  // per_cpu_ptr(p, cpu) is p + __per_cpu_offset[cpu] in every chunk: try each unit.
  for (const v of vars) {
    for (let unit = 0; unit < k.nrCpus; unit++) {
      const copy = k.areas.perCpuPtr(v.ptr, unit);
      if (addr + size > copy && addr < copy + v.size) {
        k.trace(c, {
          type: 'percpu_access',
          var: v.name,
          unit,
          offset: addr - copy,
          size,
          access: kind,
          pc,
        });
        return;
      }
    }
  }
}

/** The this_cpu op kfuncs (r1 = per-CPU pointer) touch the calling CPU's copy. */
function wrapThisCpuOps(k: Kernel, vars: readonly TracedVar[]): void {
  const name = new RegExp(`^(?:${PERCPU_FAMILIES.join('|')})(${PERCPU_OPS.join('|')})(?:_(\\d))?$`);
  for (const entry of k.kfuncs.entries()) {
    const op = name.exec(entry.name);
    if (op === null) continue;
    const size = op[2] === undefined ? 8 : Number(op[2]);
    const kind = op[1] === 'read' ? 'read' : 'write';
    const fn = entry.fn;
    k.kfuncs.register(entry.id, entry.name, (ctx: CpuContext, cpu: Cpu) => {
      const addr = k.areas.perCpuPtr(ctx.regNumber(1), k.rawSmpProcessorId());
      emitAccess(k, vars, addr, size, kind, ctx.pc - 1);
      fn(ctx, cpu);
    });
  }
}
