// A C scenario: `npx percpu-emu run scenarios/c/c-cpumap-stats-atomic.ts` (needs clang).
import { cCpumapStats } from '../xdp/c-cpumap-stats.ts';

export default cCpumapStats('atomic');
