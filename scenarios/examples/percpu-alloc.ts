import { percpuAlloc } from '../races/percpu-alloc.ts';

export default percpuAlloc('rcu');
