import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../preempt/kernel.ts';
import { formatReport } from '../../scenarios/report.ts';
import { runScenario } from '../../scenarios/run-scenario.ts';
import { defineScenario, type Scenario } from '../../scenarios/scenario.ts';

const spinProgram = (n: number) => `
  r6 = 0
loop:
  r6 += 1
  if r6 < ${n} goto loop
  r0 = 0
  exit`;

/** A bystander on CPU 0 and a task on CPU 1 whose helper 200 does what `helper` does. */
function withHelper(helper: (k: Kernel) => void, extra: Partial<Scenario> = {}): Scenario {
  return defineScenario({
    name: 'helper-trouble',
    description: 'a helper misbehaves on CPU 1 while a bystander counts on CPU 0',
    machine: { cpus: 2 },
    setup(k) {
      k.helpers.register(200, 'bpf_trouble', () => helper(k));
      k.spawn({ comm: 'bystander', cpu: 0, allowed: [0], program: k.assemble(spinProgram(5000)) });
      k.spawn({
        comm: 'victim',
        cpu: 1,
        allowed: [1],
        program: k.assemble('call 200\nr0 = 0\nexit'),
      });
    },
    invariants: [],
    ...extra,
  });
}

describe('an emulator exception in deterministic mode', () => {
  for (const strategy of ['rr', 'random', 'pct'] as const) {
    it(`becomes a crash report under ${strategy} and the run returns what it gathered`, () => {
      const s = withHelper(() => {
        throw new TypeError("Cannot set properties of undefined (setting 'onRq')");
      });
      const r = runScenario(s, { strategy, seed: 3 });
      expect(r.ok).toBe(false);
      expect(r.engine.end).toBe('crashed');
      expect(r.crash?.cpu).toBe(1);
      expect(r.crash?.running).toMatch(
        /^victim\/2 at victim\+0x8\/0x18, \d+ instructions into the run$/,
      );
      const bug = r.reports.find((x) => x.lines[0].startsWith('BUG: emulator exception'));
      expect(bug?.lines[0]).toBe(
        `BUG: emulator exception on CPU#1 while running ${r.crash?.running}: Cannot set properties of undefined (setting 'onRq')`,
      );
      expect(bug?.lines).toContain('last trace lines of CPU#1:');
      expect(r.verdicts[0].name).toBe('every task ran to completion');
      expect(formatReport(r, 'x.ts')).toContain('verdict:  EMULATOR BUG');
      // The replay string reproduces the crash (the host's stack is the engine's own: a
      // replay applies runs where PCT asked for stepwise ones).
      const again = runScenario(s, { replay: r.replay });
      const { stack: _stack, ...crash } = r.crash!;
      expect(again.crash).toMatchObject(crash);
      expect(again.crash?.stack.split('\n')[0]).toBe(r.crash?.stack.split('\n')[0]);
    });
  }
});

const THIS_FILE = new URL(import.meta.url).pathname;

