//! Frame builders and an independent checker (etherparse + a bitwise CRC32c) shared by the
//! golden-fixture and `rvs sim --pcap` tests.
#![allow(dead_code)]

use std::net::IpAddr;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use rvs_core::engine::lab::{CLIENT_MAC, EXT_MAC, INT_MAC, server_mac};

/// An address from a literal.
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Whether `a` is on the lab's server network (198.18.1.0/24, fd00:1::/64).
pub fn is_server(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.octets()[..3] == [198, 18, 1],
        IpAddr::V6(v) => v.segments()[..4] == [0xfd00, 1, 0, 0],
    }
}

/// (src MAC, dst MAC) of a frame sent by `src` to the director.
pub fn macs(src: &IpAddr) -> ([u8; 6], [u8; 6]) {
    if is_server(src) {
        (server_mac(src), INT_MAC)
    } else {
        (CLIENT_MAC, EXT_MAC)
    }
}

fn builder(src: &str, dst: &str, ttl: u8) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let (s, d) = (ip(src), ip(dst));
    let (sm, dm) = macs(&s);
    let b = PacketBuilder::ethernet2(sm, dm);
    match (s, d) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), ttl),
        _ => panic!("mixed families"),
    }
}

/// A TCP segment; flags from `S`, `A`, `F`, `R`, `P`. Servers use sequence 5000, clients
/// 1000; the acknowledgement is the other side's + 1.
pub fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: &str, payload: &[u8]) -> Vec<u8> {
    let server = is_server(&ip(src));
    let (seq, peer) = if server { (5000, 1000) } else { (1000, 5000) };
    let mut t = builder(src, dst, 64).tcp(sport, dport, seq, 64240);
    for c in flags.chars() {
        t = match c {
            'S' => t.syn(),
            'A' => t.ack(peer + 1),
            'F' => t.fin(),
            'R' => t.rst(),
            'P' => t.psh(),
            _ => panic!("flag {c}"),
        };
    }
    let mut out = Vec::new();
    t.write(&mut out, payload).unwrap();
    out
}

/// A UDP datagram.
pub fn udp(src: &str, sport: u16, dst: &str, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    builder(src, dst, 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// An ICMP echo request.
pub fn echo(src: &str, dst: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = builder(src, dst, 64);
    if ip(src).is_ipv4() {
        b.icmpv4_echo_request(7, 1)
            .write(&mut out, b"ping")
            .unwrap();
    } else {
        b.icmpv6_echo_request(7, 1)
            .write(&mut out, b"ping")
            .unwrap();
    }
    out
}

/// An ICMPv4 error from `src` to `dst` quoting `quote` (an IP packet, cut by the caller).
pub fn icmp4_error(src: &str, dst: &str, ty: etherparse::Icmpv4Type, quote: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    builder(src, dst, 64)
        .icmpv4(ty)
        .write(&mut out, quote)
        .unwrap();
    out
}

/// An ICMPv6 error from `src` to `dst` quoting `quote`.
pub fn icmp6_error(src: &str, dst: &str, ty: etherparse::Icmpv6Type, quote: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    builder(src, dst, 64)
        .icmpv6(ty)
        .write(&mut out, quote)
        .unwrap();
    out
}

/// The IP packet of an untagged Ethernet frame, cut to `n` bytes (all if `n` is 0).
pub fn quote(frame: &[u8], n: usize) -> Vec<u8> {
    let ip = &frame[14..];
    ip[..if n == 0 { ip.len() } else { n.min(ip.len()) }].to_vec()
}

/// Bitwise CRC32c (Castagnoli), independent of rvs's table-driven one.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An SCTP packet with one chunk (`chunk` = type, flags, then the body; the length is
/// filled in) and a correct CRC32c.
pub fn sctp(src: &str, sport: u16, dst: &str, dport: u16, vtag: u32, chunk: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&vtag.to_be_bytes());
    s.extend_from_slice(&[0; 4]);
    let len = (chunk.len() + 2) as u16;
    s.extend_from_slice(&chunk[..2]);
    s.extend_from_slice(&len.to_be_bytes());
    s.extend_from_slice(&chunk[2..]);
    while s.len() % 4 != 0 {
        s.push(0);
    }
    let crc = crc32c(&s);
    s[8..12].copy_from_slice(&crc.to_le_bytes());
    let (sa, da) = (ip(src), ip(dst));
    let (sm, dm) = macs(&sa);
    let mut out = Vec::new();
    out.extend_from_slice(&dm);
    out.extend_from_slice(&sm);
    match (sa, da) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            out.extend_from_slice(&[0x08, 0x00]);
            let h = etherparse::Ipv4Header::new(
                s.len() as u16,
                64,
                etherparse::IpNumber::SCTP,
                a.octets(),
                b.octets(),
            )
            .unwrap();
            h.write(&mut out).unwrap();
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            out.extend_from_slice(&[0x86, 0xdd]);
            let h = etherparse::Ipv6Header {
                traffic_class: 0,
                flow_label: Default::default(),
                payload_length: s.len() as u16,
                next_header: etherparse::IpNumber::SCTP,
                hop_limit: 64,
                source: a.octets(),
                destination: b.octets(),
            };
            h.write(&mut out).unwrap();
        }
        _ => panic!("mixed families"),
    }
    out.extend_from_slice(&s);
    out
}

