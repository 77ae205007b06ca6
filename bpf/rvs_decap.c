// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* rvs_decap: for TUN real servers. Strips what the director's TUN forwarding puts in
 * front of the client's packet (crates/rvs-core/src/engine/tunnel.rs) and hands the inner
 * packet to the kernel:
 *   - IP-in-IP: outer IPv4 or IPv6, protocol 4 (IPv4 inside) or 41 (IPv6 inside);
 *   - GRE (RFC 2784): version 0, no flags but C (checksum present: 4 more bytes),
 *     protocol type 0x0800 / 0x86DD;
 *   - GUE: UDP to one of gue_ports; variant 0 (4-byte header, no options or control
 *     messages, protocol 4 / 41) or variant 1 (the inner IP header right after UDP).
 * The Ethernet header is kept (MACs unchanged), its type set to the inner family, and
 * the frame passed. Anything else, including VLAN-tagged frames and outer fragments,
 * passes unchanged. */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define RVS_GUE_PORTS 8

/* UDP destination ports that carry GUE (host byte order; 0 = unused), set by the loader. */
volatile const __u16 gue_ports[RVS_GUE_PORTS] = {0};

#define GRE_CSUM 0x8000

static __always_inline int is_gue_port(__u16 port)
{
	int i;

	for (i = 0; i < RVS_GUE_PORTS; i++) {
		if (gue_ports[i] != 0 && gue_ports[i] == port)
			return 1;
	}
	return 0;
}

/* The IP version of the packet at p (0 if none / out of bounds). */
static __always_inline int ip_version(void *p, void *end)
{
	__u8 *b = p;

	if ((void *)(b + 1) > end)
		return 0;
	return b[0] >> 4;
}

SEC("xdp")
int rvs_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ethhdr saved;
	__u8 proto;
	void *p;
	int inner_v; /* 4 or 6 */
	__u32 strip;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		if (ip->version != 4 || ip->ihl < 5)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(0x3fff))
			return XDP_PASS;
		proto = ip->protocol;
		p = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		if (ip6->version != 6)
			return XDP_PASS;
		proto = ip6->nexthdr;
		p = ip6 + 1;
	} else {
		return XDP_PASS;
	}

	if (proto == IPPROTO_IPIP) {
		inner_v = 4;
	} else if (proto == IPPROTO_IPV6) {
		inner_v = 6;
	} else if (proto == IPPROTO_GRE) {
		__be16 *gre = p;
		__u16 flags;

		if ((void *)(gre + 2) > end)
			return XDP_PASS;
		flags = bpf_ntohs(gre[0]);
		if (flags & ~GRE_CSUM) /* version != 0, or key/sequence/routing present */
			return XDP_PASS;
		if (gre[1] == bpf_htons(ETH_P_IP))
			inner_v = 4;
		else if (gre[1] == bpf_htons(ETH_P_IPV6))
			inner_v = 6;
		else
			return XDP_PASS;
		p += (flags & GRE_CSUM) ? 8 : 4;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = p;
		__u8 *gue;

		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		if (!is_gue_port(bpf_ntohs(udp->dest)))
			return XDP_PASS;
		gue = (void *)(udp + 1);
		if ((void *)(gue + 4) > end)
			return XDP_PASS;
		if ((gue[0] >> 6) == 0) {
			/* variant 0: C = 0 (data), hlen = 0 (no options) */
			if (gue[0] & 0x3f)
				return XDP_PASS;
			if (gue[1] == IPPROTO_IPIP)
				inner_v = 4;
			else if (gue[1] == IPPROTO_IPV6)
				inner_v = 6;
			else
				return XDP_PASS;
			p = gue + 4;
		} else if ((gue[0] >> 6) == 1) {
			inner_v = gue[0] >> 4;
			p = gue;
		} else {
			return XDP_PASS;
		}
	} else {
		return XDP_PASS;
	}

	if (ip_version(p, end) != inner_v)
		return XDP_PASS;
	strip = p - (void *)(eth + 1);
	if (strip > 512)
		return XDP_PASS;
	__builtin_memcpy(&saved, eth, sizeof(saved));
	saved.h_proto = inner_v == 4 ? bpf_htons(ETH_P_IP) : bpf_htons(ETH_P_IPV6);
	if (bpf_xdp_adjust_head(ctx, (int)strip))
		return XDP_PASS;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP; /* cannot happen: the inner IP header follows */
	__builtin_memcpy(eth, &saved, sizeof(saved));
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
