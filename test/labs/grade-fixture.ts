/** Grading a lab on the starter or on a solution of test/labs/solutions/, for the lab tests. */

import { fileURLToPath } from 'node:url';
import { type GradeResult, gradeLab } from '../../labs/grader/grade.ts';
import type { TestMode } from '../../labs/grader/lab.ts';
import { findLab } from '../../labs/index.ts';

export const SOLUTIONS = fileURLToPath(new URL('./solutions/', import.meta.url));

/** Grades lab `name` on `dir`: 'starter', a folder name under solutions/, or an absolute path. */
export function grade(name: string, dir: string, mode?: TestMode): Promise<GradeResult> {
  const lab = findLab(name);
  const path =
    dir === 'starter' ? `${lab.folder}starter` : dir.startsWith('/') ? dir : `${SOLUTIONS}${dir}`;
  return gradeLab(lab, path, { mode });
}

/** The names of the tests that failed. */
export const failed = (r: GradeResult) => r.tests.filter((t) => !t.ok).map((t) => t.name);
