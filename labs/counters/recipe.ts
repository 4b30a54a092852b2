/**
 * Lab counters' scenarios as a recipe module for the parallel runner's
 * workers (see labs/kalloc/recipe.ts): `recipe.ts?dir=...&scenario=...`.
 *
 * @example
 * await runner.run({ module: recipeUrl(COUNTERS_RECIPE, submission, 'two-tasks') });
 */

import { recipeQuery } from '../grader/schedules.ts';
import { COUNTERS_SCENARIOS } from './scenarios.ts';

const { dir, scenario } = recipeQuery(import.meta.url);

export default await COUNTERS_SCENARIOS[scenario].build(dir);
