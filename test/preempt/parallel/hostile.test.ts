/**
 * Parallel mode against hostile guests: stores over the control block or
 * another worker's run queue or task_struct are page fault oopses naming
 * the structure; no worker crashes, the bystander on the other CPU counts
 * to its end, and the run reports.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { ParallelRunner } from '../../../preempt/parallel/runner.ts';
import { perCpuValues } from '../../../scenarios/scenario.ts';
import { pageFaultIn } from '../page-fault-fixtures.ts';

const RECIPES = new URL('./hostile-recipes.ts', import.meta.url).href;
const recipe = (exportName: string) => ({ module: RECIPES, exportName });

describe('parallel mode against hostile guests', () => {
  const runner = new ParallelRunner();
  afterAll(async () => {
    await runner.close();
  });

  it.each([
    ['controlGarbage', 'parallel control block'],
    ['controlZero', 'parallel control block'],
    ['controlOnes', 'parallel control block'],
    ['runQueueGarbage', 'run queue of CPU 0'],
    ['runQueueOnes', 'run queue of CPU 0'],
    ['taskStructGarbage', 'task_struct of bystander/1'],
    ['taskStructZero', 'task_struct of bystander/1'],
  ])(
    '%s: a page fault naming the %s, the bystander finishes, the run reports',
    async (name, region) => {
      const r = await runner.run(recipe(name), { timeoutMs: 60_000 });
      expect(r.crash).toBeUndefined();
      expect(r.end).toBe('finished');
      expect(r.cpus.map((c) => c.end)).toEqual(['finished', 'finished']);
      expect(perCpuValues(r.machine, 'hits')[0]).toBe(2000n);
      const oopses = r.machine.reports.filter((x) => x.kind === 'oops');
      expect(oopses).toHaveLength(1);
      expect(oopses[0].lines[0]).toMatch(pageFaultIn(region));
      expect(oopses[0].lines).toContain('CPU: 1 PID: 2 Comm: attacker');
    },
  );
});
