//! One-pass, allocation-free summary of an Ethernet frame for the packet engine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::field::{arr, be16, u8_at};
use super::{Layer, WireError, ethertype, icmpv4, icmpv6, ipproto, ipv6};

/// What the engine needs to know about a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// The 802.1Q TCI if one tag is present (a second tag is not parsed: kind `Other`).
    pub vlan: Option<u16>,
    /// EtherType after the tag.
    pub ethertype: u16,
    /// Offset of the L3 header in the frame.
    pub l3: usize,
    /// What the frame carries.
    pub kind: FrameKind,
}

/// The kind of L3 payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// An Ethernet/IPv4 ARP packet (28 bytes present).
    Arp,
    /// An IPv4 or IPv6 packet.
    Ip(IpInfo),
    /// Anything else (other EtherTypes, a second VLAN tag).
    Other,
}

/// The IP layer of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL (hop limit for IPv6).
    pub ttl: u8,
    /// IPv4 DF bit; always true for IPv6.
    pub df: bool,
    /// IP packet length (IPv4 total length; IPv6 40 + payload length). Bytes past
    /// `l3 + total_len` are Ethernet padding.
    pub total_len: usize,
    /// Absolute offset of the upper-layer header.
    pub l4: usize,
    /// Upper-layer protocol (after walking IPv6 extension headers).
    pub proto: u8,
    /// Fragmentation.
    pub frag: Frag,
    /// Upper-layer summary (`Other` for non-first fragments).
    pub l4info: L4Info,
}

/// Fragmentation state of an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Frag {
    /// Not a fragment (or an atomic IPv6 fragment: offset 0, M clear).
    None,
    /// First fragment: MF set, offset 0.
    First,
    /// A later fragment: offset != 0 (no L4 header).
    Later,
}

/// Upper-layer summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Info {
    /// TCP.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32.
        flags: u8,
        /// Header length in bytes.
        hlen: usize,
    },
    /// UDP.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// SCTP.
    Sctp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// First chunk type; 255 if no chunk.
        chunk: u8,
    },
    /// ICMPv4 or ICMPv6 (by the IP version).
    Icmp {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Echo identifier, else 0.
        id: u16,
        /// An error that quotes the offending packet (validated by the parse; read it
        /// with [`icmp_inner`], which keeps this summary small on the per-packet path).
        error: bool,
    },
    /// IPIP / IP6IP6 / 6in4 (protocol 4 or 41): recognised only.
    Tunnel,
    /// Anything else.
    Other,
}

/// The embedded packet of an ICMP error (v4: types 3, 4, 5, 11, 12; v6: types 1..=4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inner {
    /// Absolute offset of the embedded IP header.
    pub l3: usize,
    /// Embedded source address.
    pub src: IpAddr,
    /// Embedded destination address.
    pub dst: IpAddr,
    /// Embedded protocol, after walking the IPv6 extension headers present in the quote.
    pub proto: u8,
    /// Absolute offset of the embedded L4 header.
    pub l4: usize,
    /// Embedded ports, when >= 4 bytes of a TCP/UDP/SCTP header are quoted.
    pub ports: Option<(u16, u16)>,
}

/// Summarise an Ethernet frame: link, IP and upper-layer headers, checking every length.
/// Never allocates and never panics.
#[inline]
pub fn parse_frame(frame: &[u8]) -> Result<FrameInfo, WireError> {
    let mut out = FrameInfo::EMPTY;
    parse_frame_into(frame, &mut out)?;
    Ok(out)
}

impl FrameInfo {
    /// A placeholder to parse into (see [`parse_frame_into`]).
    pub const EMPTY: FrameInfo = FrameInfo {
        vlan: None,
        ethertype: 0,
        l3: 0,
        kind: FrameKind::Ip(IpInfo::EMPTY),
    };
}

impl IpInfo {
    /// A placeholder to parse into.
    pub const EMPTY: IpInfo = IpInfo {
        src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ttl: 0,
        df: false,
        total_len: 0,
        l4: 0,
        proto: 0,
        frag: Frag::None,
        l4info: L4Info::Other,
    };
}

