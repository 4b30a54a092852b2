import { percpuAlloc } from '../races/percpu-alloc.ts';

export default percpuAlloc('racy-no-rcu');
