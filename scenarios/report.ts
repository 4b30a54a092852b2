/**
 * The readable report of one scenario run: machine and strategy, each
 * invariant with its verdict and values, the DEBUG_PREEMPT, oops, soft
 * lockup, warning, KASAN and kmemleak messages, and the command that replays
 * the run (with its replay string, printed once: it can be long).
 *
 * @example
 * console.log(formatReport(runScenario(s, { seed: 3 }), 'scenarios/examples/lost-update-racy.ts'));
 */

import type { EngineEnd } from '../preempt/engine.ts';
import type { ReportKind } from '../preempt/reports.ts';
import type { ScenarioResult, TimedOut } from './run-scenario.ts';

const SHOWN_PER_KIND = 4;

const END_TEXT: Record<EngineEnd, string> = {
  finished: 'finished',
  'max-steps': 'the step budget was spent',
  'schedule-ended': 'the schedule ended',
  timeout: 'the time limit passed',
  crashed: 'an emulator exception stopped it',
};

function verdictText(r: ScenarioResult): string {
  if (r.crash !== undefined)
    return 'EMULATOR BUG: an exception inside the emulator stopped the run';
  if (r.errors.length > 0)
    return `the scenario's own code threw (${r.errors.map((e) => e.where).join(', ')})`;
  if (r.timedOut !== undefined) return timedOutText(r, r.timedOut);
  if (!r.ok) return 'an invariant FAILED';
  const reports = reportCount(r);
  return reports === 0
    ? 'every invariant held'
    : `every invariant held, but the kernel made ${reports} report${reports === 1 ? '' : 's'}`;
}

/**
 * No verdict: what the time limit stopped, and what the invariants said of
 * the partial state it left (a failure there may only mean unfinished work).
 */
function timedOutText(r: ScenarioResult, t: TimedOut): string {
  const held = r.verdicts.filter((v) => v.ok).length;
  const failed = r.verdicts.filter((v) => !v.ok).map((v) => v.name);
  const judged =
    failed.length === 0
      ? `all ${held} invariants held`
      : `${held} of ${r.verdicts.length} invariants held, ${failed.length} failed (${failed.join(', ')})`;
  return `NO VERDICT: the time limit (${t.ms} ms) stopped ${t.where}; on the partial state it left, ${judged}`;
}

export function formatReport(r: ScenarioResult, source: string): string {
  const m = r.machine;
  const o = m.opts;
  const out: string[] = [];
  out.push(`scenario: ${r.scenario.name}: ${r.scenario.description}`);
  out.push(
    `machine:  ${m.nrCpus} CPUs, timer tick every ${o.tickInterval} instructions, DEBUG_PREEMPT ${o.debugPreempt}`,
  );
  out.push(`strategy: ${r.engine.strategy}`);
  const ran =
    r.timedOut?.where === 'the setup'
      ? 'not started: the time limit stopped the setup'
      : r.engine.finished
        ? 'all tasks finished'
        : `stopped before all tasks finished (${END_TEXT[r.engine.end]})`;
  out.push(`run:      ${r.engine.steps} instructions over all CPUs, ${ran}`);
  out.push(
    r.timedOut === undefined
      ? 'invariants:'
      : 'invariants (judged on the partial state the time limit left):',
  );
  for (const v of r.verdicts) out.push(`  ${v.ok ? 'PASS' : 'FAIL'}  ${v.name}: ${v.detail}`);
  const kinds: [ReportKind, string][] = [
    ['debug_preempt', 'DEBUG_PREEMPT'],
    ['oops', 'oops'],
    ['soft_lockup', 'soft lockup'],
    ['warning', 'warnings'],
    ['kasan', 'KASAN'],
    ['leak', 'kmemleak'],
  ];
  for (const [kind, title] of kinds) {
    const list = r.reports.filter((x) => x.kind === kind);
    const total = kind === 'debug_preempt' ? m.debugPreemptReports : list.length;
    if (total === 0) continue;
    const suppressed = total - list.length;
    out.push(
      `${title}: ${total} report${total === 1 ? '' : 's'}${suppressed > 0 ? ` (${suppressed} suppressed by the printk rate limit)` : ''}`,
    );
    // Identical reports (the same line from the same place) are shown once, with a count.
    const distinct = new Map<string, { lines: readonly string[]; cpu: number; count: number }>();
    for (const rep of list) {
      const key = rep.lines.join('\n');
      const seen = distinct.get(key);
      if (seen === undefined) distinct.set(key, { lines: rep.lines, cpu: rep.cpu, count: 1 });
      else seen.count++;
    }
    for (const d of [...distinct.values()].slice(0, SHOWN_PER_KIND)) {
      d.lines.forEach((line, k) => {
        out.push(`  [cpu ${d.cpu}] ${line}${k === 0 && d.count > 1 ? `   (x${d.count})` : ''}`);
      });
    }
    if (distinct.size > SHOWN_PER_KIND)
      out.push(`  ... ${distinct.size - SHOWN_PER_KIND} more distinct reports`);
  }
  out.push(`verdict:  ${verdictText(r)}`);
  if (r.replay === '') {
    const why = r.engine.strategy.startsWith('parallel')
      ? 'parallel runs are not reproducible'
      : 'the run was stopped inside host code';
    out.push(`replay:   none: ${why}`);
  } else {
    out.push(`replay:   npx percpu-emu run ${source} --cpus ${m.nrCpus} --replay ${r.replay}`);
  }
  return out.join('\n');
}

/** The kernel's reports of a run, DEBUG_PREEMPT ones the rate limit suppressed included. */
export function reportCount(r: ScenarioResult): number {
  const debugPreempt = r.reports.filter((x) => x.kind === 'debug_preempt').length;
  return r.reports.length - debugPreempt + r.machine.debugPreemptReports;
}
