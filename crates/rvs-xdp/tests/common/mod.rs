//! Shared helpers of the privileged tests: the root gate and frame builders.
#![allow(dead_code)]

use std::net::IpAddr;

use etherparse::PacketBuilder;

pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;

/// True when the test may run; prints the skip (or panics with RVS_REQUIRE_PRIV=1).
pub fn privileged(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("RVS_REQUIRE_PRIV").as_deref() == Ok("1") {
        panic!("needs root: {what} (RVS_REQUIRE_PRIV=1)");
    }
    eprintln!("SKIP (needs root): {what}");
    false
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn v4(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => panic!("not v4"),
    }
}

fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => panic!("not v6"),
    }
}

/// An IP packet (no Ethernet) of `proto` 6 (TCP), 17 (UDP) or 132 (SCTP, built as UDP
/// with the protocol patched: the classifier reads only the ports).
pub fn ip_packet(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let b = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => PacketBuilder::ipv4(v4(src), v4(dst), 64),
        _ => PacketBuilder::ipv6(v6(src), v6(dst), 64),
    };
    let mut out = Vec::new();
    if proto == 6 {
        b.tcp(sport, dport, 1, 1000)
            .write(&mut out, payload)
            .unwrap();
    } else {
        b.udp(sport, dport).write(&mut out, payload).unwrap();
    }
    if proto == 132 {
        if src.is_ipv4() {
            out[9] = 132;
        } else {
            out[6] = 132;
        }
    }
    out
}

/// Ethernet header (type by family of `pkt`) + pkt.
pub fn ether(pkt: &[u8]) -> Vec<u8> {
    let et: u16 = if pkt[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
    let mut f = Vec::new();
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(pkt);
    f
}

/// A TCP/UDP/SCTP frame.
pub fn frame(src: &str, sport: u16, dst: &str, dport: u16, proto: u8) -> Vec<u8> {
    ether(&ip_packet(ip(src), ip(dst), proto, sport, dport, b"hello"))
}

/// An ICMP (v4: destination unreachable / port unreachable, v6: destination unreachable /
/// port unreachable) error from `src` to `dst` quoting `quoted`.
pub fn icmp_error(src: &str, dst: &str, quoted: &[u8]) -> Vec<u8> {
    let (src, dst) = (ip(src), ip(dst));
    let mut out = Vec::new();
    if src.is_ipv4() {
        PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
            .ipv4(v4(src), v4(dst), 64)
            .icmpv4_raw(3, 3, [0; 4])
            .write(&mut out, quoted)
            .unwrap();
    } else {
        PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
            .ipv6(v6(src), v6(dst), 64)
            .icmpv6_raw(1, 4, [0; 4])
            .write(&mut out, quoted)
            .unwrap();
    }
    out
}

/// An ICMP echo request.
pub fn ping(src: &str, dst: &str) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ipv4(v4(ip(src)), v4(ip(dst)), 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut out, b"ping")
        .unwrap();
    out
}

/// An ARP request.
pub fn arp() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&[198, 18, 1, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[198, 18, 1, 100]);
    f
}

/// Insert an 802.1Q tag (VLAN 42) after the MACs.
pub fn vlan(frame: &[u8]) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00, 0x00, 42]);
    f.extend_from_slice(&frame[12..]);
    f
}

/// Insert an 8-byte hop-by-hop options header (PadN) into an IPv6 frame.
pub fn with_hop_by_hop(frame: &[u8]) -> Vec<u8> {
    let mut f = frame[..14 + 40].to_vec();
    let next = f[14 + 6];
    f[14 + 6] = 0;
    let plen = u16::from_be_bytes([f[14 + 4], f[14 + 5]]) + 8;
    f[14 + 4..14 + 6].copy_from_slice(&plen.to_be_bytes());
    f.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    f.extend_from_slice(&frame[14 + 40..]);
    f
}
