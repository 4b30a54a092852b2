# A deliberately wrong solution of lab counters: the fix applied to bytes
# only; packets is still a preemptible read-add-write (and DEBUG_PREEMPT
# reports its this_cpu_ptr).

stats_task_update:
  r6 = r1
  r1 = pcpu_stats ll
  r1 += 8
  r2 = r6
  call this_cpu_add
  r1 = pcpu_stats ll
  r1 = this_cpu_ptr(r1)
  r2 = *(u64 *)(r1 + 0)
  r2 += 1
  *(u64 *)(r1 + 0) = r2
  r0 = 0
  exit

stats_irq_update:               # hardirq: preemption and interrupts off, so __this_cpu is right
  r6 = r1
  r1 = pcpu_stats ll
  r2 = 1
  call __this_cpu_add           # packets++
  r1 = pcpu_stats ll
  r1 += 8
  r2 = r6
  call __this_cpu_add           # bytes += len
  r1 = pcpu_stats ll
  r1 += 16
  r2 = 1
  call __this_cpu_add           # irq_packets++
  r0 = 0
  exit
