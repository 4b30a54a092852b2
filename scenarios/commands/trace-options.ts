/**
 * The options that choose what a run records and where it goes, shared by
 * `run` and `explore`: `--events` (trace-cmd's `-e`: which trace event
 * groups), `--trace-percpu` (every access to these per-CPU variables, as
 * percpu_access events) and `--timeline` (the run drawn as one
 * self-contained HTML page, scenarios/timeline-run.ts). They are checked
 * before the run, so a typo or an unwritable file costs no minutes.
 *
 * @example
 * // npx percpu-emu run lost-update-racy --events sched,percpu --trace-percpu counter --trace out.txt
 * // npx percpu-emu run stale-pointer-racy --seed 2 --timeline out.html
 */

import { closeSync, existsSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError, Option } from 'commander';
import {
  parseTraceEventGroups,
  TRACE_EVENT_GROUPS,
  type TraceEventGroup,
} from '../../preempt/trace/events.ts';
import type { ScenarioResult } from '../run-scenario.ts';
import type { Scenario } from '../scenario.ts';
import { timelineOf } from '../timeline-run.ts';
import { InputError } from './exit-status.ts';

export interface TraceFlags {
  events?: TraceEventGroup[];
  tracePercpu?: string[];
  timeline?: string;
}

const GROUP_NAMES = Object.keys(TRACE_EVENT_GROUPS).join(', ');

/** Parses `--events` with parseTraceEventGroups; commander prints the error (status 2). */
function eventGroups(text: string): TraceEventGroup[] {
  try {
    return parseTraceEventGroups(text);
  } catch (e) {
    throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
  }
}

/** `--trace-percpu a,b` and `--trace-percpu a --trace-percpu b` both give [a, b]. */
function variables(text: string, before: string[] | undefined): string[] {
  const names = text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (names.length === 0) throw new InvalidArgumentError('name a static per-CPU variable.');
  return [...(before ?? []), ...names];
}

/**
 * The three options, described for `command` (`explore` records only the
 * replay of its first failure, and only for `--timeline`).
 */
export function traceOptions(command: 'run' | 'explore'): Option[] {
  const forWhat =
    command === 'run' ? 'what --trace and --timeline record' : 'what --timeline records';
  return [
    new Option(
      '--events <groups>',
      `${forWhat}, as trace-cmd's -e: a comma list of ${GROUP_NAMES} ` +
        (command === 'run'
          ? '(default sched,irq,ipi,printk,xdp; with --timeline every group). '
          : '(default every group). ') +
        'preemptirq is ' +
        'preempt_disable/enable, irq_disable/enable and migrate_disable/enable; percpu is ' +
        'the accesses of --trace-percpu',
    ).argParser(eventGroups),
    new Option(
      '--trace-percpu <vars>',
      'record every load, store, atomic and this_cpu op on these per-CPU variables (static ' +
        'ones, or PERCPU_ARRAY maps by name; a comma list, or the option again), with the CPU ' +
        "whose unit it touched: the 'percpu' " +
        `event group (adds it to --events). For ${forWhat}; --timeline's default is the ` +
        "variables the scenario's invariants name",
    ).argParser(variables),
    new Option(
      '--timeline <file>',
      command === 'run'
        ? 'write the run as one self-contained HTML page (opens from disk in any browser): ' +
            'one lane per CPU, tasks, interrupts, preempt/irq/migrate-disabled regions, ' +
            'migrations, the per-CPU accesses and the access that broke the invariant ' +
            '(see docs/timeline.md)'
        : 'when a seed fails, replay it from its replay string and write that run as one ' +
            'self-contained HTML timeline (see docs/timeline.md)',
    ),
  ];
}

/**
 * Refuses what cannot work before the run: `--events`/`--trace-percpu`
 * with nothing to record them for, any of them with a scenario that turns
 * tracing off, and an output file that cannot be written.
 */
export function checkTraceFlags(
  scenario: Scenario,
  flags: TraceFlags & { trace?: string },
  command: 'run' | 'explore',
): void {
  const output = command === 'run' ? '--trace <file> or --timeline <file>' : '--timeline <file>';
  const records = flags.trace !== undefined || flags.timeline !== undefined;
  if (!records && flags.events !== undefined) {
    throw new InputError(`--events chooses what ${output} records: give it too`);
  }
  if (!records && flags.tracePercpu !== undefined) {
    throw new InputError(`--trace-percpu records into ${output}: give it too`);
  }
  if (flags.events?.includes('percpu') && flags.tracePercpu === undefined && !flags.timeline) {
    throw new InputError(
      '--events percpu records the accesses to the variables of --trace-percpu: name them',
    );
  }
  if (scenario.machine?.trace === false) {
    for (const [given, name] of [
      [flags.trace, '--trace'],
      [flags.timeline, '--timeline'],
    ] as const) {
      if (given !== undefined) {
        throw new InputError(`${name}: the scenario '${scenario.name}' turns tracing off`);
      }
    }
  }
  if (flags.trace !== undefined) checkWritable('--trace', flags.trace);
  if (flags.timeline !== undefined) checkWritable('--timeline', flags.timeline);
}

/**
 * Refuses a file that cannot be written, before a run that may take
 * minutes: opening it for appending proves it, and a file that was not
 * there before is removed again.
 */
export function checkWritable(option: string, path: string): void {
  const existed = existsSync(path);
  try {
    closeSync(openSync(path, 'a'));
  } catch (e) {
    throw new InputError(
      `${option} ${path}: cannot write there: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!existed) unlinkSync(path);
}

/** Writes the timeline of `result` (traced for it) to `file` and says so. */
export function writeTimeline(result: ScenarioResult, spec: string, file: string): string {
  const { data, html } = timelineOf(result, spec);
  writeFileSync(file, html);
  const accesses = data.accesses.length / 8;
  return `timeline: ${file} (${data.nrCpus} CPU lanes, ${data.marks.length / 6} marks, ${accesses} per-CPU accesses${data.breaking >= 0 ? ', the breaking access marked' : ''})\n`;
}
