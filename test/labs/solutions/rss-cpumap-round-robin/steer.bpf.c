// Lab rss-cpumap, a deliberately wrong solution: per-CPU statistics and
// malformed frames done right, but the starter's round-robin steering kept:
// perfectly balanced, and a flow's back-to-back frames go to three CPUs
// whose kthreads deliver them in whatever order they run: fails the order
// tests only.
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

const volatile __u32 cpus_count = 1;

struct rx_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rx_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cpus_iterator SEC(".maps");

static __always_inline __u32 mix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x45d9f3b;
	h ^= h >> 16;
	return h;
}

SEC("xdp")
int xdp_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 key = 0;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) {
		struct rx_stats *s = bpf_map_lookup_elem(&stats, &key);
		if (s)
			s->dropped += 1;
		return XDP_DROP;
	}
	__u32 h = ip->saddr ^ ip->daddr ^ ip->protocol;
	if (ip->protocol == IPPROTO_UDP || ip->protocol == IPPROTO_TCP) {
		__u32 *ports = (void *)(ip + 1); // source and destination port, both kinds
		if ((void *)(ports + 1) <= data_end)
			h ^= *ports;
	}
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