describe('the time limit of a deterministic run', () => {
  const base = { name: 'hang', description: 'something never returns', invariants: [] };

  it('stops a setup that loops forever and says so', () => {
    const r = runScenario(
      defineScenario({
        ...base,
        setup() {
          for (;;);
        },
      }),
      { timeoutMs: 200 },
    );
    expect(r.engine.end).toBe('timeout');
    expect(r.ok).toBe(false);
    const line = r.reports.map((x) => x.lines[0]).find((l) => l.includes('did not return'));
    expect(line).toMatch(
      /^percpu-emu: setup did not return within \d+ ms and was stopped, in the engine/,
    );
  });

  it('stops a native task that never yields, naming it and its CPU', () => {
    const r = runScenario(
      defineScenario({
        ...base,
        machine: { cpus: 2 },
        setup(k) {
          k.spawn({
            comm: 'bystander',
            cpu: 0,
            allowed: [0],
            program: k.assemble(spinProgram(100)),
          });
          k.spawn({
            comm: 'stuck',
            cpu: 1,
            allowed: [1],
            *body(task) {
              let spins = 0;
              while (task.pid > 0) spins++;
              yield;
              expect(spins).toBe(0);
              return 0;
            },
          });
        },
      }),
      { timeoutMs: 300 },
    );
    expect(r.engine.end).toBe('timeout');
    const line = r.reports.map((x) => x.lines[0]).find((l) => l.includes('did not return'));
    expect(line).toContain(
      'the run did not return within 300 ms and was stopped, in CPU#1: the body of native task stuck/2',
    );
    expect(r.verdicts[0].detail).toContain('stuck/2');
  });

  it('ends a guest that loops forever between two decisions, with where every CPU was', () => {
    const r = runScenario(
      defineScenario({
        ...base,
        setup(k) {
          k.spawn({ comm: 'looper', program: k.assemble('l:\ngoto l\nexit') });
        },
      }),
      { timeoutMs: 200, maxSteps: Number.MAX_SAFE_INTEGER },
    );
    expect(r.engine.end).toBe('timeout');
    const rep = r.reports.find((x) => /time limit \(\d+ ms\) passed/.test(x.lines[0]));
    expect(rep?.lines[1]).toMatch(
      /^ {2}CPU#0: looper\/1 at l\+0x0\/0x10, \d+ instructions into the run$/,
    );
    expect(r.replay).not.toBe('');
  });

  it('stops an invariant that never returns; the other verdicts are kept', () => {
    const r = runScenario(
      defineScenario({
        ...base,
        setup(k) {
          k.spawn({ comm: 'quick', program: k.assemble('r0 = 0\nexit') });
        },
        invariants: [
          {
            name: 'forever',
            check() {
              for (;;);
            },
          },
        ],
      }),
      { timeoutMs: 200 },
    );
    expect(r.verdicts.map((v) => [v.name, v.ok])).toEqual([
      ['every task ran to completion', true],
      ['forever', false],
    ]);
    expect(r.verdicts[1].detail).toBe('did not return within the time limit');
    expect(r.timedOut).toEqual({ where: "invariant 'forever'", ms: 200 });
    expect(r.ok).toBe(false);
  });

  it('gives no verdict when it stopped the run, even if every invariant held on what was left', () => {
    const r = runScenario(
      defineScenario({
        ...base,
        setup() {
          for (;;);
        },
        invariants: [{ name: 'always', check: () => ({ ok: true, detail: 'yes' }) }],
      }),
      { timeoutMs: 200 },
    );
    expect(r.timedOut).toEqual({ where: 'the setup', ms: 200 });
    expect(r.verdicts.every((v) => v.ok)).toBe(true);
    expect(r.ok).toBe(false);
    const text = formatReport(r, 'hang.ts');
    expect(text).not.toContain('every invariant held');
    expect(text).toContain(
      'run:      0 instructions over all CPUs, not started: the time limit stopped the setup',
    );
    expect(text).toContain('invariants (judged on the partial state the time limit left):\n');
    expect(text).toContain(
      'verdict:  NO VERDICT: the time limit (200 ms) stopped the setup; on the partial state it left, all 2 invariants held',
    );
  });

  it('names the invariants that failed on the partial state of a run it stopped', () => {
    const r = runScenario(
      defineScenario({
        ...base,
        setup(k) {
          k.spawn({ comm: 'looper', program: k.assemble('l:\ngoto l\nexit') });
        },
        invariants: [{ name: 'always', check: () => ({ ok: true, detail: 'yes' }) }],
      }),
      { timeoutMs: 200, maxSteps: Number.MAX_SAFE_INTEGER },
    );
    expect(r.timedOut).toEqual({ where: 'the run', ms: 200 });
    expect(formatReport(r, 'hang.ts')).toContain(
      'verdict:  NO VERDICT: the time limit (200 ms) stopped the run; on the partial state it left, 1 of 2 invariants held, 1 failed (every task ran to completion)',
    );
  });

  it('leaves timedOut unset on a run that ended within its limit', () => {
    const r = runScenario(
      defineScenario({
        ...base,
        setup(k) {
          k.spawn({ comm: 'quick', program: k.assemble('r0 = 0\nexit') });
        },
      }),
      { timeoutMs: 60_000 },
    );
    expect(r.timedOut).toBeUndefined();
    expect(r.ok).toBe(true);
  });
});

describe('exceptions in the scenario’s own code', () => {
  it('a setup that throws is reported with its file and line, and the report is kept', () => {
    const r = runScenario(
      defineScenario({
        name: 'bad-setup',
        description: 'setup throws',
        setup(k) {
          k.spawn({ comm: 'early', program: k.assemble('r0 = 0\nexit') });
          throw new Error('setup blew up');
        },
        invariants: [],
      }),
    );
    expect(r.ok).toBe(false);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].where).toBe('setup');
    expect(r.errors[0].location).toMatch(new RegExp(`^${THIS_FILE}:\\d+:\\d+$`));
    const text = formatReport(r, 'bad-setup.ts');
    expect(text).toContain(`setup threw at ${r.errors[0].location}: setup blew up`);
    expect(text).toContain("verdict:  the scenario's own code threw (setup)");
  });

  it('an invariant that throws fails with where it threw; the other verdicts are kept', () => {
    const r = runScenario(
      defineScenario({
        name: 'bad-invariant',
        description: 'an invariant throws',
        setup(k) {
          k.spawn({ comm: 'quick', program: k.assemble('r0 = 0\nexit') });
        },
        invariants: [
          {
            name: 'blows up',
            check() {
              throw new Error('invariant blew up');
            },
          },
          { name: 'holds', check: () => ({ ok: true, detail: 'fine' }) },
        ],
      }),
    );
    expect(r.verdicts.map((v) => v.ok)).toEqual([true, false, true]);
    expect(r.verdicts[1].detail).toMatch(
      new RegExp(`^threw at ${THIS_FILE}:\\d+:\\d+: invariant blew up$`),
    );
    expect(r.errors[0].where).toBe("invariant 'blows up'");
  });
});
