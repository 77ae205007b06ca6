/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Bounded, verifier-friendly parsing of an IP packet into (family, proto, src, dst,
 * ports) for rvs's classifier, used for a frame's packet and for the packet an ICMP
 * error quotes. */
#ifndef RVS_PARSE_H
#define RVS_PARSE_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "rvs_common.h"

#define RVS_V6_EXT_MAX 4

/* What parse_ip found. Ports are in network byte order; `l4` points at the L4 header. */
struct rvs_pkt {
	__u8 family;
	__u8 proto;
	__be16 sport;
	__be16 dport;
	__u8 src[16];
	__u8 dst[16];
	void *l4;
};

enum rvs_parse {
	RVS_P_OK = 0,
	RVS_P_MALFORMED,
	RVS_P_FRAGMENT, /* a non-first fragment: no L4 header */
};

static __always_inline int rvs_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* Parse the IP packet at `p` (family from the caller: 4 or 6). */
static __always_inline int rvs_parse_ip(void *p, void *end, __u8 family, struct rvs_pkt *out)
{
	__u8 nh;

	out->family = family;
	out->sport = 0;
	out->dport = 0;
	if (family == RVS_AF_INET) {
		struct iphdr *ip = p;

		if ((void *)(ip + 1) > end)
			return RVS_P_MALFORMED;
		if (ip->version != 4 || ip->ihl < 5)
			return RVS_P_MALFORMED;
		__builtin_memset(out->src, 0, 16);
		__builtin_memset(out->dst, 0, 16);
		__builtin_memcpy(out->src, &ip->saddr, 4);
		__builtin_memcpy(out->dst, &ip->daddr, 4);
		nh = ip->protocol;
		if (ip->frag_off & bpf_htons(0x1fff))
			return RVS_P_FRAGMENT;
		p += ip->ihl * 4;
	} else {
		struct ipv6hdr *ip6 = p;
		int i;

		if ((void *)(ip6 + 1) > end)
			return RVS_P_MALFORMED;
		if (ip6->version != 6)
			return RVS_P_MALFORMED;
		__builtin_memcpy(out->src, &ip6->saddr, 16);
		__builtin_memcpy(out->dst, &ip6->daddr, 16);
		nh = ip6->nexthdr;
		p = ip6 + 1;
		for (i = 0; i < RVS_V6_EXT_MAX; i++) {
			if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS) {
				__u8 *o = p;

				if ((void *)(o + 2) > end)
					return RVS_P_MALFORMED;
				nh = o[0];
				p += ((__u32)o[1] + 1) * 8;
			} else if (nh == IPPROTO_FRAGMENT) {
				__u8 *o = p;

				if ((void *)(o + 8) > end)
					return RVS_P_MALFORMED;
				nh = o[0];
				if ((((__u16)o[2] << 8) | o[3]) & 0xfff8)
					return RVS_P_FRAGMENT;
				p += 8;
			} else if (nh == IPPROTO_AH) {
				__u8 *o = p;

				if ((void *)(o + 2) > end)
					return RVS_P_MALFORMED;
				nh = o[0];
				p += ((__u32)o[1] + 2) * 4;
			} else {
				break;
			}
		}
	}
	out->proto = nh;
	out->l4 = p;
	if (rvs_has_ports(nh)) {
		__be16 *ports = p;

		if ((void *)(ports + 2) > end)
			return RVS_P_MALFORMED;
		out->sport = ports[0];
		out->dport = ports[1];
	}
	return RVS_P_OK;
}

#endif
