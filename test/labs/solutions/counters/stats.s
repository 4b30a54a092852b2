# stats.s, the reference solution of lab counters (the instructor's; not shipped).
# Task context is preemptible and interruptible: each field with one
# this_cpu_add, a single instruction that neither a preemption nor an
# interrupt can split, and that needs no preempt_disable around it.

stats_task_update:
  r2 = r1
  r1 = pcpu_stats ll
  r1 += 8
  call this_cpu_add             # bytes += len
  r1 = pcpu_stats ll
  r2 = 1
  call this_cpu_add             # packets++
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
