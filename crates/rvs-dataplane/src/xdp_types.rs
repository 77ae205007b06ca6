//! The classifier's class types. Until `rvs-xdp` lands they are defined here exactly as
//! the contract (`live-api.md`) gives them; then this module re-exports `rvs_xdp`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// What the XDP classifier redirects to userspace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classes {
    /// (VIP, IP proto 6/17/132, port; 0 = any port).
    pub services: BTreeSet<(IpAddr, u8, u16)>,
    /// NAT: (RIP, proto, rport) = source of replies.
    pub replies: BTreeSet<(IpAddr, u8, u16)>,
    /// FULLNAT LIPs: TCP/UDP/SCTP to LIP, dport in [lo, hi].
    pub locals: BTreeMap<IpAddr, (u16, u16)>,
    /// rvs fwmark classifier rules.
    pub fwmark: Vec<FwmarkClass>,
}

/// One fwmark classifier rule as the XDP program sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FwmarkClass {
    /// IP protocol.
    pub proto: u8,
    /// Destination prefix.
    pub prefix: IpAddr,
    /// Prefix length.
    pub plen: u8,
    /// Destination port ranges; empty = any.
    pub ports: Vec<(u16, u16)>,
}
