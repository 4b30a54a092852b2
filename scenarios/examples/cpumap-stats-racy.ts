import { cpumapStats } from '../xdp/cpumap-stats.ts';

export default cpumapStats('racy');
