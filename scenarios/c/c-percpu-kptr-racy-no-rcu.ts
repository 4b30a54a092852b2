// A C scenario: `npx percpu-emu run scenarios/c/c-percpu-kptr-racy-no-rcu.ts --strategy random` (needs clang).
import { cPercpuKptrRacy } from '../races/c-percpu-kptr.ts';

export default cPercpuKptrRacy();
