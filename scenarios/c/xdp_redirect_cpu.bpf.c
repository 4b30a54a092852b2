// The round-robin CPU redirect of the kernel's documentation
// (Documentation/bpf/map_cpumap.rst, samples' xdp_redirect_cpu), written
// for our tests: each receiving CPU walks the ARRAY of available CPUs
// with its own iterator in a PERCPU_ARRAY (no atomics: each CPU has its
// own copy) and redirects every frame to the next CPU through the CPUMAP.
// The CPUMAP's entries may carry `cpumap_count`, a second XDP program
// (SEC("xdp/cpumap")) that counts the frames each target CPU passes into a
// PERCPU_ARRAY and can drop one flow (`drop_port`) there.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_CPUS 64

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, MAX_CPUS);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpu_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, __u32);
	__type(value, __u32);
} cpus_available SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cpus_iterator SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} passed SEC(".maps");

// Set before load: how many entries of cpus_available are in use.
const volatile __u32 cpus_count = 1;
// The cpumap program drops UDP frames to this port (0: none).
const volatile __u16 drop_port = 0;

SEC("xdp")
int xdp_redir_cpu_round_robin(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u32 *iter = bpf_map_lookup_elem(&cpus_iterator, &key);
	if (!iter)
		return XDP_ABORTED;
	__u32 idx = *iter;
	__u32 next = idx + 1;
	if (next >= cpus_count)
		next = 0;
	*iter = next;
	__u32 *cpu = bpf_map_lookup_elem(&cpus_available, &idx);
	if (!cpu)
		return XDP_ABORTED;
	if (*cpu >= MAX_CPUS)
		return XDP_ABORTED;
	return bpf_redirect_map(&cpu_map, *cpu, 0);
}

SEC("xdp/cpumap")
int cpumap_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if (drop_port != 0 && (void *)(udp + 1) <= data_end &&
	    eth->h_proto == bpf_htons(ETH_P_IP) && ip->protocol == IPPROTO_UDP &&
	    udp->dest == bpf_htons(drop_port))
		return XDP_DROP;
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&passed, &key);
	if (n)
		*n += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