/// [`parse_frame`] writing into `out`, field by field: the per-packet path avoids moving
/// the summary around. On error `out` holds a partial result that must not be used.
#[inline(always)]
pub fn parse_frame_into(frame: &[u8], out: &mut FrameInfo) -> Result<(), WireError> {
    if frame.len() < 14 {
        return Err(WireError::Truncated(Layer::Ethernet));
    }
    let mut et = be16(frame, 12);
    let mut l3 = 14;
    let mut vlan = None;
    if et == ethertype::VLAN {
        if frame.len() < 18 {
            return Err(WireError::Truncated(Layer::Vlan));
        }
        vlan = Some(be16(frame, 14));
        et = be16(frame, 16);
        l3 = 18;
    }
    out.vlan = vlan;
    out.ethertype = et;
    out.l3 = l3;
    match et {
        ethertype::IPV4 | ethertype::IPV6 => {
            if !matches!(out.kind, FrameKind::Ip(_)) {
                out.kind = FrameKind::Ip(IpInfo::EMPTY);
            }
            if let FrameKind::Ip(ip) = &mut out.kind {
                if et == ethertype::IPV4 {
                    parse_ipv4(frame, l3, ip)?;
                } else {
                    parse_ipv6(frame, l3, ip)?;
                }
            }
        }
        ethertype::ARP => {
            parse_arp(frame.get(l3..).unwrap_or(&[]))?;
            out.kind = FrameKind::Arp;
        }
        _ => out.kind = FrameKind::Other,
    }
    Ok(())
}

#[inline]
fn parse_arp(b: &[u8]) -> Result<(), WireError> {
    if b.len() < super::arp::ETH_IPV4_LEN {
        return Err(WireError::Truncated(Layer::Arp));
    }
    if be16(b, 0) != super::arp::HTYPE_ETHERNET
        || be16(b, 2) != ethertype::IPV4
        || u8_at(b, 4) != 6
        || u8_at(b, 5) != 4
    {
        return Err(WireError::BadArp);
    }
    Ok(())
}

#[inline(always)]
fn parse_ipv4(frame: &[u8], l3: usize, ip: &mut IpInfo) -> Result<(), WireError> {
    let b = frame.get(l3..).unwrap_or(&[]);
    // The fixed header as an array: the field reads below need no bounds checks.
    let Some(h) = b.first_chunk::<20>() else {
        return Err(WireError::Truncated(Layer::Ipv4));
    };
    if h[0] >> 4 != 4 {
        return Err(WireError::BadVersion);
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(WireError::BadHeaderLen);
    }
    if b.len() < ihl {
        return Err(WireError::Truncated(Layer::Ipv4));
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total < ihl || total > b.len() {
        return Err(WireError::BadTotalLen);
    }
    let ff = u16::from_be_bytes([h[6], h[7]]);
    let frag = if ff & super::ipv4::FRAG_OFFSET_MASK != 0 {
        Frag::Later
    } else if ff & super::ipv4::FLAG_MF != 0 {
        Frag::First
    } else {
        Frag::None
    };
    let proto = h[9];
    let l4 = l3 + ihl;
    ip.l4info = if frag == Frag::Later {
        L4Info::Other
    } else {
        let payload = b.get(ihl..total).unwrap_or(&[]);
        parse_l4(proto, payload, l4, false, frag)?
    };
    ip.src = IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15]));
    ip.dst = IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19]));
    ip.ttl = h[8];
    ip.df = ff & super::ipv4::FLAG_DF != 0;
    ip.total_len = total;
    ip.l4 = l4;
    ip.proto = proto;
    ip.frag = frag;
    Ok(())
}

