// A C scenario: `npx percpu-emu run scenarios/c/c-lost-update-racy.ts` (needs clang).
import { cLostUpdate } from '../races/c-lost-update.ts';

export default cLostUpdate('racy');
