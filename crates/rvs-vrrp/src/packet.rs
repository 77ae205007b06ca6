//! VRRP advertisements: version 2 (RFC 3768) and version 3 (RFC 5798), IPv4 and IPv6.
//!
//! The checksum of a v2 advert covers the VRRP message only; the checksum of a v3 advert
//! also covers the IP pseudo-header (source, destination, protocol 112, length), over IPv4
//! as well as IPv6 — keepalived 2.2.7 does the same (checked against a captured advert in
//! the tests below).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of VRRP.
pub const PROTO: u8 = 112;
/// The TTL / hop limit every VRRP advert is sent with and must arrive with.
pub const TTL: u8 = 255;
/// Advertisement, the only VRRP message type.
const TYPE_ADVERT: u8 = 1;
/// Length of the fixed header.
const HEADER_LEN: usize = 8;
/// Length of the v2 authentication data.
const AUTH_LEN: usize = 8;

/// Why bytes are not a VRRP advertisement.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer bytes than the header and its addresses need.
    #[error("truncated: {len} bytes, {need} needed")]
    Truncated {
        /// Bytes there.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Version other than 2 or 3.
    #[error("unsupported VRRP version {0}")]
    Version(u8),
    /// Type other than ADVERTISEMENT.
    #[error("unknown VRRP message type {0}")]
    Type(u8),
    /// The checksum does not match.
    #[error("bad checksum {got:#06x}, expected {want:#06x}")]
    Checksum {
        /// In the packet.
        got: u16,
        /// Computed.
        want: u16,
    },
    /// VRRPv2 only exists over IPv4.
    #[error("VRRPv2 over IPv6")]
    V2OverIpv6,
    /// An address of the advert is not of the family of the IP header.
    #[error("address family of the advert does not match the IP header")]
    Family,
    /// More than 255 addresses.
    #[error("{0} addresses do not fit in an advert")]
    TooManyAddrs(usize),
    /// The interval does not fit the version's field.
    #[error("advertisement interval {0} cs does not fit")]
    Interval(u16),
    /// An IPv4 header that is not one.
    #[error("bad IPv4 header")]
    Ipv4Header,
}

/// v2 authentication (RFC 2338 types, kept by keepalived).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Type 0.
    None,
    /// Type 1: simple text password, 8 bytes (zero padded).
    Pass([u8; 8]),
    /// Any other type with its 8 data bytes (type 2 is IPsec AH, not carried over proto 112).
    Other(u8, [u8; 8]),
}

impl Auth {
    /// A PASS authentication from keepalived's `auth_pass` (first 8 bytes, zero padded).
    pub fn pass(text: &str) -> Auth {
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(text.bytes()) {
            *d = s;
        }
        Auth::Pass(b)
    }

    fn kind(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Pass(_) => 1,
            Auth::Other(k, _) => *k,
        }
    }

    fn data(&self) -> [u8; 8] {
        match self {
            Auth::None => [0; 8],
            Auth::Pass(d) | Auth::Other(_, d) => *d,
        }
    }
}

/// A decoded advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    /// 2 or 3.
    pub version: u8,
    /// Virtual router id.
    pub vrid: u8,
    /// Sender's priority (0 = resigning, 255 = owner).
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2 carries whole seconds: a multiple of 100).
    pub interval_cs: u16,
    /// v2 authentication ([`Auth::None`] for v3).
    pub auth: Auth,
    /// The virtual addresses, all of the family of the IP header.
    pub addrs: Vec<IpAddr>,
}

/// The internet checksum (RFC 1071) of the concatenation of `parts`.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The pseudo-header of a v3 checksum.
fn pseudo(src: IpAddr, dst: IpAddr, len: usize) -> Result<Vec<u8>, PacketError> {
    let mut p = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, PROTO]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, PROTO]);
        }
        _ => return Err(PacketError::Family),
    }
    Ok(p)
}

