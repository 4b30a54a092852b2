import { describe, expect, it } from 'vitest';
import { BPF_FUNC_MAX_ID, bpfFuncId, bpfFuncName } from '../../cpu/bpf-func-id.ts';

describe('enum bpf_func_id', () => {
  it('has the kernel numbers of the helpers this project uses', () => {
    const expected: [string, number][] = [
      ['bpf_map_lookup_elem', 1],
      ['bpf_map_update_elem', 2],
      ['bpf_map_delete_elem', 3],
      ['bpf_ktime_get_ns', 5],
      ['bpf_trace_printk', 6],
      ['bpf_get_prandom_u32', 7],
      ['bpf_get_smp_processor_id', 8],
      ['bpf_redirect_map', 51],
      ['bpf_map_push_elem', 87],
      ['bpf_map_pop_elem', 88],
      ['bpf_map_peek_elem', 89],
      ['bpf_ringbuf_output', 130],
      ['bpf_ringbuf_query', 134],
      ['bpf_per_cpu_ptr', 153],
      ['bpf_this_cpu_ptr', 154],
      ['bpf_for_each_map_elem', 164],
      ['bpf_kptr_xchg', 194],
      ['bpf_map_lookup_percpu_elem', 195],
      ['bpf_cgrp_storage_delete', 211],
    ];
    for (const [name, id] of expected) {
      expect(bpfFuncId(name)).toBe(id);
      expect(bpfFuncName(id)).toBe(name);
    }
  });

  it('maps every id 1..__BPF_FUNC_MAX_ID-1 to a distinct name and back', () => {
    expect(BPF_FUNC_MAX_ID).toBe(212);
    const names = new Set<string>();
    for (let id = 1; id < BPF_FUNC_MAX_ID; id++) {
      const name = bpfFuncName(id)!;
      expect(name).toMatch(/^bpf_[a-z0-9_]+$/);
      expect(bpfFuncId(name)).toBe(id);
      names.add(name);
    }
    expect(names.size).toBe(BPF_FUNC_MAX_ID - 1);
  });

  it('knows no helper 0 (BPF_FUNC_unspec) or past the end', () => {
    expect(bpfFuncName(0)).toBeUndefined();
    expect(bpfFuncName(212)).toBeUndefined();
    expect(bpfFuncName(1.5)).toBeUndefined();
    expect(bpfFuncId('bpf_unspec')).toBeUndefined();
    expect(bpfFuncId('map_lookup_elem')).toBeUndefined();
  });
});
