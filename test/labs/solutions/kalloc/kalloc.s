# kalloc.s, the reference solution of lab kalloc (the instructor's; not shipped).
# One free list per CPU, each under its own lock; kalloc takes from this
# CPU's list and, when it is empty, steals a page from the other CPUs' lists.
# Preemption is off while the per-CPU pointer is used, so the task cannot
# migrate between this_cpu_ptr and the list it names.

kfree:
  r6 = r1
  call preempt_disable
  r7 = kmem_cpu ll
  r7 = this_cpu_ptr(r7)
  r1 = r7
  call spin_lock
  r2 = *(u64 *)(r7 + 16)
  *(u64 *)(r6 + 0) = r2
  *(u64 *)(r7 + 16) = r6
  r1 = r7
  call spin_unlock
  call preempt_enable
  r0 = 0
  exit

kalloc:
  call preempt_disable
  r1 = kmem_cpu ll
  r1 = this_cpu_ptr(r1)
  call pop
  if r0 != 0 goto kalloc_done
  r8 = 0                        # steal: every CPU's list in turn
kalloc_steal:
  r1 = nr_cpus ll
  r1 = *(u64 *)(r1 + 0)
  if r8 >= r1 goto kalloc_done
  r1 = __per_cpu_offset ll
  r2 = r8
  r2 <<= 3
  r1 += r2
  r1 = *(u64 *)(r1 + 0)
  r2 = kmem_cpu ll
  r1 += r2                      # per_cpu_ptr(&kmem_cpu, r8)
  call pop
  if r0 != 0 goto kalloc_done
  r8 += 1
  goto kalloc_steal
kalloc_done:
  r6 = r0
  call preempt_enable
  r0 = r6
  exit

# pop: r1 = a struct kmem; r0 = its first page, unlinked, or 0.
pop:
  r6 = r1
  call spin_lock
  r7 = *(u64 *)(r6 + 16)
  if r7 == 0 goto pop_out
  r2 = *(u64 *)(r7 + 0)
  *(u64 *)(r6 + 16) = r2
pop_out:
  r1 = r6
  call spin_unlock
  r0 = r7
  exit
