/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The fast path: packets of established flows that userspace put in rvs_flows are
 * rewritten here, exactly as rvs-core's engine rewrites them (crates/rvs-core/src/engine:
 * rewrite.rs, tunnel.rs, mod.rs), and sent with XDP_TX or a DEVMAP redirect. Only packets
 * that cannot change connection state are taken: TCP without SYN, FIN or RST, and UDP.
 * Anything else, or anything unusual (IPv4 options, IPv6 extension headers, fragments,
 * a TTL that would expire, a tunnelled packet over the MTU or needing a fresh IP id, a
 * missing egress port), is left to the classifier and userspace: rvs_fastpath returns -1
 * before touching a byte.
 *
 * Checksums are updated incrementally with the same arithmetic as rvs-core (RFC 1624,
 * folded twice), so the output is byte-identical, including the 0 / 0xffff choice; GUE
 * and GRE checksums are summed over the packet (fp_sum). */
#ifndef RVS_FASTPATH_H
#define RVS_FASTPATH_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "rvs_common.h"

#define RVS_TCP_FIN 0x01
#define RVS_TCP_SYN 0x02
#define RVS_TCP_RST 0x04
#define RVS_IPPROTO_GRE 47
#define RVS_ETH_P_IP 0x0800
#define RVS_ETH_P_IPV6 0x86DD

/* Shared (one entry per flow, whichever CPU its packets arrive on); built with
 * -DRVS_FLOWS_PERCPU for the per-CPU measurement in docs/xdp.md. */
struct {
#ifdef RVS_FLOWS_PERCPU
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
#else
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
#endif
	__uint(max_entries, RVS_FLOWS_MAX);
	__type(key, struct rvs_flow_key);
	__type(value, struct rvs_flow);
} rvs_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RVS_FLOW_SLOTS);
	__type(key, __u32);
	__type(value, struct rvs_flow_stats);
} rvs_flow_stats SEC(".maps");

/* Egress ports for redirects, keyed by ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, RVS_TX_PORTS);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} rvs_tx_ports SEC(".maps");

static __always_inline __u16 fp_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* rvs-core checksum::update16 (host-order values). */
static __always_inline __u16 fp_update16(__u16 c, __u16 old, __u16 new)
{
	return (__u16)~fp_fold((__u32)(__u16)~c + (__u32)(__u16)~old + new);
}

/* checksum::update32 */
static __always_inline __u16 fp_update32(__u16 c, __u32 old, __u32 new)
{
	__u32 s = (__u32)(__u16)~c + (__u32)(__u16)~(old >> 16) + (__u32)(__u16)~old +
		  (new >> 16) + (new & 0xffff);

	return (__u16)~fp_fold(s);
}

static __always_inline __u16 rd16(const void *p)
{
	return bpf_ntohs(*(const __be16 *)p);
}

static __always_inline void wr16(void *p, __u16 v)
{
	*(__be16 *)p = bpf_htons(v);
}