/// SCTP chunk bodies (type, flags, body; the length is added by [`sctp`]).
pub mod chunk {
    /// INIT: initiate tag, a_rwnd, 1 stream each way, initial TSN.
    pub fn init(ty: u8, tag: u32) -> Vec<u8> {
        let mut c = vec![ty, 0];
        c.extend_from_slice(&tag.to_be_bytes());
        c.extend_from_slice(&65535u32.to_be_bytes());
        c.extend_from_slice(&[0, 1, 0, 1]);
        c.extend_from_slice(&1u32.to_be_bytes());
        c
    }
    /// DATA (type 0, flags B|E): TSN 1, stream 0, ssn 0, ppid 0.
    pub fn data(payload: &[u8]) -> Vec<u8> {
        let mut c = vec![0, 3];
        c.extend_from_slice(&1u32.to_be_bytes());
        c.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        c.extend_from_slice(payload);
        c
    }
    /// A chunk with no body (COOKIE-ACK 11, SHUTDOWN-COMPLETE 14, ...).
    pub fn bare(ty: u8) -> Vec<u8> {
        vec![ty, 0]
    }
    /// COOKIE-ECHO with a small cookie.
    pub fn cookie_echo() -> Vec<u8> {
        let mut c = vec![10, 0];
        c.extend_from_slice(b"cookie!!");
        c
    }
}

/// What the checker found in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Destination and source MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// The 802.1Q TCI.
    pub vlan: Option<u16>,
    /// Outer IP source, destination, TTL, protocol.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// TTL / hop limit.
    pub ttl: u8,
    /// IP protocol (IPv6: after extension headers).
    pub proto: u8,
    /// Ports (TCP, UDP, SCTP; 0 otherwise).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// ICMP type and code.
    pub icmp: Option<(u8, u8)>,
    /// Offset of the IP header in the frame.
    pub l3: usize,
    /// The encapsulated packet, when the frame is a tunnel.
    pub inner: Option<Box<Seen>>,
}

fn v4o(a: &IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(v) => v.octets(),
        _ => [0; 4],
    }
}
fn v6o(a: &IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(v) => v.octets(),
        _ => [0; 16],
    }
}

/// Parse a frame with etherparse and verify every checksum (IPv4 header, TCP, UDP with 0
/// allowed over IPv4, ICMPv4, ICMPv6, SCTP CRC32c, a quoted IPv4 header); recurse into
/// IP-in-IP. Returns an error message instead of panicking.
/// The UDP port of the golden GUE tunnels.
pub const GUE_PORT: u16 = 6080;

