// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* rvs_xdp: the director's classifier. Packets of established flows in rvs_flows are
 * forwarded in XDP (rvs_fastpath.h). Other frames that belong to a virtual service (or are
 * replies, FULLNAT returns, fwmark-class traffic, or ICMP errors about any of those) go
 * to the AF_XDP socket of the receiving (ifindex, rx queue); everything else goes to the
 * kernel with XDP_PASS. The maps are written by crates/rvs-xdp; this program only reads
 * them and bumps per-CPU counters. docs/xdp.md describes the rules. */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "rvs_common.h"
#include "rvs_parse.h"
#include "rvs_fastpath.h"

/* ICMP types (linux/icmp.h drags in libc headers that -target bpf cannot use). */
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PARAMPROB 4

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rvs_key);
	__type(value, __u8);
} rvs_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rvs_key);
	__type(value, __u8);
} rvs_replies SEC(".maps");

/* The director's own addresses (key: proto 0, port 0): a packet from a NAT real server to
 * one of them answers the director itself (a health check), not a client. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct rvs_key);
	__type(value, __u8);
} rvs_hosts SEC(".maps");

/* key: proto 0, port 0, the local address. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct rvs_key);
	__type(value, struct rvs_range);
} rvs_locals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RVS_FW_MAX);
	__type(key, __u32);
	__type(value, struct rvs_fwclass);
} rvs_fwmark SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct rvs_xsk_key);
	__type(value, __u32);
} rvs_xsk_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} rvs_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RVS_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rvs_counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&rvs_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline void mkkey(struct rvs_key *k, __u8 family, __u8 proto, __be16 port,
				  const __u8 *addr)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->family = family;
	k->proto = proto;
	k->port = port;
	__builtin_memcpy(k->addr, addr, 16);
}

/* (addr, proto, port) or (addr, proto, 0) in services. */
static __always_inline int in_services(__u8 family, __u8 proto, __be16 port, const __u8 *addr)
{
	struct rvs_key k;

	mkkey(&k, family, proto, port, addr);
	if (bpf_map_lookup_elem(&rvs_services, &k))
		return 1;
	k.port = 0;
	return bpf_map_lookup_elem(&rvs_services, &k) != NULL;
}

static __always_inline int in_replies(__u8 family, __u8 proto, __be16 port, const __u8 *addr)
{
	struct rvs_key k;

	mkkey(&k, family, proto, port, addr);
	if (bpf_map_lookup_elem(&rvs_replies, &k))
		return 1;
	/* A NAT dest of a fwmark or port-0 service has port 0: any source port. */
	k.port = 0;
	return bpf_map_lookup_elem(&rvs_replies, &k) != NULL;
}

static __always_inline int is_host(__u8 family, const __u8 *addr)
{
	struct rvs_key k;

	mkkey(&k, family, 0, 0, addr);
	return bpf_map_lookup_elem(&rvs_hosts, &k) != NULL;
}

static __always_inline int in_locals(__u8 family, __be16 port, const __u8 *addr)
{
	struct rvs_key k;
	struct rvs_range *r;
	__u16 p = bpf_ntohs(port);

	mkkey(&k, family, 0, 0, addr);
	r = bpf_map_lookup_elem(&rvs_locals, &k);
	return r && p >= r->lo && p <= r->hi;
}

static __always_inline int in_fwmark(const struct rvs_pkt *pkt)
{
	__u16 dport = bpf_ntohs(pkt->dport);
	__u32 i;

	for (i = 0; i < RVS_FW_MAX; i++) {
		__u32 idx = i;
		struct rvs_fwclass *c = bpf_map_lookup_elem(&rvs_fwmark, &idx);
		int j, ok = 1;

		if (!c || c->family == 0)
			return 0;
		if (c->family != pkt->family)
			continue;
		if (c->proto != 0 && c->proto != pkt->proto)
			continue;
		for (j = 0; j < 16; j++) {
			if ((pkt->dst[j] & c->mask[j]) != c->addr[j]) {
				ok = 0;
				break;
			}
		}
		if (!ok)
			continue;
		if (c->nports == 0)
			return 1;
		for (j = 0; j < RVS_FW_PORTS; j++) {
			if (j >= c->nports)
				break;
			if (dport >= c->ports[j].lo && dport <= c->ports[j].hi)
				return 1;
		}
	}
	return 0;
}

