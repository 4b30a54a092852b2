import { cpumapRoundRobin } from '../xdp/cpumap-round-robin.ts';

export default cpumapRoundRobin();
