import { percpuMapCounter } from '../races/percpu-map-counter.ts';

export default percpuMapCounter('racy');
