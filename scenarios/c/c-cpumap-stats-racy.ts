// A C scenario: `npx percpu-emu run scenarios/c/c-cpumap-stats-racy.ts` (needs clang).
import { cCpumapStats } from '../xdp/c-cpumap-stats.ts';

export default cCpumapStats('racy');
