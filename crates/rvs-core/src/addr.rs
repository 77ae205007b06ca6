//! Address families, protocols and the address helpers schedulers hash with.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Address family of a service, dest or connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Af {
    /// IPv4 (`AF_INET` = 2).
    Inet,
    /// IPv6 (`AF_INET6` = 10).
    Inet6,
}

impl Af {
    /// The Linux `AF_*` number (sort order of ipvsadm listings).
    pub const fn number(self) -> u16 {
        match self {
            Af::Inet => 2,
            Af::Inet6 => 10,
        }
    }

    /// The family of an address.
    pub const fn of(addr: &IpAddr) -> Af {
        match addr {
            IpAddr::V4(_) => Af::Inet,
            IpAddr::V6(_) => Af::Inet6,
        }
    }

    /// The unspecified address of this family.
    pub const fn unspecified(self) -> IpAddr {
        match self {
            Af::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Af::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

/// Transport protocol of a virtual service or connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// IP protocol 6.
    Tcp,
    /// IP protocol 17.
    Udp,
    /// IP protocol 132.
    Sctp,
}

impl Protocol {
    /// IANA protocol number.
    pub const fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// From an IANA protocol number.
    pub const fn from_number(n: u8) -> Option<Protocol> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Name as ipvsadm prints it (`TCP`, `UDP`, `SCTP`).
    pub const fn ipvs_name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// Lower-case name (`tcp`, `udp`, `sctp`).
    pub const fn lower_name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.lower_name())
    }
}

/// The address as the kernel folds it into one 32-bit word for hashing: the IPv4
/// address in host order, or the XOR of the four host-order words of an IPv6 address.
pub fn fold(addr: &IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(*a),
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            w(0) ^ w(4) ^ w(8) ^ w(12)
        }
    }
}

/// The kernel's `hash_32(val, bits)`: multiplicative hash with `GOLDEN_RATIO_32`.
pub const fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// `addr` masked with a persistence netmask: an IPv4 mask (any bit pattern) or an
/// IPv6 prefix length.
pub fn mask_addr(addr: &IpAddr, netmask: Netmask) -> IpAddr {
    match (addr, netmask) {
        (IpAddr::V4(a), Netmask::V4(m)) => IpAddr::V4(Ipv4Addr::from(u32::from(*a) & m)),
        (IpAddr::V6(a), Netmask::V6(plen)) => {
            let plen = u32::from(plen.min(128));
            let mask = if plen == 0 {
                0
            } else {
                u128::MAX << (128 - plen)
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(*a) & mask))
        }
        // A family mismatch cannot be configured; leave the address alone.
        (a, _) => *a,
    }
}

/// A persistence granularity (`-M`): IPv4 dotted mask or IPv6 prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Netmask {
    /// An IPv4 netmask in host order; need not be contiguous.
    V4(u32),
    /// An IPv6 prefix length, 1..=128.
    V6(u8),
}

impl Netmask {
    /// The default for an address family: /32 or /128.
    pub const fn full(af: Af) -> Netmask {
        match af {
            Af::Inet => Netmask::V4(u32::MAX),
            Af::Inet6 => Netmask::V6(128),
        }
    }

    /// Whether this is the family's default (no masking).
    pub const fn is_full(self) -> bool {
        matches!(self, Netmask::V4(u32::MAX) | Netmask::V6(128))
    }
}

impl fmt::Display for Netmask {
    /// As ipvsadm prints it: dotted quad for IPv4, prefix length for IPv6.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::V4(m) => write!(f, "{}", Ipv4Addr::from(*m)),
            Netmask::V6(p) => write!(f, "{p}"),
        }
    }
}

/// An address and port as ipvsadm prints them: `a.b.c.d:port` or `[v6]:port`.
pub fn fmt_addr_port(addr: &IpAddr, port: u16) -> String {
    SocketAddr::new(*addr, port).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash32_matches_kernel_constant() {
        assert_eq!(hash_32(1, 8), 0x61C8_8647 >> 24);
        assert_eq!(hash_32(0, 8), 0);
    }

    #[test]
    fn fold_v6_xors_words() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(fold(&a), 0x2001_0db8 ^ 1);
        let b: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(fold(&b), 0x0a00_0001);
    }

    #[test]
    fn masks() {
        let a: IpAddr = "198.18.7.9".parse().unwrap();
        assert_eq!(
            mask_addr(&a, Netmask::V4(0xffff_ff00)),
            "198.18.7.0".parse::<IpAddr>().unwrap()
        );
        let b: IpAddr = "fd00::1:2".parse().unwrap();
        assert_eq!(
            mask_addr(&b, Netmask::V6(64)),
            "fd00::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(Netmask::V4(0xffff_ff00).to_string(), "255.255.255.0");
    }
}
