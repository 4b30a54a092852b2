import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../scenarios/load-scenario.ts';
import { cLostUpdate } from '../../scenarios/races/c-lost-update.ts';
import { runTimeline } from '../../scenarios/timeline-run.ts';
import { MarkKind, SpanKind, Suspect } from '../../timeline/timeline-data.ts';
import { findClang } from '../loader/compile.ts';

const clang = findClang(14);
const noClang = typeof clang === 'string' ? null : clang.missing;
if (noClang !== null) console.log(`timeline of a C program skipped: ${noClang}`);

const marksOf = (d: { marks: readonly number[] }, kind: number) =>
  Array.from({ length: d.marks.length / 6 }, (_, i) => i).filter(
    (i) => d.marks[i * 6 + 2] === kind,
  );

describe('extractTimeline', () => {
  it('lost-update-racy: the breaking write is a lost update, made after another context wrote the slot it had read', async () => {
    const { data, result } = runTimeline(
      await loadScenario('lost-update-racy'),
      { strategy: 'pct', seed: 3 },
      'lost-update-racy',
    );
    expect(result.ok).toBe(false);
    expect(data.vars).toEqual(['counter']);
    const b = data.breaking;
    expect(data.marks[b * 6 + 2]).toBe(MarkKind.Access);
    const a = data.marks[b * 6 + 3] * 8;
    expect(data.accesses[a + 3]).toBe(1);
    expect(data.accesses[a + 7] & Suspect.LostUpdate).toBe(Suspect.LostUpdate);
    expect(data.command).toMatch(
      /^npx percpu-emu run lost-update-racy --cpus \d+ --replay v\S+ --timeline out\.html$/,
    );
  });

  it('stale-pointer-racy: spans are sorted per lane and row, and every mark lies on a lane', async () => {
    const { data } = runTimeline(
      await loadScenario('stale-pointer-racy'),
      { strategy: 'pct', seed: 2 },
      'stale-pointer-racy',
    );
    const n = data.spans.length / 6;
    for (let i = 1; i < n; i++) {
      const [c0, s0, , k0, , d0] = data.spans.slice((i - 1) * 6, i * 6);
      const [c1, s1, , k1, , d1] = data.spans.slice(i * 6, i * 6 + 6);
      const row = (k: number, d: number) => (k >= SpanKind.PreemptOff ? 100 + k : d);
      if (c0 === c1 && row(k0, d0) === row(k1, d1)) expect(s1).toBeGreaterThanOrEqual(s0);
    }
    expect(marksOf(data, MarkKind.Migrate).length).toBeGreaterThan(0);
    expect(marksOf(data, MarkKind.Report).length).toBe(data.reports.length);
    for (let i = 0; i < data.marks.length / 6; i++)
      expect(data.marks[i * 6]).toBeLessThan(data.nrCpus);
    expect(data.tasks.map((t) => t.comm)).toEqual(
      expect.arrayContaining(['counter0', 'counter1', 'counter2', 'counter3']),
    );
  });

  it('irq-rmw-racy: shades the preempt-disabled regions and nests the timer handler above the task', async () => {
    const { data } = runTimeline(
      await loadScenario('irq-rmw-racy'),
      { strategy: 'pct', seed: 1 },
      'irq-rmw-racy',
    );
    const kinds = new Set(
      Array.from({ length: data.spans.length / 6 }, (_, i) => data.spans[i * 6 + 3]),
    );
    expect(kinds).toEqual(
      new Set([SpanKind.Task, SpanKind.Hardirq, SpanKind.Softirq, SpanKind.PreemptOff]),
    );
    expect(data.vars).toEqual(expect.arrayContaining(['events', 'task_count', 'irq_count']));
  });

  it('percpu-alloc-racy-no-rcu: the KASAN use-after-free is a report mark at the instruction it names', async () => {
    const { data } = runTimeline(
      await loadScenario('percpu-alloc-racy-no-rcu'),
      { strategy: 'pct', seed: 2 },
      'percpu-alloc-racy-no-rcu',
    );
    const kasan = data.reports.findIndex((r) => r.kind === 'kasan');
    expect(kasan).toBeGreaterThanOrEqual(0);
    const r = data.reports[kasan];
    expect(r.lines[0]).toMatch(/^BUG: KASAN: use-after-free in (\w+)\+0x18\/0x/);
    // `read+0x18` is the load 3 instructions past the reader's `read` label: the mark points there.
    expect(r.pc).toBeGreaterThanOrEqual(0);
    expect(data.programs[r.program].insns[r.pc]).toMatch(/\*\(u64 \*\)/);
    const m = marksOf(data, MarkKind.Report).find((i) => data.marks[i * 6 + 3] === kasan)!;
    expect(data.marks[m * 6]).toBe(r.cpu);
  });

  it('percpu-map-counter-racy: the PERCPU_ARRAY the invariant names is traced like a static variable', async () => {
    const { data, result } = runTimeline(
      await loadScenario('percpu-map-counter-racy'),
      { strategy: 'pct', seed: 1 },
      'percpu-map-counter-racy',
    );
    expect(data.vars).toEqual(['counter']);
    const n = data.accesses.length / 8;
    expect(n).toBeGreaterThan(0);
    // Values of a dynamic per-CPU allocation: every unit the accesses name is a CPU of the machine.
    for (let i = 0; i < n; i++) expect(data.accesses[i * 8 + 1]).toBeLessThan(data.nrCpus);
    const text = result.machine.tracer!.toFtrace();
    expect(text).toMatch(/percpu_access: (read|write) counter\+0 size=8 unit=cpu\d pc=\d+/);
    if (!result.ok) expect(data.breaking).toBeGreaterThanOrEqual(0);
  });

  it("cpumap-round-robin: cpumap's kthreads are tasks marked as kthreads", async () => {
    const { data } = runTimeline(
      await loadScenario('cpumap-round-robin'),
      {},
      'cpumap-round-robin',
    );
    const kthreads = data.tasks.filter((t) => t.kthread).map((t) => t.comm);
    expect(kthreads.length).toBeGreaterThan(0);
    for (const comm of kthreads) expect(comm).toMatch(/^cpumap\/\d+\/map:\d+$/);
    const spansOf = new Set(
      Array.from({ length: data.spans.length / 6 }, (_, i) => i)
        .filter((i) => data.spans[i * 6 + 3] === SpanKind.Task)
        .map((i) => data.spans[i * 6 + 4]),
    );
    expect(data.tasks.some((t, i) => t.kthread && spansOf.has(i))).toBe(true);
  });

  it.skipIf(noClang !== null)(
    'c-lost-update-racy: the program from the object carries its C source lines, a timer interrupt names the line it stopped, and the lost update of the PERCPU_ARRAY is marked at its C line',
    () => {
      const { data } = runTimeline(cLostUpdate('racy'), { strategy: 'pct', seed: 2 }, 'c');
      const p = data.programs.findIndex((x) => x.name === 'count_racy');
      expect(p).toBeGreaterThanOrEqual(0);
      expect(data.programs[p].source.some((l) => l?.includes('*slot = v + 1;'))).toBe(true);
      const lines: string[] = [];
      for (let i = 0; i < data.interrupts.length; i += 4) {
        if (data.interrupts[i + 2] === p && data.interrupts[i + 3] >= 0) {
          const line = data.programs[p].source[data.interrupts[i + 3]];
          if (line !== null) lines.push(line);
        }
      }
      expect(lines.length).toBeGreaterThan(0);
      expect(lines[0]).toMatch(/lost_update\.bpf\.c:\d+/);
      // The invariant names the PERCPU_ARRAY `hits`: its accesses are drawn, and the lost
      // update is the store of `*slot = v + 1`, at its C line.
      expect(data.vars).toEqual(['hits']);
      const a = data.marks[data.breaking * 6 + 3] * 8;
      expect(data.accesses[a + 3]).toBe(1);
      expect(data.accesses[a + 7] & Suspect.LostUpdate).toBe(Suspect.LostUpdate);
      expect(data.programs[p].source[data.accesses[a + 4]]).toMatch(
        /lost_update\.bpf\.c:\d+: +\*slot = v \+ 1;/,
      );
    },
  );
});
