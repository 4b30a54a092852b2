// A scenario that asks to be run in parallel mode when `percpu-emu run` is given no --mode.
import { lostUpdate } from '../../scenarios/races/lost-update.ts';

export default { ...lostUpdate('fixed'), name: 'lost-update-parallel', mode: 'parallel' as const };