#[inline(always)]
fn parse_ipv6(frame: &[u8], l3: usize, ip: &mut IpInfo) -> Result<(), WireError> {
    let b = frame.get(l3..).unwrap_or(&[]);
    if b.len() < 40 {
        return Err(WireError::Truncated(Layer::Ipv6));
    }
    if u8_at(b, 0) >> 4 != 6 {
        return Err(WireError::BadVersion);
    }
    let total = 40 + usize::from(be16(b, 4));
    if total > b.len() {
        return Err(WireError::BadTotalLen);
    }
    let payload = b.get(40..total).unwrap_or(&[]);
    let next = u8_at(b, 6);
    let (proto, off, frag) = if ipv6::is_ext_header(next) {
        let w = ipv6::walk_ext_headers(next, payload)?;
        let frag = match w.frag {
            Some(f) if f.offset != 0 => Frag::Later,
            Some(f) if f.more => Frag::First,
            _ => Frag::None,
        };
        (w.proto, w.offset, frag)
    } else {
        (next, 0, Frag::None)
    };
    let l4 = l3 + 40 + off;
    ip.l4info = if frag == Frag::Later {
        L4Info::Other
    } else {
        parse_l4(proto, payload.get(off..).unwrap_or(&[]), l4, true, frag)?
    };
    ip.src = IpAddr::V6(Ipv6Addr::from(arr::<16>(b, 8)));
    ip.dst = IpAddr::V6(Ipv6Addr::from(arr::<16>(b, 24)));
    ip.ttl = u8_at(b, 7);
    ip.df = true;
    ip.total_len = total;
    ip.l4 = l4;
    ip.proto = proto;
    ip.frag = frag;
    Ok(())
}

/// `p` is the upper-layer bytes of the IP packet (to the end of the IP packet), `l4` its
/// absolute offset.
#[inline]
fn parse_l4(proto: u8, p: &[u8], l4: usize, v6: bool, frag: Frag) -> Result<L4Info, WireError> {
    match proto {
        ipproto::TCP => {
            let Some(t) = p.first_chunk::<20>() else {
                return Err(WireError::Truncated(Layer::Tcp));
            };
            let hlen = usize::from(t[12] >> 4) * 4;
            if hlen < 20 || hlen > p.len() {
                return Err(WireError::BadDataOffset);
            }
            Ok(L4Info::Tcp {
                sport: u16::from_be_bytes([t[0], t[1]]),
                dport: u16::from_be_bytes([t[2], t[3]]),
                flags: t[13] & 0x3f,
                hlen,
            })
        }
        ipproto::UDP => {
            let Some(u) = p.first_chunk::<8>() else {
                return Err(WireError::Truncated(Layer::Udp));
            };
            let ulen = usize::from(u16::from_be_bytes([u[4], u[5]]));
            // In a first fragment the UDP length covers the whole datagram.
            if ulen < 8 || (frag == Frag::None && ulen > p.len()) {
                return Err(WireError::BadUdpLen);
            }
            Ok(L4Info::Udp {
                sport: u16::from_be_bytes([u[0], u[1]]),
                dport: u16::from_be_bytes([u[2], u[3]]),
            })
        }
        ipproto::SCTP => {
            if p.len() < 12 {
                return Err(WireError::Truncated(Layer::Sctp));
            }
            Ok(L4Info::Sctp {
                sport: be16(p, 0),
                dport: be16(p, 2),
                chunk: p.get(12).copied().unwrap_or(255),
            })
        }
        ipproto::ICMP if !v6 => parse_icmp(p, l4, false),
        ipproto::ICMPV6 if v6 => parse_icmp(p, l4, true),
        ipproto::IPIP | ipproto::IPV6 => Ok(L4Info::Tunnel),
        _ => Ok(L4Info::Other),
    }
}

