# stats.s: the per-CPU statistics of lab counters. Edit this file.
#
# The harness (see README.md) links this file after its own code and calls:
#
#   stats_task_update:  r1 = a packet's length; from task context, preemptible,
#                       interrupts on (two tasks share each CPU)
#   stats_irq_update:   r1 = a packet's length; from the timer interrupt handler
#                       (hardirq context: preemption and interrupts are off)
#
# Both must account one packet in this CPU's copy of
#
#   DEFINE_PER_CPU(struct pcpu_stats, pcpu_stats);
#   struct pcpu_stats {
#     u64 packets;       +0   every packet
#     u64 bytes;         +8   the sum of their lengths
#     u64 irq_packets;   +16  the packets stats_irq_update accounted
#   };
#
# They are local functions: r6-r9 are yours (the call saves them), r0-r5 are
# scratch. This starter is a plain read-add-write through this_cpu_ptr.

stats_task_update:
  r6 = r1
  r1 = pcpu_stats ll
  r1 = this_cpu_ptr(r1)
  r2 = *(u64 *)(r1 + 0)
  r2 += 1
  *(u64 *)(r1 + 0) = r2         # packets++
  r2 = *(u64 *)(r1 + 8)
  r2 += r6
  *(u64 *)(r1 + 8) = r2         # bytes += len
  r0 = 0
  exit

stats_irq_update:
  r6 = r1
  r1 = pcpu_stats ll
  r1 = this_cpu_ptr(r1)
  r2 = *(u64 *)(r1 + 0)
  r2 += 1
  *(u64 *)(r1 + 0) = r2         # packets++
  r2 = *(u64 *)(r1 + 8)
  r2 += r6
  *(u64 *)(r1 + 8) = r2         # bytes += len
  r2 = *(u64 *)(r1 + 16)
  r2 += 1
  *(u64 *)(r1 + 16) = r2        # irq_packets++
  r0 = 0
  exit
