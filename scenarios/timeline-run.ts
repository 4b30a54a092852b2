/**
 * A scenario run drawn as a timeline: the run traces what the picture needs
 * (the preemptirq regions, and every access to the per-CPU variables its
 * invariants name, or `tracePercpu`), into rings big enough to keep the
 * whole run, and the page is made from the result with the run's report
 * and the command that replays it. The schedule is the one the options
 * choose, so `--replay` of a failing seed draws that failure.
 *
 * @example
 * const { result, html } = runTimeline(scenario, { strategy: 'pct', seed: 2 }, 'stale-pointer-racy');
 * writeFileSync('out.html', html);
 */

import type { TraceEventGroup } from '../preempt/trace/events.ts';
import { extractTimeline } from '../timeline/extract-timeline.ts';
import type { TimelineData } from '../timeline/timeline-data.ts';
import { timelineHtml } from '../timeline/timeline-html.ts';
import { formatReport } from './report.ts';
import { type RunScenarioOptions, runScenario, type ScenarioResult } from './run-scenario.ts';
import { invariantVariables, type Scenario } from './scenario.ts';

/** Trace ring per CPU for a timeline run: the whole of a shipped scenario's run fits. */
export const TIMELINE_TRACE_BYTES_PER_CPU = 4 << 20;

const TIMELINE_EVENTS: readonly TraceEventGroup[] = [
  'sched',
  'irq',
  'ipi',
  'printk',
  'xdp',
  'preemptirq',
  'percpu',
];

export interface TimelineRun {
  readonly result: ScenarioResult;
  readonly data: TimelineData;
  readonly html: string;
}

/**
 * `opts` with the timeline's tracing where they choose none: every event
 * group, the variables the invariants name, rings that keep the whole run.
 */
export function timelineRunOptions(s: Scenario, opts: RunScenarioOptions): RunScenarioOptions {
  return {
    ...opts,
    traceEvents: opts.traceEvents ?? TIMELINE_EVENTS,
    tracePercpu: opts.tracePercpu ?? invariantVariables(s),
    traceBytesPerCpu: opts.traceBytesPerCpu ?? TIMELINE_TRACE_BYTES_PER_CPU,
  };
}

/** Runs `s` once with the timeline's tracing and draws it; `source` is how the CLI named it. */
export function runTimeline(s: Scenario, opts: RunScenarioOptions, source: string): TimelineRun {
  const result = runScenario(s, timelineRunOptions(s, opts));
  return { result, ...timelineOf(result, source) };
}

/** The timeline of a finished run (traced as runTimeline traces). */
export function timelineOf(
  result: ScenarioResult,
  source: string,
): { data: TimelineData; html: string } {
  const data = extractTimeline(result.machine, {
    title: result.scenario.name,
    report: formatReport(result, source),
    replay: result.replay,
    command:
      result.replay === ''
        ? 'parallel runs are not reproducible'
        : `npx percpu-emu run ${source} --cpus ${result.machine.nrCpus} --replay ${result.replay} --timeline out.html`,
  });
  return { data, html: timelineHtml(data) };
}