impl Advert {
    /// Decode the VRRP message `bytes` that came from `src` to `dst` (the IP header's
    /// addresses: the v3 checksum covers them and they fix the address family).
    pub fn decode(bytes: &[u8], src: IpAddr, dst: IpAddr) -> Result<Advert, PacketError> {
        if bytes.len() < HEADER_LEN {
            return Err(PacketError::Truncated {
                len: bytes.len(),
                need: HEADER_LEN,
            });
        }
        let version = bytes[0] >> 4;
        let kind = bytes[0] & 0x0f;
        if version != 2 && version != 3 {
            return Err(PacketError::Version(version));
        }
        if kind != TYPE_ADVERT {
            return Err(PacketError::Type(kind));
        }
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(PacketError::Family);
        }
        if version == 2 && src.is_ipv6() {
            return Err(PacketError::V2OverIpv6);
        }
        let count = usize::from(bytes[3]);
        let alen = if src.is_ipv4() { 4 } else { 16 };
        let base = HEADER_LEN + count * alen;
        // v2 carries 8 bytes of authentication data; without authentication a sender may
        // leave them out.
        let need = if version == 2 && bytes[4] != 0 {
            base + AUTH_LEN
        } else {
            base
        };
        if bytes.len() < need {
            return Err(PacketError::Truncated {
                len: bytes.len(),
                need,
            });
        }
        let got = u16::from_be_bytes([bytes[6], bytes[7]]);
        let end = if version == 2 && bytes.len() >= base + AUTH_LEN {
            base + AUTH_LEN
        } else {
            need
        };
        let msg = &bytes[..end];
        let mut zeroed = msg.to_vec();
        zeroed[6] = 0;
        zeroed[7] = 0;
        let want = if version == 3 {
            checksum(&[&pseudo(src, dst, zeroed.len())?, &zeroed])
        } else {
            checksum(&[&zeroed])
        };
        if got != want {
            return Err(PacketError::Checksum { got, want });
        }
        let addrs = bytes[HEADER_LEN..HEADER_LEN + count * alen]
            .chunks_exact(alen)
            .map(|c| match <[u8; 4]>::try_from(c) {
                Ok(a) => IpAddr::V4(Ipv4Addr::from(a)),
                Err(_) => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(a))
                }
            })
            .collect();
        let (interval_cs, auth) = if version == 2 {
            let mut data = [0u8; 8];
            let off = HEADER_LEN + count * alen;
            if let Some(d) = bytes.get(off..off + AUTH_LEN) {
                data.copy_from_slice(d);
            }
            let auth = match bytes[4] {
                0 => Auth::None,
                1 => Auth::Pass(data),
                k => Auth::Other(k, data),
            };
            (u16::from(bytes[5]) * 100, auth)
        } else {
            (
                u16::from_be_bytes([bytes[4], bytes[5]]) & 0x0fff,
                Auth::None,
            )
        };
        Ok(Advert {
            version,
            vrid: bytes[1],
            priority: bytes[2],
            interval_cs,
            auth,
            addrs,
        })
    }

    /// Encode for sending from `src` to `dst` (the checksum of v3 depends on them). v2
    /// always carries its 8 bytes of authentication data, as keepalived sends them.
    pub fn encode(&self, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>, PacketError> {
        if self.version != 2 && self.version != 3 {
            return Err(PacketError::Version(self.version));
        }
        if src.is_ipv4() != dst.is_ipv4() || self.addrs.iter().any(|a| a.is_ipv4() != src.is_ipv4())
        {
            return Err(PacketError::Family);
        }
        if self.version == 2 && src.is_ipv6() {
            return Err(PacketError::V2OverIpv6);
        }
        let count = u8::try_from(self.addrs.len())
            .map_err(|_| PacketError::TooManyAddrs(self.addrs.len()))?;
        let mut b = vec![
            (self.version << 4) | TYPE_ADVERT,
            self.vrid,
            self.priority,
            count,
        ];
        if self.version == 2 {
            let secs = self.interval_cs / 100;
            if !self.interval_cs.is_multiple_of(100) || secs == 0 || secs > 255 {
                return Err(PacketError::Interval(self.interval_cs));
            }
            b.extend_from_slice(&[self.auth.kind(), secs as u8]);
        } else {
            if self.interval_cs == 0 || self.interval_cs > 0x0fff {
                return Err(PacketError::Interval(self.interval_cs));
            }
            b.extend_from_slice(&self.interval_cs.to_be_bytes());
        }
        b.extend_from_slice(&[0, 0]);
        for a in &self.addrs {
            match a {
                IpAddr::V4(a) => b.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => b.extend_from_slice(&a.octets()),
            }
        }
        if self.version == 2 {
            b.extend_from_slice(&self.auth.data());
        }
        let sum = if self.version == 3 {
            checksum(&[&pseudo(src, dst, b.len())?, &b])
        } else {
            checksum(&[&b])
        };
        b[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(b)
    }
}

/// What a raw IPv4 socket hands over: the IP header's addresses and TTL, and the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Datagram<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Protocol.
    pub proto: u8,
    /// The bytes after the header (up to the total length).
    pub payload: &'a [u8],
}

