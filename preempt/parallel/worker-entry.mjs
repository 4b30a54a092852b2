// A CPU worker's entry: Node 20 loads no .ts in a worker by itself, so register tsx
// (as scenarios/bin.js does for the CLI), then load the worker proper.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
