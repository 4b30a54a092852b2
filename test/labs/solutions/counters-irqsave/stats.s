# A correct but costly solution of lab counters: local_irq_save around a
# read-add-write keeps out both the other task and the interrupt, for more
# instructions per update than this_cpu_add.

stats_task_update:
  r6 = r1
  call local_irq_save
  r7 = r0
  r1 = pcpu_stats ll
  r1 = this_cpu_ptr(r1)
  r2 = *(u64 *)(r1 + 0)
  r2 += 1
  *(u64 *)(r1 + 0) = r2
  r2 = *(u64 *)(r1 + 8)
  r2 += r6
  *(u64 *)(r1 + 8) = r2
  r1 = r7
  call local_irq_restore
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