/// Split an IPv4 datagram (as a raw socket returns it) into header fields and payload.
pub fn parse_ipv4(bytes: &[u8]) -> Result<Ipv4Datagram<'_>, PacketError> {
    if bytes.len() < 20 || bytes[0] >> 4 != 4 {
        return Err(PacketError::Ipv4Header);
    }
    let ihl = usize::from(bytes[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if ihl < 20 || total < ihl || bytes.len() < ihl {
        return Err(PacketError::Ipv4Header);
    }
    // The kernel may report the total length in host order on some paths; trust the buffer.
    let end = if total <= bytes.len() {
        total
    } else {
        bytes.len()
    };
    let mut s = [0u8; 4];
    let mut d = [0u8; 4];
    s.copy_from_slice(&bytes[12..16]);
    d.copy_from_slice(&bytes[16..20]);
    Ok(Ipv4Datagram {
        src: Ipv4Addr::from(s),
        dst: Ipv4Addr::from(d),
        ttl: bytes[8],
        proto: bytes[9],
        payload: &bytes[ihl..end],
    })
}

/// Exercise the decoder on arbitrary bytes (the fuzz target): decoding never panics, and
/// whatever decodes re-encodes to bytes that decode to the same advert.
pub fn exercise(data: &[u8]) {
    let v4 = (
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
    );
    let v6 = (
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    );
    let _ = parse_ipv4(data);
    for (src, dst) in [v4, v6] {
        if let Ok(a) = Advert::decode(data, src, dst)
            && let Ok(bytes) = a.encode(src, dst)
        {
            assert_eq!(Advert::decode(&bytes, src, dst).as_ref(), Ok(&a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // Frames captured with tcpdump from keepalived 2.2.7 in a namespace (see docs/vrrp.md).
    const K_V2_PASS: &str = "01005e000012266d16d4019e080045c0002800010000ff70147fc6120001e000001221339601010113d5c61200647365637265743132";
    const K_V3_V4: &str = "01005e000012266d16d4019e080045c0002000010000ff701487c6120001e0000012313478010064e94ac6120066";
    const K_V3_V6: &str = "333300000012266d16d4019e86dd6c002bec001870fffe80000000000000246d16fffed4019eff02000000000000000000000000001231356e0100642867fd000000000000000000000000000100";

    #[test]
    fn keepalived_v2_pass_golden() {
        let frame = hex(K_V2_PASS);
        let ipd = parse_ipv4(&frame[14..]).unwrap();
        assert_eq!(ipd.ttl, 255);
        assert_eq!(ipd.proto, PROTO);
        let (src, dst) = (IpAddr::V4(ipd.src), IpAddr::V4(ipd.dst));
        let a = Advert::decode(ipd.payload, src, dst).unwrap();
        assert_eq!(
            a,
            Advert {
                version: 2,
                vrid: 51,
                priority: 150,
                interval_cs: 100,
                auth: Auth::pass("secret12"),
                addrs: vec![ip("198.18.0.100")],
            }
        );
        assert_eq!(a.encode(src, dst).unwrap(), ipd.payload);
    }

    #[test]
    fn keepalived_v3_ipv4_golden_uses_pseudo_header() {
        let frame = hex(K_V3_V4);
        let ipd = parse_ipv4(&frame[14..]).unwrap();
        let (src, dst) = (IpAddr::V4(ipd.src), IpAddr::V4(ipd.dst));
        let a = Advert::decode(ipd.payload, src, dst).unwrap();
        assert_eq!(
            (a.version, a.vrid, a.priority, a.interval_cs),
            (3, 52, 120, 100)
        );
        assert_eq!(a.addrs, vec![ip("198.18.0.102")]);
        assert_eq!(a.encode(src, dst).unwrap(), ipd.payload);
        // Without the pseudo-header the checksum would differ: a v2-style sum is rejected.
        let mut bytes = ipd.payload.to_vec();
        bytes[6..8].copy_from_slice(&[0, 0]);
        let v2style = checksum(&[&bytes]);
        bytes[6..8].copy_from_slice(&v2style.to_be_bytes());
        assert!(matches!(
            Advert::decode(&bytes, src, dst),
            Err(PacketError::Checksum { .. })
        ));
    }

    #[test]
    fn keepalived_v3_ipv6_golden() {
        let frame = hex(K_V3_V6);
        let ip6 = &frame[14..];
        assert_eq!(ip6[7], 255, "hop limit");
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&ip6[8..24]);
        d.copy_from_slice(&ip6[24..40]);
        let (src, dst) = (IpAddr::V6(s.into()), IpAddr::V6(d.into()));
        let payload = &ip6[40..];
        let a = Advert::decode(payload, src, dst).unwrap();
        assert_eq!(
            (a.version, a.vrid, a.priority, a.interval_cs),
            (3, 53, 110, 100)
        );
        assert_eq!(a.addrs, vec![ip("fd00::100")]);
        assert_eq!(a.encode(src, dst).unwrap(), payload);
        // A different source (the pseudo-header) breaks the checksum.
        assert!(Advert::decode(payload, ip("fe80::1"), dst).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        let src = ip("198.18.0.1");
        let dst = ip("224.0.0.18");
        assert!(matches!(
            Advert::decode(&[0x21, 1, 100], src, dst),
            Err(PacketError::Truncated { .. })
        ));
        assert_eq!(
            Advert::decode(&[0x41, 1, 100, 0, 0, 1, 0, 0], src, dst),
            Err(PacketError::Version(4))
        );
        assert_eq!(
            Advert::decode(&[0x22, 1, 100, 0, 0, 1, 0, 0], src, dst),
            Err(PacketError::Type(2))
        );
        // Count says 2 addresses, only one there.
        let a = Advert {
            version: 3,
            vrid: 1,
            priority: 100,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![ip("198.18.0.100")],
        };
        let mut b = a.encode(src, dst).unwrap();
        b[3] = 2;
        assert!(matches!(
            Advert::decode(&b, src, dst),
            Err(PacketError::Truncated { .. })
        ));
        // v2 over IPv6, mixed families, intervals that do not fit.
        let v6 = ip("fe80::1");
        let g6 = ip("ff02::12");
        assert_eq!(
            Advert::decode(&[0x21, 1, 100, 0, 0, 1, 0, 0], v6, g6),
            Err(PacketError::V2OverIpv6)
        );
        assert_eq!(a.encode(v6, g6), Err(PacketError::Family));
        let half = Advert {
            version: 2,
            interval_cs: 50,
            ..a.clone()
        };
        assert_eq!(half.encode(src, dst), Err(PacketError::Interval(50)));
    }

    #[test]
    fn v2_checksum_covers_auth() {
        let src = ip("198.18.0.1");
        let dst = ip("224.0.0.18");
        let a = Advert {
            version: 2,
            vrid: 7,
            priority: 100,
            interval_cs: 100,
            auth: Auth::pass("pw"),
            addrs: vec![ip("198.18.0.100")],
        };
        let mut b = a.encode(src, dst).unwrap();
        let last = b.len() - 1;
        b[last] ^= 1;
        assert!(matches!(
            Advert::decode(&b, src, dst),
            Err(PacketError::Checksum { .. })
        ));
    }
}
