// Lab rss-cpumap: spread the flows arriving on CPU 0 over CPUs 1-3 with a
// CPUMAP, keeping each flow in order and the statistics exact.
// Read README.md first. Build and grade: npx percpu-emu lab grade rss-cpumap
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_CPUS 64

// The grader fills these: cpu_map's entries for the target CPUs (qsize and
// rx_stats's fd), cpus_available[0 .. cpus_count - 1] with their numbers.
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

const volatile __u32 cpus_count = 1;

// The statistics the grader reads: key 0.
struct rx_stats {
	__u64 rx_packets; // frames rx_stats passed to the stack
	__u64 rx_bytes;   // their bytes (data_end - data)
	__u64 dropped;    // malformed frames xdp_steer dropped
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rx_stats);
} stats SEC(".maps");

// The round-robin of the kernel's documentation: the next CPU for every
// frame. Balanced, but what does it do to a flow?
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cpus_iterator SEC(".maps");

SEC("xdp")
int xdp_steer(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u32 *iter = bpf_map_lookup_elem(&cpus_iterator, &key);
	if (!iter)
		return XDP_ABORTED;
	__u32 idx = *iter;
	*iter = idx + 1 >= cpus_count ? 0 : idx + 1;

	__u32 *cpu = bpf_map_lookup_elem(&cpus_available, &idx);
	if (!cpu)
		return XDP_ABORTED;
	return bpf_redirect_map(&cpu_map, *cpu, 0);
}

// Runs in the cpumap kthread of the target CPU, on every frame it takes.
SEC("xdp/cpumap")
int rx_stats(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct rx_stats *s = bpf_map_lookup_elem(&stats, &key);
	if (!s)
		return XDP_PASS;
	s->rx_packets += 1;
	s->rx_bytes += ctx->data_end - ctx->data;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