static __always_inline int is_icmp_error(__u8 family, __u8 proto, __u8 type)
{
	if (family == RVS_AF_INET && proto == IPPROTO_ICMP)
		return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH ||
		       type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
	if (family == RVS_AF_INET6 && proto == IPPROTO_ICMPV6)
		return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
	return 0;
}

/* Which counter a packet hits, or RVS_C_NOT_OURS / RVS_C_MALFORMED / RVS_C_FRAGMENT. */
static __always_inline __u32 classify(void *l3, void *end, __u8 family)
{
	struct rvs_pkt pkt;
	struct rvs_pkt q;
	__u8 *icmp;
	int r;

	r = rvs_parse_ip(l3, end, family, &pkt);
	if (r == RVS_P_MALFORMED)
		return RVS_C_MALFORMED;
	if (r == RVS_P_FRAGMENT)
		return RVS_C_FRAGMENT;
	if (rvs_has_ports(pkt.proto)) {
		if (in_services(family, pkt.proto, pkt.dport, pkt.dst))
			return RVS_C_HIT_SERVICE;
		if (in_replies(family, pkt.proto, pkt.sport, pkt.src) && !is_host(family, pkt.dst))
			return RVS_C_HIT_REPLY;
		if (in_locals(family, pkt.dport, pkt.dst))
			return RVS_C_HIT_LOCAL;
		if (in_fwmark(&pkt))
			return RVS_C_HIT_FWMARK;
		return RVS_C_NOT_OURS;
	}
	if (pkt.proto != IPPROTO_ICMP && pkt.proto != IPPROTO_ICMPV6)
		return RVS_C_NOT_OURS;
	icmp = pkt.l4;
	if ((void *)(icmp + 8) > end)
		return RVS_C_MALFORMED;
	if (!is_icmp_error(family, pkt.proto, icmp[0]))
		return RVS_C_NOT_OURS;
	r = rvs_parse_ip(icmp + 8, end, family, &q);
	if (r != RVS_P_OK || !rvs_has_ports(q.proto))
		return RVS_C_NOT_OURS;
	/* About a packet we sent from a service or a FULLNAT local address... */
	if (in_services(family, q.proto, q.sport, q.src) || in_locals(family, q.sport, q.src))
		return RVS_C_HIT_ICMP;
	/* ...or one we forwarded to a real server or that was sent to a service. */
	if ((in_replies(family, q.proto, q.dport, q.dst) && !is_host(family, q.src)) ||
	    in_services(family, q.proto, q.dport, q.dst))
		return RVS_C_HIT_ICMP;
	return RVS_C_NOT_OURS;
}

SEC("xdp")
int rvs_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct rvs_xsk_key xk;
	void *l3;
	__u16 proto;
	__u32 verdict, *slot;
	__u8 family;
	__u32 l2len;
	long ret;

	count(RVS_C_SEEN);
	if ((void *)(eth + 1) > end) {
		count(RVS_C_MALFORMED);
		return XDP_PASS;
	}
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		__be16 *tag = l3;

		if ((void *)(tag + 2) > end) {
			count(RVS_C_MALFORMED);
			return XDP_PASS;
		}
		proto = tag[1];
		l3 = tag + 2;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		family = RVS_AF_INET;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		family = RVS_AF_INET6;
	} else {
		count(RVS_C_NOT_OURS);
		return XDP_PASS;
	}
	l2len = l3 - data;
	ret = rvs_fastpath(ctx, l2len, family);
	if (ret >= 0) {
		count(RVS_C_FASTPATH);
		return ret;
	}
	/* The fast path may have called a helper that invalidates packet pointers. */
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (l2len != 14 && l2len != 18)
		return XDP_PASS;
	l3 = data + l2len;
	verdict = classify(l3, end, family);
	count(verdict);
	if (verdict < RVS_C_HIT_SERVICE)
		return XDP_PASS;
	xk.ifindex = ctx->ingress_ifindex;
	xk.queue = ctx->rx_queue_index;
	slot = bpf_map_lookup_elem(&rvs_xsk_slots, &xk);
	if (!slot) {
		count(RVS_C_NO_XSK);
		return XDP_PASS;
	}
	ret = bpf_redirect_map(&rvs_xsks, *slot, XDP_PASS);
	count(ret == XDP_REDIRECT ? RVS_C_REDIRECTED : RVS_C_REDIRECT_FAILED);
	return ret;
}

char _license[] SEC("license") = "Dual BSD/GPL";
