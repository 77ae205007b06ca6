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
	RVS_C_MAX,
};

#endif