static __always_inline __u32 rd32(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

/* rewrite::set_endpoint4: IPv4 TCP/UDP, address (header checksum) then port, one L4
 * checksum update covering both; never skipped even when nothing changes. */
static __always_inline void fp_endpoint4(struct iphdr *ip, __u8 *l4, __u8 *csum, int udp,
					 int src, const __u8 *addr, __be16 port)
{
	__u8 *a = src ? (__u8 *)&ip->saddr : (__u8 *)&ip->daddr;
	__u8 *pp = src ? l4 : l4 + 2;
	__u32 old_a = rd32(a), new_a = rd32(addr);
	__u16 old_p = rd16(pp), new_p = bpf_ntohs(port);
	__u16 c, v;
	__u32 sum;

	__builtin_memcpy(a, addr, 4);
	wr16(&ip->check, fp_update32(rd16(&ip->check), old_a, new_a));
	*(__be16 *)pp = port;
	c = rd16(csum);
	if (udp && c == 0)
		return;
	sum = (__u32)(__u16)~c + (__u32)(__u16)~(old_a >> 16) + (__u32)(__u16)~old_a +
	      (new_a >> 16) + (new_a & 0xffff) + (__u32)(__u16)~old_p + new_p;
	v = (__u16)~fp_fold(sum);
	if (udp && v == 0)
		v = 0xffff;
	wr16(csum, v);
}

/* A UDP checksum over IPv6 that comes out 0 is written as 0xffff (0 is invalid there):
 * checksum::update_bytes_udp6 / update16_udp6. */
static __always_inline __u16 fp_udp6(int udp, __u16 v)
{
	return udp && v == 0 ? 0xffff : v;
}

/* rewrite::set_addr + set_port for IPv6 TCP/UDP: each skipped when unchanged, each its
 * own checksum update (checksum::update_bytes / update16, with fp_udp6 for UDP). */
static __always_inline void fp_endpoint6(struct ipv6hdr *ip6, __u8 *l4, __u8 *csum, int udp,
					 int src, const __u8 *addr, __be16 port)
{
	__u8 *a = src ? (__u8 *)&ip6->saddr : (__u8 *)&ip6->daddr;
	__u8 *pp = src ? l4 : l4 + 2;
	__u16 old_p;
	int i, same = 1;

#pragma unroll
	for (i = 0; i < 16; i++)
		if (a[i] != addr[i])
			same = 0;
	if (!same) {
		__u32 s = (__u16)~rd16(csum);

#pragma unroll
		for (i = 0; i < 16; i += 2) {
			s += (__u16)~(((__u16)a[i] << 8) | a[i + 1]);
			s += ((__u16)addr[i] << 8) | addr[i + 1];
		}
		__builtin_memcpy(a, addr, 16);
		wr16(csum, fp_udp6(udp, (__u16)~fp_fold(s)));
	}
	old_p = rd16(pp);
	if (old_p != bpf_ntohs(port)) {
		*(__be16 *)pp = port;
		wr16(csum, fp_udp6(udp, fp_update16(rd16(csum), old_p, bpf_ntohs(port))));
	}
}

static __always_inline void fp_count(struct rvs_flow *f, __u32 len)
{
	__u32 slot = f->slot;
	struct rvs_flow_stats *st = bpf_map_lookup_elem(&rvs_flow_stats, &slot);

	if (st) {
		if (f->dir == RVS_DIR_OUT) {
			st->pkts_out += 1;
			st->bytes_out += len;
		} else {
			st->pkts_in += 1;
			st->bytes_in += len;
		}
	}
	{
		__u64 now = bpf_ktime_get_coarse_ns();

		/* Coarse (a tick) is enough for idle expiry; skip the write when unchanged. */
		if (f->last_seen != now)
			f->last_seen = now;
	}
}

static __always_inline int fp_send(struct xdp_md *ctx, struct rvs_flow *f)
{
	/* A veth kicks its peer's NAPI after XDP_TX only when the peer has an XDP program;
	 * a DEVMAP redirect always flushes: userspace sets NO_TX where that matters. */
	if (f->egress == ctx->ingress_ifindex && !(f->ops & RVS_FO_NO_TX))
		return XDP_TX;
	return bpf_redirect_map(&rvs_tx_ports, f->egress, 0);
}

/* The sum of [p, end) as rvs-core's checksum::sum makes it (big-endian 16-bit words, a
 * trailing odd byte as a high byte), folded to 16 bits. bpf_csum_diff sums in host order
 * (little-endian here): a ones' complement sum is the byte swap of the other order's. At
 * most 1536 + 63 bytes (the MTU check bounds the packet). */
static __always_inline __u16 fp_sum(__u8 *p, void *end)
{
	__u32 le = 0, be = 0;
	__u16 l;
	int i;

	for (i = 0; i < 24; i++) {
		if ((void *)(p + 64) > end)
			break;
		le = (__u32)bpf_csum_diff(0, 0, (__be32 *)p, 64, le);
		p += 64;
	}
	if ((void *)(p + 32) <= end) {
		le = (__u32)bpf_csum_diff(0, 0, (__be32 *)p, 32, le);
		p += 32;
	}
	if ((void *)(p + 16) <= end) {
		le = (__u32)bpf_csum_diff(0, 0, (__be32 *)p, 16, le);
		p += 16;
	}
	if ((void *)(p + 8) <= end) {
		le = (__u32)bpf_csum_diff(0, 0, (__be32 *)p, 8, le);
		p += 8;
	}
	if ((void *)(p + 4) <= end) {
		le = (__u32)bpf_csum_diff(0, 0, (__be32 *)p, 4, le);
		p += 4;
	}
	if ((void *)(p + 2) <= end) {
		be += ((__u32)p[0] << 8) | p[1];
		p += 2;
	}
	if ((void *)(p + 1) <= end)
		be += (__u32)p[0] << 8;
	l = fp_fold(le);
	return fp_fold(be + (__u32)(__u16)((l << 8) | (l >> 8)));
}

/* TUN: put the outer header (and GUE / GRE) in front of the IP packet at l3 (inner_len
 * bytes, family `family`). Every check has been made. */
static __always_inline int fp_encap(struct xdp_md *ctx, struct rvs_flow *f, __u32 l2len,
				    __u8 family, __u32 inner_len, __u8 tos, __u8 ttl)
{
	__u8 l2[18];
	void *data = (void *)(long)ctx->data;
	void *end;
	__u32 iplen = (f->tun_flags & RVS_TF_OUTER6) ? 40 : 20;
	int csum = f->tun_flags & RVS_TF_CSUM;
	__u32 encap = f->tun_type == RVS_TUN_GUE   ? 12
		      : f->tun_type == RVS_TUN_GRE ? (csum ? 8 : 4)
						   : 0;
	__u32 overhead = iplen + encap;
	__u8 inner_proto = family == RVS_AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	__u8 outer_proto = f->tun_type == RVS_TUN_GUE	? IPPROTO_UDP
			   : f->tun_type == RVS_TUN_GRE ? RVS_IPPROTO_GRE
							: inner_proto;
	__u8 *h, *e;
	int i;

	if (data + 18 > (void *)(long)ctx->data_end)
		return -1;
	__builtin_memcpy(l2, data, 18);
	if (bpf_xdp_adjust_head(ctx, -(int)overhead))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	/* The bounds below always hold (the inner packet follows); the verifier needs them. */
	if (l2len == 18) {
		if (data + 18 > end)
			return XDP_ABORTED;
		__builtin_memcpy(data, l2, 18);
	} else {
		if (data + 14 > end)
			return XDP_ABORTED;
		__builtin_memcpy(data, l2, 14);
		l2len = 14;
	}
	h = data + l2len;
	wr16(h - 2, (f->tun_flags & RVS_TF_OUTER6) ? RVS_ETH_P_IPV6 : RVS_ETH_P_IP);
	if (f->tun_flags & RVS_TF_OUTER6) {
		if ((void *)(h + 40) > end)
			return XDP_ABORTED;
		wr16(h, 0x6000 | ((__u16)tos << 4));
		h[2] = 0;
		h[3] = 0;
		wr16(h + 4, inner_len + encap);
		h[6] = outer_proto;
		h[7] = ttl;
		__builtin_memcpy(h + 8, f->tun_src, 16);
		__builtin_memcpy(h + 24, f->tun_dst, 16);
		e = h + 40;
	} else {
		__u32 s = 0;
		int i;

		if ((void *)(h + 20) > end)
			return XDP_ABORTED;
		h[0] = 0x45;
		h[1] = tos;
		wr16(h + 2, inner_len + overhead);
		wr16(h + 4, 0);
		wr16(h + 6, 0x4000);
		h[8] = ttl;
		h[9] = outer_proto;
		wr16(h + 10, 0);
		__builtin_memcpy(h + 12, f->tun_src, 4);
		__builtin_memcpy(h + 16, f->tun_dst, 4);
#pragma unroll
		for (i = 0; i < 20; i += 2)
			s += ((__u32)h[i] << 8) | h[i + 1];
		wr16(h + 10, (__u16)~fp_fold(s));
		e = h + 20;
	}
	if (f->tun_type == RVS_TUN_GUE) {
		if ((void *)(e + 12) > end)
			return XDP_ABORTED;
		*(__be16 *)e = f->tun_sport;
		*(__be16 *)(e + 2) = f->tun_port;
		wr16(e + 4, encap + inner_len);
		wr16(e + 6, 0);
		e[8] = 0;
		e[9] = inner_proto;
		e[10] = 0;
		e[11] = 0;
		if (csum) {
			/* UDP: pseudo-header + UDP header, GUE header and inner packet; a 0
			 * result is sent as 0xffff (tunnel.rs). */
			__u32 ps = IPPROTO_UDP + encap + inner_len;
			int n = (f->tun_flags & RVS_TF_OUTER6) ? 16 : 4;
			__u16 c;

#pragma unroll
			for (i = 0; i < 16; i += 2) {
				if (i < n) {
					ps += ((__u32)f->tun_src[i] << 8) | f->tun_src[i + 1];
					ps += ((__u32)f->tun_dst[i] << 8) | f->tun_dst[i + 1];
				}
			}
			c = (__u16)~fp_fold(fp_fold(ps) + (__u32)fp_sum(e, end));
			if (c == 0)
				c = 0xffff;
			data = (void *)(long)ctx->data;
			end = (void *)(long)ctx->data_end;
			e = data + l2len + ((f->tun_flags & RVS_TF_OUTER6) ? 40 : 20);
			if ((void *)(e + 8) > end)
				return XDP_ABORTED;
			wr16(e + 6, c);
		}
	} else if (f->tun_type == RVS_TUN_GRE) {
		if ((void *)(e + 8) > end)
			return XDP_ABORTED;
		wr16(e, csum ? 0x8000 : 0);
		wr16(e + 2, family == RVS_AF_INET6 ? RVS_ETH_P_IPV6 : RVS_ETH_P_IP);
		if (csum) {
			__u16 c;

			wr16(e + 4, 0);
			wr16(e + 6, 0);
			c = (__u16)~fp_sum(e, end);
			data = (void *)(long)ctx->data;
			end = (void *)(long)ctx->data_end;
			e = data + l2len + ((f->tun_flags & RVS_TF_OUTER6) ? 40 : 20);
			if ((void *)(e + 8) > end)
				return XDP_ABORTED;
			wr16(e + 4, c);
		}
	}
	__builtin_memcpy(data, f->dmac, 6);
	__builtin_memcpy((__u8 *)data + 6, f->smac, 6);
	fp_count(f, inner_len);
	return fp_send(ctx, f);
}

/* The fast path for the IP packet at l3 (after l2len bytes of Ethernet and VLAN header).
 * Returns an XDP action, or -1: not taken, nothing changed. */
static __always_inline int rvs_fastpath(struct xdp_md *ctx, __u32 l2len, __u8 family)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	void *l3 = data + l2len;
	struct rvs_flow_key k;
	struct rvs_flow *f;
	struct iphdr *ip = l3;
	struct ipv6hdr *ip6 = l3;
	__u8 *l4, *csum;
	__u32 total, l4len;
	__u8 proto, tos, ttl;
	int udp;

	if (l2len != 14 && l2len != 18)
		return -1;
	__builtin_memset(&k, 0, sizeof(k));
	k.family = family;
	if (family == RVS_AF_INET) {
		if ((void *)(ip + 1) > end)
			return -1;
		if (ip->version != 4 || ip->ihl != 5)
			return -1;
		/* MF or a fragment offset: a fragment. */
		if (ip->frag_off & bpf_htons(0x3fff))
			return -1;
		total = bpf_ntohs(ip->tot_len);
		if (total < 20 || l3 + total > end)
			return -1;
		l4 = (__u8 *)(ip + 1);
		l4len = total - 20;
		proto = ip->protocol;
		__builtin_memcpy(k.src, &ip->saddr, 4);
		__builtin_memcpy(k.dst, &ip->daddr, 4);
		tos = ip->tos;
		ttl = ip->ttl;
	} else {
		if ((void *)(ip6 + 1) > end)
			return -1;
		if (ip6->version != 6)
			return -1;
		total = 40 + (__u32)bpf_ntohs(ip6->payload_len);
		if (l3 + total > end)
			return -1;
		l4 = (__u8 *)(ip6 + 1);
		l4len = total - 40;
		proto = ip6->nexthdr;
		__builtin_memcpy(k.src, &ip6->saddr, 16);
		__builtin_memcpy(k.dst, &ip6->daddr, 16);
		tos = (__u8)((((__u8 *)ip6)[0] << 4) | (((__u8 *)ip6)[1] >> 4));
		ttl = ip6->hop_limit;
	}
	if (proto == IPPROTO_TCP) {
		if ((void *)(l4 + 20) > end || l4len < 20)
			return -1;
		if ((l4[12] >> 4) < 5 || (__u32)(l4[12] >> 4) * 4 > l4len)
			return -1;
		if (l4[13] & (RVS_TCP_SYN | RVS_TCP_FIN | RVS_TCP_RST))
			return -1;
		csum = l4 + 16;
		udp = 0;
	} else if (proto == IPPROTO_UDP) {
		__u16 ulen;

		if ((void *)(l4 + 8) > end || l4len < 8)
			return -1;
		ulen = rd16(l4 + 4);
		if (ulen < 8 || ulen > l4len)
			return -1;
		csum = l4 + 6;
		udp = 1;
	} else {
		return -1;
	}
	k.proto = proto;
	k.sport = *(__be16 *)l4;
	k.dport = *(__be16 *)(l4 + 2);
	f = bpf_map_lookup_elem(&rvs_flows, &k);
	if (!f)
		return -1;
	/* Every reason not to take the packet, before changing anything. */
	if ((f->egress != ctx->ingress_ifindex || (f->ops & RVS_FO_NO_TX)) &&
	    !bpf_map_lookup_elem(&rvs_tx_ports, &f->egress))
		return -1;
	if ((f->ops & RVS_FO_DEC_TTL) && ttl <= 1)
		return -1;
	if (f->ops & RVS_FO_ENCAP) {
		if (total > f->max_len || l3 + total != end)
			return -1;
		/* An outer IPv4 header of a fragmentable packet takes an IP id. */
		if (family == RVS_AF_INET && !(f->tun_flags & RVS_TF_OUTER6) &&
		    !(ip->frag_off & bpf_htons(0x4000)))
			return -1;
		return fp_encap(ctx, f, l2len, family, total, tos, ttl);
	}
	if (f->ops & RVS_FO_DEC_TTL) {
		if (family == RVS_AF_INET) {
			__u16 old = rd16(&ip->ttl);

			ip->ttl -= 1;
			wr16(&ip->check, fp_update16(rd16(&ip->check), old, old - 0x100));
		} else {
			ip6->hop_limit -= 1;
		}
	}
	if (family == RVS_AF_INET) {
		if (f->ops & RVS_FO_SET_SRC)
			fp_endpoint4(ip, l4, csum, udp, 1, f->new_src, f->new_sport);
		if (f->ops & RVS_FO_SET_DST)
			fp_endpoint4(ip, l4, csum, udp, 0, f->new_dst, f->new_dport);
	} else {
		if (f->ops & RVS_FO_SET_SRC)
			fp_endpoint6(ip6, l4, csum, udp, 1, f->new_src, f->new_sport);
		if (f->ops & RVS_FO_SET_DST)
			fp_endpoint6(ip6, l4, csum, udp, 0, f->new_dst, f->new_dport);
	}
	__builtin_memcpy(data, f->dmac, 6);
	__builtin_memcpy((__u8 *)data + 6, f->smac, 6);
	fp_count(f, total);
	return fp_send(ctx, f);
}

#endif
