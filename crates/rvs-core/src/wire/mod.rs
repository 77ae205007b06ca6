//! Packet views for the data plane: checked, allocation-free readers and writers of the
//! headers rvs handles (smoltcp style).
//!
//! Every protocol module offers a `Packet<T: AsRef<[u8]>>` view over a buffer (with
//! `new_unchecked`, `new_checked`, `check_len`, field getters, setters when the buffer is
//! mutable, and `payload()`) and a `Repr`, the parsed high-level form with `parse`,
//! `buffer_len` and `emit`. [`parse_frame`] summarises a whole Ethernet frame in one pass
//! for the packet engine; [`build`] writes the ICMP errors the engine answers with.
//!
//! Nothing here panics on any input: every byte access is checked. Getters of a view made
//! with `new_unchecked` over a too-short buffer read missing bytes as zero and setters
//! ignore them; `new_checked` guarantees the fields exist.

/// The constructors every smoltcp-style view shares: `new_unchecked`, `new_checked`
/// (which runs the view's own `check_len`) and `into_inner`.
macro_rules! view_constructors {
    () => {
        /// Wrap a buffer without checking it.
        #[inline]
        pub const fn new_unchecked(buffer: T) -> Self {
            Packet { buffer }
        }

        /// Wrap a buffer after [`check_len`](Self::check_len).
        #[inline]
        pub fn new_checked(buffer: T) -> Result<Self, WireError> {
            let p = Packet { buffer };
            p.check_len()?;
            Ok(p)
        }

        /// The underlying buffer.
        #[inline]
        pub fn into_inner(self) -> T {
            self.buffer
        }
    };
}
use view_constructors;

pub mod arp;
pub mod build;
pub mod checksum;
pub mod crc32c;
pub mod ethernet;
mod field;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod parse;
pub mod robust;
pub mod sctp;
pub mod tcp;
pub mod udp;

pub use build::{icmpv4_unreachable, icmpv6_error};
pub use parse::{
    Frag, FrameInfo, FrameKind, Inner, IpInfo, L4Info, icmp_inner, parse_frame, parse_frame_into,
};

/// The protocol layer a [`WireError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The Ethernet II header.
    Ethernet,
    /// An 802.1Q VLAN tag.
    Vlan,
    /// An ARP packet.
    Arp,
    /// An IPv4 header.
    Ipv4,
    /// An IPv6 header.
    Ipv6,
    /// An IPv6 extension header.
    ExtHeader,
    /// A TCP header.
    Tcp,
    /// A UDP header.
    Udp,
    /// An SCTP common header.
    Sctp,
    /// An ICMPv4 or ICMPv6 header.
    Icmp,
    /// The IP packet embedded in an ICMP error.
    Inner,
}

/// Why a buffer is not a well-formed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than a header says it must be.
    #[error("truncated {0}")]
    Truncated(Layer),
    /// The IP version nibble does not match.
    #[error("bad IP version")]
    BadVersion,
    /// IPv4 IHL below 5.
    #[error("bad IPv4 header length")]
    BadHeaderLen,
    /// IP total length below the header length or beyond the buffer.
    #[error("bad IP total length")]
    BadTotalLen,
    /// TCP data offset below 5 or beyond the segment.
    #[error("bad TCP data offset")]
    BadDataOffset,
    /// UDP length field below 8 or beyond the IP payload.
    #[error("bad UDP length")]
    BadUdpLen,
    /// More than 8 IPv6 extension headers.
    #[error("too many IPv6 extension headers")]
    TooManyExtHeaders,
    /// An ARP packet that is not Ethernet/IPv4 or is malformed.
    #[error("bad ARP header")]
    BadArp,
}

impl Layer {
    /// A stable lower-case name (`"tcp"`, `"ext-header"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Layer::Ethernet => "ethernet",
            Layer::Vlan => "vlan",
            Layer::Arp => "arp",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::ExtHeader => "ext-header",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Sctp => "sctp",
            Layer::Icmp => "icmp",
            Layer::Inner => "inner",
        }
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl WireError {
    /// A stable short name, for counters and logs (e.g. `"truncated-tcp"`, `"bad-total-len"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            WireError::Truncated(layer) => match layer {
                Layer::Ethernet => "truncated-ethernet",
                Layer::Vlan => "truncated-vlan",
                Layer::Arp => "truncated-arp",
                Layer::Ipv4 => "truncated-ipv4",
                Layer::Ipv6 => "truncated-ipv6",
                Layer::ExtHeader => "truncated-ext-header",
                Layer::Tcp => "truncated-tcp",
                Layer::Udp => "truncated-udp",
                Layer::Sctp => "truncated-sctp",
                Layer::Icmp => "truncated-icmp",
                Layer::Inner => "truncated-inner",
            },
            WireError::BadVersion => "bad-version",
            WireError::BadHeaderLen => "bad-header-len",
            WireError::BadTotalLen => "bad-total-len",
            WireError::BadDataOffset => "bad-data-offset",
            WireError::BadUdpLen => "bad-udp-len",
            WireError::TooManyExtHeaders => "too-many-ext-headers",
            WireError::BadArp => "bad-arp",
        }
    }
}

/// EtherType values.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// IPv6.
    pub const IPV6: u16 = 0x86DD;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// An IEEE 802.1Q VLAN tag follows.
    pub const VLAN: u16 = 0x8100;
    /// An IEEE 802.1ad (QinQ) service tag follows (recognised, not parsed).
    pub const QINQ: u16 = 0x88A8;
}

/// IP protocol numbers (IPv4 protocol field, IPv6 next header).
pub mod ipproto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPTS: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4 in IP (IPIP).
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 in IP (IP6IP6 / 6in4).
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Generic routing encapsulation (GRE).
    pub const GRE: u8 = 47;
    /// Encapsulating security payload.
    pub const ESP: u8 = 50;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NONE: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

#[cfg(test)]
mod tests;
