# kalloc.s: the page allocator of lab kalloc. Edit this file.
#
# The lab's harness (see README.md) links this file after its own code and
# calls two functions by label:
#
#   kfree:   r1 = a page of the pool; puts it back on a free list
#   kalloc:  r0 = a free page, or 0 when there is none
#
# Both are local functions: r6-r9 are yours (the call saves them), r1-r5
# and r0 are scratch. The data, defined by the harness:
#
#   struct kmem {                 24 bytes
#     struct spinlock lock;       +0   (16 bytes: take it with spin_lock/spin_unlock)
#     u64 freelist;               +16  (the first free page; each free page's first
#   };                                  8 bytes point to the next, 0 ends the list)
#
#   kmem        one global struct kmem (what this starter uses)
#   kmem_cpu    DEFINE_PER_CPU(struct kmem, kmem_cpu): one per CPU, all empty
#   nr_cpus     u64, the number of CPUs
#
# This starter keeps every free page on the one global list under the one
# global lock, like xv6's kalloc.c: correct, but every CPU fights for it.

kfree:
  r6 = r1
  r1 = kmem ll
  call spin_lock
  r1 = kmem ll
  r2 = *(u64 *)(r1 + 16)
  *(u64 *)(r6 + 0) = r2         # page->next = kmem.freelist
  *(u64 *)(r1 + 16) = r6        # kmem.freelist = page
  call spin_unlock              # r1 = &kmem still
  r0 = 0
  exit

kalloc:
  r1 = kmem ll
  call spin_lock
  r1 = kmem ll
  r6 = *(u64 *)(r1 + 16)        # page = kmem.freelist
  if r6 == 0 goto kalloc_out
  r2 = *(u64 *)(r6 + 0)
  *(u64 *)(r1 + 16) = r2        # kmem.freelist = page->next
kalloc_out:
  call spin_unlock
  r0 = r6
  exit
