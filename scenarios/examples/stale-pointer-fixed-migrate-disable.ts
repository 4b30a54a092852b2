import { stalePointer } from '../races/stale-pointer.ts';

export default stalePointer('fixed-migrate-disable');