pub fn check(frame: &[u8]) -> Result<Seen, String> {
    let p = SlicedPacket::from_ethernet(frame).map_err(|e| format!("etherparse: {e}"))?;
    let (dst_mac, src_mac) = match &p.link {
        Some(etherparse::LinkSlice::Ethernet2(e)) => (e.destination(), e.source()),
        _ => return Err("no Ethernet II header".into()),
    };
    let vlan = match &p.vlan {
        Some(etherparse::VlanSlice::SingleVlan(v)) => {
            Some(v.vlan_identifier().value() | (u16::from(v.priority_code_point().value()) << 13))
        }
        Some(_) => return Err("double VLAN".into()),
        None => None,
    };
    let l3 = if vlan.is_some() { 18 } else { 14 };
    let (src, dst, ttl, proto, payload) = match p.net.as_ref().ok_or("no IP layer")? {
        NetSlice::Ipv4(ip) => {
            let h = ip.header();
            if h.to_header().calc_header_checksum() != h.header_checksum() {
                return Err("bad IPv4 header checksum".into());
            }
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.ttl(),
                h.protocol().0,
                ip.payload().payload,
            )
        }
        NetSlice::Ipv6(ip) => {
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                h.hop_limit(),
                ip.payload().ip_number.0,
                ip.payload().payload,
            )
        }
    };
    let v6 = src.is_ipv6();
    let (s4, d4, s6, d6) = (v4o(&src), v4o(&dst), v6o(&src), v6o(&dst));
    let mut seen = Seen {
        dst_mac,
        src_mac,
        vlan,
        src,
        dst,
        ttl,
        proto,
        sport: 0,
        dport: 0,
        icmp: None,
        l3,
        inner: None,
    };
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let c = if v6 {
                t.calc_checksum_ipv6(s6, d6)
            } else {
                t.calc_checksum_ipv4(s4, d4)
            }
            .map_err(|e| e.to_string())?;
            if c != t.checksum() {
                return Err(format!(
                    "bad TCP checksum {:#06x}, want {c:#06x}",
                    t.checksum()
                ));
            }
            (seen.sport, seen.dport) = (t.source_port(), t.destination_port());
        }
        Some(TransportSlice::Udp(u)) => {
            let h = u.to_header();
            // Zero is invalid over IPv6, except for tunnels (RFC 6935): the golden GUE
            // cases send to port 6080 without a checksum, as IPVS does with --tun-nocsum.
            if h.checksum == 0 && v6 && u.destination_port() != GUE_PORT {
                return Err("UDP checksum 0 over IPv6".into());
            }
            if h.checksum != 0 {
                let c = if v6 {
                    h.calc_checksum_ipv6_raw(s6, d6, u.payload())
                } else {
                    h.calc_checksum_ipv4_raw(s4, d4, u.payload())
                }
                .map_err(|e| e.to_string())?;
                if c != h.checksum {
                    return Err(format!(
                        "bad UDP checksum {:#06x}, want {c:#06x}",
                        h.checksum
                    ));
                }
            }
            (seen.sport, seen.dport) = (u.source_port(), u.destination_port());
        }
        Some(TransportSlice::Icmpv4(i)) => {
            if i.header().icmp_type.calc_checksum(i.payload()) != i.checksum() {
                return Err("bad ICMP checksum".into());
            }
            seen.icmp = Some((i.type_u8(), i.code_u8()));
            let q = i.payload();
            if matches!(i.type_u8(), 3 | 4 | 5 | 11 | 12) && q.len() >= 20 {
                let qh = etherparse::Ipv4HeaderSlice::from_slice(q)
                    .map_err(|e| format!("quoted IPv4 header: {e}"))?;
                if qh.to_header().calc_header_checksum() != qh.header_checksum() {
                    return Err("bad quoted IPv4 header checksum".into());
                }
            }
        }
        Some(TransportSlice::Icmpv6(i)) => {
            if !i.is_checksum_valid(s6, d6) {
                return Err("bad ICMPv6 checksum".into());
            }
            seen.icmp = Some((i.type_u8(), i.code_u8()));
        }
        None => match proto {
            132 => {
                if payload.len() < 12 {
                    return Err("short SCTP".into());
                }
                let mut z = payload.to_vec();
                z[8..12].fill(0);
                let want = crc32c(&z);
                let got = u32::from_le_bytes([payload[8], payload[9], payload[10], payload[11]]);
                if got != want {
                    return Err(format!("bad SCTP CRC32c {got:#010x}, want {want:#010x}"));
                }
                seen.sport = u16::from_be_bytes([payload[0], payload[1]]);
                seen.dport = u16::from_be_bytes([payload[2], payload[3]]);
            }
            47 => {
                // GRE (RFC 2784): C bit, version 0, protocol; a checksum when C is set.
                if payload.len() < 4 {
                    return Err("short GRE".into());
                }
                let flags = u16::from_be_bytes([payload[0], payload[1]]);
                if flags & 0x7fff != 0 {
                    return Err(format!("unexpected GRE flags {flags:#06x}"));
                }
                let hlen = if flags & 0x8000 != 0 { 8 } else { 4 };
                if payload.len() < hlen {
                    return Err("short GRE".into());
                }
                if hlen == 8 {
                    let mut sum: u32 = 0;
                    for c in payload.chunks(2) {
                        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
                    }
                    while sum > 0xffff {
                        sum = (sum & 0xffff) + (sum >> 16);
                    }
                    if sum != 0xffff {
                        return Err("bad GRE checksum".into());
                    }
                }
                let mut fake = vec![0u8; 12];
                fake.extend_from_slice(&payload[2..4]);
                fake.extend_from_slice(&payload[hlen..]);
                let inner = check(&fake).map_err(|e| format!("GRE inner packet: {e}"))?;
                seen.inner = Some(Box::new(inner));
            }
            4 | 41 => {
                let mut fake = vec![0u8; 12];
                fake.extend_from_slice(if proto == 4 { &[8, 0] } else { &[0x86, 0xdd] });
                fake.extend_from_slice(payload);
                let inner = check(&fake).map_err(|e| format!("inner packet: {e}"))?;
                seen.inner = Some(Box::new(inner));
            }
            other => return Err(format!("unexpected IP protocol {other}")),
        },
    }
    Ok(seen)
}
