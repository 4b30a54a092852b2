import { lostUpdate } from '../races/lost-update.ts';

export default lostUpdate('fixed');
