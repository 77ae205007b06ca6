/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared definitions of rvs's XDP programs: map keys and values (mirrored in Rust by
 * crates/rvs-xdp/src/maps.rs, with size assertions) and the counter indices. */
#ifndef RVS_COMMON_H
#define RVS_COMMON_H

#include <linux/types.h>

#define RVS_AF_INET 4
#define RVS_AF_INET6 6

/* (family, proto, port, address). IPv4 addresses fill addr[0..4], the rest is zero.
 * The port is in network byte order, as on the wire. */
struct rvs_key {
	__u8 family;
	__u8 proto;
	__be16 port;
	__u8 addr[16];
};

/* An inclusive port range, host byte order. */
struct rvs_range {
	__u16 lo;
	__u16 hi;
};

#define RVS_FW_PORTS 8
#define RVS_FW_MAX 64

/* One fwmark class: packets of `proto` (0 = TCP, UDP or SCTP) to an address that, masked
 * with `mask`, equals `addr`, with a destination port in one of the first `nports`
 * ranges (0 = any port). family == 0 ends the table. */
struct rvs_fwclass {
	__u8 family;
	__u8 proto;
	__u8 nports;
	__u8 pad;
	__u8 addr[16];
	__u8 mask[16];
	struct rvs_range ports[RVS_FW_PORTS];
};

/* (ingress ifindex, rx queue) -> slot in the XSKMAP. */
struct rvs_xsk_key {
	__u32 ifindex;
	__u32 queue;
};

/* Classifier counters (per-CPU array indices). */
enum rvs_counter {
	RVS_C_SEEN = 0,
	RVS_C_NOT_OURS,
	RVS_C_MALFORMED,
	RVS_C_FRAGMENT,
	RVS_C_HIT_SERVICE,
	RVS_C_HIT_REPLY,
	RVS_C_HIT_LOCAL,
	RVS_C_HIT_FWMARK,
	RVS_C_HIT_ICMP,
	RVS_C_NO_XSK,
	RVS_C_REDIRECTED,
	RVS_C_REDIRECT_FAILED,
	RVS_C_FASTPATH,
	RVS_C_MAX,
};

/* Fast path (rvs_fastpath.h). A flow key: one direction of an established connection,
 * as the packet arrives. Ports in network byte order; IPv4 addresses in the first 4
 * bytes of src/dst, the rest zero. */
struct rvs_flow_key {
	__u8 family;
	__u8 proto;
	__u16 pad;
	__be16 sport;
	__be16 dport;
	__u8 src[16];
	__u8 dst[16];
};

/* rvs_flow.ops: what to do, in this order. */
#define RVS_FO_DEC_TTL 0x01 /* routed on: TTL / hop limit minus one (fall through at 1) */
#define RVS_FO_SET_SRC 0x02 /* source address and port := new_src, new_sport */
#define RVS_FO_SET_DST 0x04 /* destination address and port := new_dst, new_dport */
#define RVS_FO_ENCAP 0x08   /* TUN: outer header tun_src -> tun_dst, tun_type */
#define RVS_FO_NO_TX 0x10   /* never XDP_TX: redirect through rvs_tx_ports even to the ingress */

/* rvs_flow.tun_type */
#define RVS_TUN_IPIP 0
#define RVS_TUN_GUE 1
#define RVS_TUN_GRE 2

/* rvs_flow.tun_flags */
#define RVS_TF_CSUM 0x01   /* GUE / GRE checksum (GRE: an 8-byte header) */
#define RVS_TF_OUTER6 0x02 /* the outer header is IPv6 */

/* rvs_flow.dir: which counters of the slot the packet goes to. */
#define RVS_DIR_IN 0  /* client -> real server (IPVS InPkts/InBytes) */
#define RVS_DIR_OUT 1 /* real server -> client (OutPkts/OutBytes) */

/* A flow's action, written by userspace (crates/rvs-dataplane's fast-path builder);
 * only last_seen is written by XDP. */
struct rvs_flow {
	__u8 ops;
	__u8 tun_type;
	__u8 tun_flags;
	__u8 dir;
	__u32 slot;    /* index into rvs_flow_stats */
	__u32 egress;  /* egress ifindex: == ingress -> XDP_TX, else redirect via rvs_tx_ports */
	__u16 max_len; /* TUN: the largest inner packet that fits the egress MTU */
	__be16 tun_port;  /* GUE destination port */
	__be16 tun_sport; /* GUE source port */
	__be16 new_sport;
	__be16 new_dport;
	__u16 pad1;
	__u8 new_src[16];
	__u8 new_dst[16];
	__u8 tun_src[16];
	__u8 tun_dst[16];
	__u8 dmac[6];
	__u8 smac[6];
	__u32 pad2;
	__u64 last_seen; /* bpf_ktime_get_ns() of the last packet forwarded */
};

/* Per-CPU packet and byte counters of one slot (IP lengths, as IPVS counts). */
struct rvs_flow_stats {
	__u64 pkts_in;
	__u64 bytes_in;
	__u64 pkts_out;
	__u64 bytes_out;
};

#define RVS_FLOWS_MAX 262144
#define RVS_FLOW_SLOTS 16384
#define RVS_TX_PORTS 256

#endif
