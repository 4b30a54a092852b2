// A C scenario: `npx percpu-emu run scenarios/c/c-cpumap-round-robin.ts` (needs clang).
import { cCpumapRoundRobin } from '../xdp/c-cpumap-round-robin.ts';

export default cCpumapRoundRobin();
