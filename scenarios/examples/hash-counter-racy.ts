import { hashCounter } from '../races/hash-counter.ts';

export default hashCounter('racy');
