# A deliberately wrong solution of lab kalloc, for the grader's tests: per-CPU lists, no stealing
# (a CPU whose list is empty says out of memory while others have pages).

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
