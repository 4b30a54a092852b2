import { rssCpumap } from '../xdp/rss-cpumap.ts';

export default rssCpumap('nic');
