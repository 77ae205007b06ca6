// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* rvs_bench: the live benchmark's traffic generator and sink (never loaded by rvsd).
 *
 * rvs_gen: run through BPF_PROG_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES) on
 * an Ethernet/IPv4/UDP frame. The pages of that mode are recycled with whatever the path
 * they went through wrote into them (a forwarding kernel rewrites the MACs and the TTL,
 * NAT the addresses), so each run writes the whole template header gen_hdr (Ethernet,
 * IPv4 without options, UDP without checksum, as the loader built it) over the frame,
 * gives it the next of gen_flows source ports (gen_base_port, gen_base_port + 1, ...)
 * and returns XDP_TX, which that mode turns into a transmission out of the interface
 * named in the context: into a veth, the frame arrives at its peer.
 *
 * rvs_wire: the cheapest forwarder XDP allows, the benchmark's floor: attached to the
 * director's receiving interface in place of the system under test, it sets the MACs
 * to wire_smac / wire_dmac and redirects every frame to wire_ifindex.
 *
 * rvs_sink: attached to a real server's interface. Counts (packets, bytes) and drops
 * the UDP datagrams to sink_port, over IPv4 or IPv6 (no extension headers); passes
 * everything else (ARP, ND, ...) to the kernel. */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define GEN_HDR_LEN 42

volatile const __u8 gen_hdr[GEN_HDR_LEN] = {0};
volatile const __u16 gen_base_port = 10000;
volatile const __u16 gen_flows = 64;
volatile const __u16 sink_port = 9000;
volatile const __u32 wire_ifindex = 0;
volatile const __u8 wire_dmac[ETH_ALEN] = {0};
volatile const __u8 wire_smac[ETH_ALEN] = {0};

struct sink_count {
	__u64 pkts;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rvs_gen_seq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink_count);
} rvs_sink_count SEC(".maps");

SEC("xdp")
int rvs_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	struct udphdr *udp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
	__u32 zero = 0;
	__u64 *seq;
	__u16 flows = gen_flows;
	int i;

	if (data + GEN_HDR_LEN > data_end)
		return XDP_ABORTED;
	for (i = 0; i < GEN_HDR_LEN; i++)
		p[i] = gen_hdr[i];
	seq = bpf_map_lookup_elem(&rvs_gen_seq, &zero);
	if (!seq)
		return XDP_ABORTED;
	if (flows == 0)
		flows = 1;
	udp->source = bpf_htons(gen_base_port + (__u16)(*seq % flows));
	*seq += 1;
	return XDP_TX;
}

SEC("xdp")
int rvs_wire(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	int i;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP) && eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	for (i = 0; i < ETH_ALEN; i++) {
		eth->h_dest[i] = wire_dmac[i];
		eth->h_source[i] = wire_smac[i];
	}
	return bpf_redirect(wire_ifindex, 0);
}

SEC("xdp")
int rvs_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp;
	struct sink_count *c;
	__u32 zero = 0;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP ||
		    (ip->frag_off & bpf_htons(0x1fff)) != 0)
			return XDP_PASS;
		udp = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_UDP)
			return XDP_PASS;
		udp = (void *)(ip6 + 1);
	} else {
		return XDP_PASS;
	}
	if ((void *)(udp + 1) > data_end || udp->dest != bpf_htons(sink_port))
		return XDP_PASS;
	c = bpf_map_lookup_elem(&rvs_sink_count, &zero);
	if (c) {
		c->pkts += 1;
		c->bytes += data_end - data;
	}
	return XDP_DROP;
}

char _license[] SEC("license") = "Dual BSD/GPL";
