import { cpumapReplace } from '../xdp/cpumap-replace.ts';

export default cpumapReplace();
