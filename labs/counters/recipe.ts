/**
 * Lab counters' scenarios as a recipe module for the parallel runner's
 * workers (see labs/kalloc/recipe.ts): `recipe.ts?dir=...&scenario=...`.
 *
 * @example
 * await runner.run({ module: recipeUrl(COUNTERS_RECIPE, submission, 'two-tasks') });
 */

import { labRecipe } from '../grader/schedules.ts';
import { COUNTERS_SCENARIOS } from './scenarios.ts';

export default labRecipe(import.meta.url, (dir, scenario) =>
  COUNTERS_SCENARIOS[scenario].build(dir),
);
