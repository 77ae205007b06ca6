//! What the engine decided for one frame.

use std::fmt;
use std::net::IpAddr;

use crate::dest::FwdMethod;
use crate::engine::route::IfaceId;
use crate::wire::WireError;

/// What to do with a frame after [`super::Engine::process`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the rewritten frame (MAC addresses filled in) out of `egress`.
    Transmit {
        /// Egress interface.
        egress: IfaceId,
        /// The on-link next hop whose MAC is now the frame's destination.
        next_hop: IpAddr,
        /// Why the frame goes out.
        kind: TxKind,
    },
    /// Like `Transmit`, but the next hop's MAC is unknown: the frame is rewritten except
    /// for its destination MAC (bytes 0..6). Resolve `next_hop` on `egress`, fill it in
    /// and send, or drop the frame.
    Unresolved {
        /// Egress interface.
        egress: IfaceId,
        /// The next hop to resolve.
        next_hop: IpAddr,
        /// Why the frame goes out.
        kind: TxKind,
    },
    /// Not the director's business (or not a connection start): give the frame, unchanged,
    /// to the local stack.
    Pass(PassReason),
    /// Drop the frame; the reason is counted.
    Drop(DropReason),
}

/// Why a frame is transmitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// Client → real server with this method; `new` when the frame created the connection.
    Forward {
        /// Forwarding method.
        method: FwdMethod,
        /// The frame created the connection.
        new: bool,
    },
    /// Real server → client (NAT and FULLNAT replies).
    Reply {
        /// Forwarding method.
        method: FwdMethod,
    },
    /// An ICMP error about a connection, passed on to its real server.
    IcmpToServer {
        /// Forwarding method.
        method: FwdMethod,
    },
    /// An ICMP error about a connection, passed back to its client.
    IcmpToClient {
        /// Forwarding method.
        method: FwdMethod,
    },
    /// The frame was replaced by an ICMP error the director answers with.
    IcmpAnswer(IcmpAnswer),
}

/// An ICMP error the director generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpAnswer {
    /// No dest available for a service: ICMP / ICMPv6 port unreachable.
    PortUnreachable,
    /// TUN encapsulation exceeds the egress MTU and the packet may not be fragmented:
    /// ICMP fragmentation needed / ICMPv6 packet too big with this MTU.
    TooBig(u32),
}

/// Why a frame goes to the local stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassReason {
    /// ARP, or not IP at all.
    NotIp,
    /// No connection and no service matched.
    NoService,
    /// A service matched but the packet cannot start a connection (TCP without SYN…).
    NotConnStart,
    /// The connection's dest is the director itself (`-g` to a local address).
    Local,
    /// A protocol the director does not balance (ICMP echo, tunnels, …).
    Protocol,
    /// A routed reply whose TTL would expire: the kernel answers time-exceeded.
    TtlExpired,
    /// An IP fragment not addressed to a virtual service.
    Fragment,
}

/// Why a frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The frame failed to parse.
    Malformed(WireError),
    /// The connection's dest was deleted (kept until it times out, like IPVS).
    DestUnavailable,
    /// The connection's dest was deleted and `expire_nodest_conn` expired it.
    DestExpired,
    /// No route to the destination.
    NoRoute,
    /// The egress interface has no address of the family needed (TUN outer source).
    NoSourceAddress,
    /// The buffer has no room for the rewritten frame.
    NoRoom,
    /// FULLNAT: no local address of the real server's family.
    NoLocalAddress,
    /// FULLNAT: every local port towards that real server is taken.
    PortsExhausted,
    /// FULLNAT needs the virtual and real addresses in one family.
    FamilyMismatch,
    /// FULLNAT with one-packet scheduling is not supported.
    OnePacketFullNat,
    /// A fragment of a packet to a virtual service (reassembly is not supported).
    Fragment,
    /// The encapsulated packet exceeds the egress MTU and may be fragmented, which the
    /// engine does not do.
    TooBig,
    /// An ICMP error about a packet to a service with no dest: never answered with ICMP.
    IcmpAboutIcmp,
}

impl DropReason {
    /// A stable short name, used as the counter label.
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::Malformed(e) => e.as_str(),
            DropReason::DestUnavailable => "dest-unavailable",
            DropReason::DestExpired => "dest-expired",
            DropReason::NoRoute => "no-route",
            DropReason::NoSourceAddress => "no-source-address",
            DropReason::NoRoom => "no-room",
            DropReason::NoLocalAddress => "fullnat-no-local-address",
            DropReason::PortsExhausted => "fullnat-ports-exhausted",
            DropReason::FamilyMismatch => "family-mismatch",
            DropReason::OnePacketFullNat => "fullnat-one-packet",
            DropReason::Fragment => "fragment",
            DropReason::TooBig => "too-big",
            DropReason::IcmpAboutIcmp => "icmp-error-no-dest",
        }
    }
}

impl PassReason {
    /// A stable short name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PassReason::NotIp => "not-ip",
            PassReason::NoService => "no-service",
            PassReason::NotConnStart => "not-conn-start",
            PassReason::Local => "local",
            PassReason::Protocol => "protocol",
            PassReason::TtlExpired => "ttl-expired",
            PassReason::Fragment => "fragment",
        }
    }
}

fn method_name(m: FwdMethod) -> &'static str {
    match m {
        FwdMethod::Masq => "nat",
        FwdMethod::Local => "local",
        FwdMethod::Tunnel => "tun",
        FwdMethod::Route => "dr",
        FwdMethod::FullNat => "fullnat",
    }
}

impl fmt::Display for TxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxKind::Forward { method, new } => {
                write!(f, "forward {}", method_name(*method))?;
                if *new {
                    f.write_str(" new")?;
                }
                Ok(())
            }
            TxKind::Reply { method } => write!(f, "reply {}", method_name(*method)),
            TxKind::IcmpToServer { method } => {
                write!(f, "icmp-to-server {}", method_name(*method))
            }
            TxKind::IcmpToClient { method } => {
                write!(f, "icmp-to-client {}", method_name(*method))
            }
            TxKind::IcmpAnswer(IcmpAnswer::PortUnreachable) => f.write_str("icmp port-unreachable"),
            TxKind::IcmpAnswer(IcmpAnswer::TooBig(mtu)) => write!(f, "icmp too-big mtu {mtu}"),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Transmit {
                egress,
                next_hop,
                kind,
            } => write!(f, "transmit if{} via {next_hop}: {kind}", egress.0),
            Verdict::Unresolved {
                egress,
                next_hop,
                kind,
            } => write!(f, "unresolved if{} via {next_hop}: {kind}", egress.0),
            Verdict::Pass(r) => write!(f, "pass {}", r.as_str()),
            Verdict::Drop(r) => write!(f, "drop {}", r.as_str()),
        }
    }
}
