/**
 * Lab kalloc's scenarios as a recipe module for the parallel runner's
 * workers: the URL names the student's folder and the scenario
 * (`recipe.ts?dir=...&scenario=stress`), and the default export is that
 * scenario built from that folder, the same in every thread.
 *
 * @example
 * await runner.run({ module: recipeUrl(KALLOC_RECIPE, submission, 'stress') });
 */

import { labRecipe } from '../grader/schedules.ts';
import { KALLOC_SCENARIOS } from './scenarios.ts';

export default labRecipe(import.meta.url, (dir, scenario) => KALLOC_SCENARIOS[scenario].build(dir));
