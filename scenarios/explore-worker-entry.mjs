// An explore pool thread's entry from the sources: Node 20 loads no .ts in a
// worker by itself, so register tsx first (as preempt/parallel/worker-entry.mjs does).
import { register } from 'tsx/esm/api';

register();
const worker = await import('./explore-worker.ts');
export default worker.default;
