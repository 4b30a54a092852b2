/**
 * Lab kalloc's scenarios as a recipe module for the parallel runner's
 * workers: the URL names the student's folder and the scenario
 * (`recipe.ts?dir=...&scenario=stress`), and the default export is that
 * scenario built from that folder, the same in every thread.
 *
 * @example
 * await runner.run({ module: recipeUrl(KALLOC_RECIPE, submission, 'stress') });
 */

import { recipeQuery } from '../grader/schedules.ts';
import { KALLOC_SCENARIOS } from './scenarios.ts';

const { dir, scenario } = recipeQuery(import.meta.url);

export default await KALLOC_SCENARIOS[scenario].build(dir);
