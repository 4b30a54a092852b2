/**
 * SEC() names and the program types they give, after libbpf's section_defs
 * table, for the types this machine runs. A leading `?` turns autoload off
 * (the program is loaded only when asked for by name).
 *
 * @example
 * findSecDef('?fentry/bpf_fentry_test1'); // { type: 'tracing', ..., autoload: false }
 */

import { ErrnoError } from '../segments/errno.ts';

export type ProgType = 'xdp' | 'tracepoint' | 'tracing' | 'syscall';

export interface SecDef {
  /** BPF_PROG_TYPE_*, by our short name. */
  readonly type: ProgType;
  /** The expected attach type where the section sets one (`BPF_XDP_CPUMAP`, `BPF_TRACE_FENTRY`). */
  readonly attach: string;
  /** Its number in `enum bpf_attach_type` (BPF_XDP_CPUMAP is 35); 0 where the section sets none. */
  readonly expectedAttachType: number;
  readonly sleepable: boolean;
  /** What comes after the prefix: `sys_enter_getpid`, `bpf_fentry_test1`. */
  readonly target: string;
  readonly autoload: boolean;
}

interface Rule {
  /** Exact name, or a prefix ending in '/'. */
  readonly sec: string;
  readonly type: ProgType;
  readonly attach: string;
  readonly sleepable?: boolean;
}

/** enum bpf_attach_type (include/uapi/linux/bpf.h) for the types SEC() names set. */
const BPF_ATTACH_TYPE: Readonly<Record<string, number>> = {
  BPF_TRACE_FENTRY: 24,
  BPF_TRACE_FEXIT: 25,
  BPF_XDP_DEVMAP: 33,
  BPF_XDP_CPUMAP: 35,
  BPF_XDP: 37,
};

const RULES: readonly Rule[] = [
  { sec: 'xdp/cpumap', type: 'xdp', attach: 'BPF_XDP_CPUMAP' },
  { sec: 'xdp/devmap', type: 'xdp', attach: 'BPF_XDP_DEVMAP' },
  { sec: 'xdp', type: 'xdp', attach: 'BPF_XDP' },
  { sec: 'xdp.frags', type: 'xdp', attach: 'BPF_XDP' },
  { sec: 'tp/', type: 'tracepoint', attach: '' },
  { sec: 'tracepoint/', type: 'tracepoint', attach: '' },
  { sec: 'fentry/', type: 'tracing', attach: 'BPF_TRACE_FENTRY' },
  { sec: 'fexit/', type: 'tracing', attach: 'BPF_TRACE_FEXIT' },
  { sec: 'fentry.s/', type: 'tracing', attach: 'BPF_TRACE_FENTRY', sleepable: true },
  { sec: 'fexit.s/', type: 'tracing', attach: 'BPF_TRACE_FEXIT', sleepable: true },
  { sec: 'syscall', type: 'syscall', attach: '', sleepable: true },
];

/** The section names we know, for messages. */
export const KNOWN_SECTIONS = RULES.map((r) => (r.sec.endsWith('/') ? `${r.sec}<name>` : r.sec));

/** The program type of a section name; ENOTSUPP naming it and listing the known ones. */
export function findSecDef(name: string): SecDef {
  const autoload = !name.startsWith('?');
  const sec = autoload ? name : name.slice(1);
  for (const r of RULES) {
    const prefix = r.sec.endsWith('/');
    if (prefix ? sec.startsWith(r.sec) && sec.length > r.sec.length : sec === r.sec) {
      return {
        type: r.type,
        attach: r.attach,
        expectedAttachType: BPF_ATTACH_TYPE[r.attach] ?? 0,
        sleepable: r.sleepable ?? false,
        target: prefix ? sec.slice(r.sec.length) : '',
        autoload,
      };
    }
  }
  throw new ErrnoError(
    'ENOTSUPP',
    `program section '${name}' is not one this loader knows; known: ${KNOWN_SECTIONS.join(', ')}`,
  );
}