#[inline]
fn parse_icmp(p: &[u8], l4: usize, v6: bool) -> Result<L4Info, WireError> {
    if p.len() < 8 {
        return Err(WireError::Truncated(Layer::Icmp));
    }
    let ty = u8_at(p, 0);
    let code = u8_at(p, 1);
    let (echo, error) = if v6 {
        (icmpv6::is_echo(ty), icmpv6::is_error(ty))
    } else {
        (icmpv4::is_echo(ty), icmpv4::is_error(ty))
    };
    let id = if echo { be16(p, 4) } else { 0 };
    if error {
        parse_inner(p, l4, v6)?;
    }
    Ok(L4Info::Icmp {
        ty,
        code,
        id,
        error,
    })
}

/// The quoted packet of an ICMP error message `p` (from its ICMP header) at offset `l4`.
fn parse_inner(p: &[u8], l4: usize, v6: bool) -> Result<Inner, WireError> {
    let q = p.get(8..).unwrap_or(&[]);
    if v6 {
        parse_inner_v6(q, l4 + 8)
    } else {
        parse_inner_v4(q, l4 + 8)
    }
}

/// The embedded packet of an ICMP error in `frame`, whose summary is `info`; `None` when
/// the frame is not an ICMP error.
pub fn icmp_inner(frame: &[u8], info: &FrameInfo) -> Result<Option<Inner>, WireError> {
    let FrameKind::Ip(ip) = &info.kind else {
        return Ok(None);
    };
    let L4Info::Icmp { error: true, .. } = ip.l4info else {
        return Ok(None);
    };
    let end = info.l3.saturating_add(ip.total_len).min(frame.len());
    let p = frame.get(ip.l4..end).unwrap_or(&[]);
    parse_inner(p, ip.l4, ip.src.is_ipv6()).map(Some)
}

#[inline]
fn quoted_ports(proto: u8, q: &[u8]) -> Option<(u16, u16)> {
    match proto {
        ipproto::TCP | ipproto::UDP | ipproto::SCTP if q.len() >= 4 => {
            Some((be16(q, 0), be16(q, 2)))
        }
        _ => None,
    }
}

fn parse_inner_v4(q: &[u8], l3: usize) -> Result<Inner, WireError> {
    if q.len() < 20 {
        return Err(WireError::Truncated(Layer::Inner));
    }
    let b0 = u8_at(q, 0);
    if b0 >> 4 != 4 {
        return Err(WireError::BadVersion);
    }
    let ihl = usize::from(b0 & 0x0f) * 4;
    if ihl < 20 {
        return Err(WireError::BadHeaderLen);
    }
    if q.len() < ihl {
        return Err(WireError::Truncated(Layer::Inner));
    }
    let proto = u8_at(q, 9);
    // A quoted non-first fragment carries no L4 header.
    let later = be16(q, 6) & super::ipv4::FRAG_OFFSET_MASK != 0;
    let ports = if later {
        None
    } else {
        quoted_ports(proto, q.get(ihl..).unwrap_or(&[]))
    };
    Ok(Inner {
        l3,
        src: IpAddr::V4(Ipv4Addr::from(arr::<4>(q, 12))),
        dst: IpAddr::V4(Ipv4Addr::from(arr::<4>(q, 16))),
        proto,
        l4: l3 + ihl,
        ports,
    })
}

fn parse_inner_v6(q: &[u8], l3: usize) -> Result<Inner, WireError> {
    if q.len() < 40 {
        return Err(WireError::Truncated(Layer::Inner));
    }
    if u8_at(q, 0) >> 4 != 6 {
        return Err(WireError::BadVersion);
    }
    let rest = q.get(40..).unwrap_or(&[]);
    let w = ipv6::walk_ext_headers_lax(u8_at(q, 6), rest)?;
    let later = matches!(w.frag, Some(f) if f.offset != 0);
    let ports = if w.truncated || later {
        None
    } else {
        quoted_ports(w.proto, rest.get(w.offset..).unwrap_or(&[]))
    };
    Ok(Inner {
        l3,
        src: IpAddr::V6(Ipv6Addr::from(arr::<16>(q, 8))),
        dst: IpAddr::V6(Ipv6Addr::from(arr::<16>(q, 24))),
        proto: w.proto,
        l4: l3 + 40 + w.offset,
        ports,
    })
}
