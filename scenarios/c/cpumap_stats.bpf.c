// Statistics in the cpumap program, in C (scenarios/xdp/c-cpumap-stats.ts):
// xdp_steer_by_port on CPU 0 sends each frame to CPU 1 or 2 by the parity
// of its UDP source port; cpumap_count runs in both kthreads at the same
// time and counts packets and bytes in stats[0]:
//   default        one ARRAY value, plain read-add-write: updates are lost;
//   -DSTATS_PERCPU a PERCPU_ARRAY, each kthread adding to its CPU's copy;
//   -DSTATS_ATOMIC the ARRAY value with __sync_fetch_and_add.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct datarec {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpu_map SEC(".maps");

struct {
#ifdef STATS_PERCPU
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
#else
	__uint(type, BPF_MAP_TYPE_ARRAY);
#endif
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct datarec);
} stats SEC(".maps");

SEC("xdp")
int xdp_steer_by_port(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct udphdr *udp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);

	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	return bpf_redirect_map(&cpu_map, 1 + (bpf_ntohs(udp->source) & 1), 0);
}

SEC("xdp/cpumap")
int cpumap_count(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct datarec *rec = bpf_map_lookup_elem(&stats, &key);
	if (!rec)
		return XDP_PASS;
	__u64 len = ctx->data_end - ctx->data;
#ifdef STATS_ATOMIC
	__sync_fetch_and_add(&rec->packets, 1);
	__sync_fetch_and_add(&rec->bytes, len);
#else
	volatile struct datarec *v = rec; // one load and one store each, as written
	__u64 packets = v->packets;
	__u64 bytes = v->bytes;
	v->bytes = bytes + len;
	v->packets = packets + 1;
#endif
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
