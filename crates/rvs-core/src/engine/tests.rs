//! Engine behaviour on real frames: every method, both families, checksums checked by an
//! independent parser (etherparse).

use std::net::IpAddr;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use super::*;
use crate::Protocol;
use crate::command::{Command, DestConfig, ServiceConfig};

use super::lab::{CLIENT_MAC, EXT_MAC, INT_MAC, LabNeighbours};

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rs_mac(addr: &IpAddr) -> Mac {
    lab::server_mac(addr)
}

/// The standard lab topology ([`super::lab`]).
pub(crate) struct Lab {
    pub e: Engine,
    pub n: Box<dyn Neighbours>,
    pub now: Time,
    pub ext: IfaceId,
}

impl Lab {
    pub fn new() -> Lab {
        Lab {
            e: lab::engine(),
            n: Box::new(LabNeighbours),
            now: Time(1000),
            ext: lab::EXT,
        }
    }

    pub fn service(&mut self, proto: Protocol, vip: &str, port: u16, sched: &str) {
        let mut cfg = ServiceConfig::new(ServiceKey::Addr {
            proto,
            addr: a(vip),
            port,
        });
        cfg.scheduler = sched.into();
        self.e
            .director
            .apply(&Command::AddService(cfg), self.now)
            .unwrap();
    }

    pub fn dest(
        &mut self,
        proto: Protocol,
        vip: &str,
        port: u16,
        rip: &str,
        rport: u16,
        fwd: FwdMethod,
    ) {
        let key = ServiceKey::Addr {
            proto,
            addr: a(vip),
            port,
        };
        let mut d = DestConfig::new(a(rip), rport);
        d.fwd = fwd;
        self.e
            .director
            .apply(&Command::AddDest(key, d), self.now)
            .unwrap();
    }

    pub fn send(&mut self, frame: &[u8]) -> (Verdict, Vec<u8>) {
        let mut buf = vec![0u8; HEADROOM + 2048];
        buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        let mut f = Frame::new(&mut buf, HEADROOM, frame.len()).unwrap();
        let v = self.e.process(&mut f, self.ext, self.now, self.n.as_ref());
        let out = f.data().to_vec();
        (v, out)
    }
}

pub(crate) fn tcp(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, EXT_MAC);
    let b = match (a(src), a(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("family"),
    };
    let mut t = b.tcp(sport, dport, 1000, 64240);
    if flags.contains('S') {
        t = t.syn();
    }
    if flags.contains('A') {
        t = t.ack(1);
    }
    if flags.contains('F') {
        t = t.fin();
    }
    if flags.contains('R') {
        t = t.rst();
    }
    let mut out = Vec::new();
    t.write(&mut out, payload).unwrap();
    out
}

pub(crate) fn udp(src: &str, sport: u16, dst: &str, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, EXT_MAC);
    let b = match (a(src), a(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("family"),
    };
    let mut out = Vec::new();
    b.udp(sport, dport).write(&mut out, payload).unwrap();
    out
}

/// An ICMPv4 destination-unreachable frame from `macs.0` to `macs.1`, `ips.0` to `ips.1`,
/// quoting `quote`.
fn icmp4_unreachable(
    macs: (Mac, Mac),
    ips: ([u8; 4], [u8; 4]),
    hdr: etherparse::icmpv4::DestUnreachableHeader,
    quote: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(ips.0, ips.1, 64)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(hdr))
        .write(&mut out, quote)
        .unwrap();
    out
}

/// What an independent parser sees in a frame, with every checksum verified.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub dst_mac: Mac,
    pub src_mac: Mac,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub sport: u16,
    pub dport: u16,
}

pub(crate) fn seen(frame: &[u8]) -> Seen {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse parses the frame");
    let eth = match p.link {
        Some(etherparse::LinkSlice::Ethernet2(e)) => e,
        _ => panic!("no ethernet"),
    };
    let (src, dst, ttl, s4, d4, s6, d6) = match p.net.expect("ip") {
        NetSlice::Ipv4(ip) => {
            let h = ip.header();
            assert_eq!(
                h.to_header().calc_header_checksum(),
                h.header_checksum(),
                "IPv4 header checksum"
            );
            let (s, d) = (h.source_addr(), h.destination_addr());
            (
                IpAddr::V4(s),
                IpAddr::V4(d),
                h.ttl(),
                s.octets(),
                d.octets(),
                [0; 16],
                [0; 16],
            )
        }
        NetSlice::Ipv6(ip) => {
            let h = ip.header();
            let (s, d) = (h.source_addr(), h.destination_addr());
            (
                IpAddr::V6(s),
                IpAddr::V6(d),
                h.hop_limit(),
                [0; 4],
                [0; 4],
                s.octets(),
                d.octets(),
            )
        }
    };
    let v6 = src.is_ipv6();
    let (sport, dport) = match p.transport.expect("transport") {
        TransportSlice::Tcp(t) => {
            let c = if v6 {
                t.calc_checksum_ipv6(s6, d6).unwrap()
            } else {
                t.calc_checksum_ipv4(s4, d4).unwrap()
            };
            assert_eq!(c, t.checksum(), "TCP checksum");
            (t.source_port(), t.destination_port())
        }
        TransportSlice::Udp(u) => {
            let h = u.to_header();
            if h.checksum != 0 || v6 {
                let c = if v6 {
                    h.calc_checksum_ipv6_raw(s6, d6, u.payload()).unwrap()
                } else {
                    h.calc_checksum_ipv4_raw(s4, d4, u.payload()).unwrap()
                };
                assert_eq!(c, h.checksum, "UDP checksum");
            }
            (u.source_port(), u.destination_port())
        }
        TransportSlice::Icmpv4(i) => {
            assert_eq!(
                i.header().icmp_type.calc_checksum(i.payload()),
                i.checksum(),
                "ICMP checksum"
            );
            (0, 0)
        }
        TransportSlice::Icmpv6(i) => {
            assert!(i.is_checksum_valid(s6, d6), "ICMPv6 checksum");
            (0, 0)
        }
    };
    Seen {
        dst_mac: eth.destination(),
        src_mac: eth.source(),
        src,
        dst,
        ttl,
        sport,
        dport,
    }
}

fn nat_lab(v6: bool) -> (Lab, &'static str, &'static str, &'static str) {
    let (vip, client, rip) = if v6 {
        ("fd00::100", "fd00::10", "fd00:1::b")
    } else {
        ("198.18.0.100", "198.18.0.10", "198.18.1.11")
    };
    let mut l = Lab::new();
    l.service(Protocol::Tcp, vip, 80, "rr");
    l.dest(Protocol::Tcp, vip, 80, rip, 8080, FwdMethod::Masq);
    (l, vip, client, rip)
}

#[test]
fn nat_rewrites_both_directions_with_port_mapping() {
    for v6 in [false, true] {
        let (mut l, vip, client, rip) = nat_lab(v6);
        let (v, out) = l.send(&tcp(client, 40000, vip, 80, "S", b""));
        assert!(
            matches!(
                v,
                Verdict::Transmit {
                    kind: TxKind::Forward {
                        method: FwdMethod::Masq,
                        new: true
                    },
                    ..
                }
            ),
            "{v}"
        );
        let s = seen(&out);
        assert_eq!(
            (s.src, s.sport, s.dst, s.dport),
            (a(client), 40000, a(rip), 8080)
        );
        assert_eq!((s.dst_mac, s.src_mac), (rs_mac(&a(rip)), INT_MAC));
        assert_eq!(s.ttl, 64, "client → server keeps its TTL");
        // The reply.
        let mut reply = tcp(rip, 8080, client, 40000, "SA", b"");
        reply[0..6].copy_from_slice(&INT_MAC);
        let (v, out) = l.send(&reply);
        assert!(
            matches!(
                v,
                Verdict::Transmit {
                    kind: TxKind::Reply { .. },
                    ..
                }
            ),
            "{v}"
        );
        let s = seen(&out);
        assert_eq!(
            (s.src, s.sport, s.dst, s.dport),
            (a(vip), 80, a(client), 40000)
        );
        assert_eq!((s.dst_mac, s.src_mac, s.ttl), (CLIENT_MAC, EXT_MAC, 63));
        // Data then flows on the same connection.
        let (v, out) = l.send(&tcp(client, 40000, vip, 80, "A", b"GET / HTTP/1.0\r\n\r\n"));
        assert!(matches!(
            v,
            Verdict::Transmit {
                kind: TxKind::Forward { new: false, .. },
                ..
            }
        ));
        assert_eq!(seen(&out).dport, 8080);
        let t = &l.e.director.stats.total;
        assert_eq!((t.conns, t.inpkts, t.outpkts), (1, 2, 1));
    }
}

#[test]
fn dr_changes_only_the_macs() {
    for v6 in [false, true] {
        let (vip, client, rip) = if v6 {
            ("fd00::100", "fd00::10", "fd00:1::c")
        } else {
            ("198.18.0.100", "198.18.0.10", "198.18.1.12")
        };
        let mut l = Lab::new();
        l.service(Protocol::Tcp, vip, 80, "rr");
        l.dest(Protocol::Tcp, vip, 80, rip, 80, FwdMethod::Route);
        let input = tcp(client, 40001, vip, 80, "S", b"");
        let (v, out) = l.send(&input);
        assert!(
            matches!(
                v,
                Verdict::Transmit {
                    kind: TxKind::Forward {
                        method: FwdMethod::Route,
                        ..
                    },
                    ..
                }
            ),
            "{v}"
        );
        assert_eq!(&out[12..], &input[12..], "IP packet untouched");
        assert_eq!(&out[0..6], &rs_mac(&a(rip)));
        assert_eq!(&out[6..12], &INT_MAC);
    }
}

#[test]
fn tun_encapsulates_with_the_director_address() {
    for (vip, client, rip, outer_src, overhead) in [
        (
            "198.18.0.100",
            "198.18.0.10",
            "198.18.1.13",
            "198.18.1.1",
            20,
        ),
        ("fd00::100", "fd00::10", "fd00:1::d", "fd00:1::1", 40),
        ("198.18.0.100", "198.18.0.10", "fd00:1::d", "fd00:1::1", 40),
    ] {
        let mut l = Lab::new();
        l.service(Protocol::Udp, vip, 53, "rr");
        l.dest(Protocol::Udp, vip, 53, rip, 53, FwdMethod::Tunnel);
        let input = udp(client, 5353, vip, 53, b"query");
        let (v, out) = l.send(&input);
        assert!(
            matches!(
                v,
                Verdict::Transmit {
                    kind: TxKind::Forward {
                        method: FwdMethod::Tunnel,
                        ..
                    },
                    ..
                }
            ),
            "{v}"
        );
        assert_eq!(out.len(), input.len() + overhead);
        assert_eq!(
            &out[14 + overhead..],
            &input[14..],
            "inner packet untouched"
        );
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        match p.net.unwrap() {
            NetSlice::Ipv4(ip) => {
                let h = ip.header();
                assert_eq!(IpAddr::V4(h.source_addr()), a(outer_src));
                assert_eq!(IpAddr::V4(h.destination_addr()), a(rip));
                assert_eq!(h.protocol(), etherparse::IpNumber::IPV4);
                assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
            }
            NetSlice::Ipv6(ip) => {
                let h = ip.header();
                assert_eq!(IpAddr::V6(h.source_addr()), a(outer_src));
                assert_eq!(IpAddr::V6(h.destination_addr()), a(rip));
                let inner_v6 = vip.contains(':');
                let want = if inner_v6 {
                    etherparse::IpNumber::IPV6
                } else {
                    etherparse::IpNumber::IPV4
                };
                assert_eq!(h.next_header(), want);
            }
        }
    }
}

#[test]
fn tun_too_big_with_df_answers_fragmentation_needed() {
    let mut l = Lab::new();
    l.service(Protocol::Tcp, "198.18.0.100", 80, "rr");
    l.dest(
        Protocol::Tcp,
        "198.18.0.100",
        80,
        "198.18.1.13",
        80,
        FwdMethod::Tunnel,
    );
    let syn = tcp("198.18.0.10", 40002, "198.18.0.100", 80, "S", b"");
    assert!(matches!(l.send(&syn).0, Verdict::Transmit { .. }));
    // A full-size segment with DF (etherparse sets DF by default).
    let big = tcp("198.18.0.10", 40002, "198.18.0.100", 80, "A", &[7u8; 1460]);
    let (v, out) = l.send(&big);
    assert_eq!(
        v,
        Verdict::Transmit {
            egress: l.ext,
            next_hop: a("198.18.0.10"),
            kind: TxKind::IcmpAnswer(IcmpAnswer::TooBig(1480)),
        }
    );
    let s = seen(&out);
    assert_eq!((s.src, s.dst), (a("198.18.0.100"), a("198.18.0.10")));
    assert_eq!((out[14 + 20], out[14 + 21]), (3, 4), "fragmentation needed");
    assert_eq!(
        u16::from_be_bytes([out[14 + 26], out[14 + 27]]),
        1480,
        "next-hop MTU"
    );
}

#[test]
fn fullnat_rewrites_source_and_destination_and_releases_ports() {
    for v6 in [false, true] {
        let (vip, client, rip, lip) = if v6 {
            ("fd00::100", "fd00::10", "fd00:1::e", "fd00:1::c8")
        } else {
            ("198.18.0.100", "198.18.0.10", "198.18.1.14", "198.18.1.200")
        };
        let mut l = Lab::new();
        l.service(Protocol::Tcp, vip, 80, "rr");
        l.dest(Protocol::Tcp, vip, 80, rip, 8080, FwdMethod::FullNat);
        l.e.fullnat.add_local_address(None, a(lip));
        let (v, out) = l.send(&tcp(client, 40003, vip, 80, "S", b""));
        assert!(
            matches!(
                v,
                Verdict::Transmit {
                    kind: TxKind::Forward {
                        method: FwdMethod::FullNat,
                        new: true
                    },
                    ..
                }
            ),
            "{v}"
        );
        let s = seen(&out);
        assert_eq!((s.src, s.dst, s.dport), (a(lip), a(rip), 8080));
        let lport = s.sport;
        assert_eq!(l.e.fullnat.len(), 1);
        let mut reply = tcp(rip, 8080, lip, lport, "SA", b"");
        reply[0..6].copy_from_slice(&INT_MAC);
        let (v, out) = l.send(&reply);
        assert!(
            matches!(
                v,
                Verdict::Transmit {
                    kind: TxKind::Reply {
                        method: FwdMethod::FullNat
                    },
                    ..
                }
            ),
            "{v}"
        );
        let s = seen(&out);
        assert_eq!(
            (s.src, s.sport, s.dst, s.dport),
            (a(vip), 80, a(client), 40003)
        );
        assert_eq!(s.dst_mac, CLIENT_MAC);
        // The connection expires (SYN_RECV 60 s) and its port is released.
        l.now = Time(l.now.0 + 61_000);
        l.e.advance(l.now);
        assert_eq!(l.e.director.conns.len(), 0);
        assert_eq!(l.e.fullnat.len(), 0);
    }
}

#[test]
fn fullnat_without_local_address_drops_and_forgets_the_connection() {
    let mut l = Lab::new();
    l.service(Protocol::Tcp, "198.18.0.100", 80, "rr");
    l.dest(
        Protocol::Tcp,
        "198.18.0.100",
        80,
        "198.18.1.14",
        80,
        FwdMethod::FullNat,
    );
    let (v, _) = l.send(&tcp("198.18.0.10", 1, "198.18.0.100", 80, "S", b""));
    assert_eq!(v, Verdict::Drop(DropReason::NoLocalAddress));
    assert_eq!(l.e.director.conns.len(), 0);
    assert_eq!(
        l.e.counters.dropped.get("fullnat-no-local-address"),
        Some(&1)
    );
}

#[test]
fn no_dest_answers_port_unreachable_from_the_vip() {
    for (vip, client) in [("198.18.0.100", "198.18.0.10"), ("fd00::100", "fd00::10")] {
        let mut l = Lab::new();
        l.service(Protocol::Tcp, vip, 80, "rr");
        let input = tcp(client, 40004, vip, 80, "S", b"");
        let (v, out) = l.send(&input);
        assert!(
            matches!(
                v,
                Verdict::Transmit {
                    kind: TxKind::IcmpAnswer(IcmpAnswer::PortUnreachable),
                    ..
                }
            ),
            "{v}"
        );
        let s = seen(&out);
        assert_eq!(
            (s.src, s.dst, s.dst_mac, s.src_mac),
            (a(vip), a(client), CLIENT_MAC, EXT_MAC)
        );
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        match p.transport.unwrap() {
            TransportSlice::Icmpv4(i) => {
                assert_eq!((i.type_u8(), i.code_u8()), (3, 3));
                assert_eq!(
                    i.payload(),
                    &input[14..14 + 28],
                    "IP header + 8 bytes quoted"
                );
            }
            TransportSlice::Icmpv6(i) => {
                assert_eq!((i.type_u8(), i.code_u8()), (1, 4));
                assert_eq!(i.payload(), &input[14..], "the whole packet quoted");
            }
            _ => panic!("not icmp"),
        }
    }
}

#[test]
fn tcp_without_syn_and_without_conn_goes_to_the_local_stack() {
    let (mut l, vip, client, _) = nat_lab(false);
    let input = tcp(client, 40005, vip, 80, "A", b"");
    let (v, out) = l.send(&input);
    assert_eq!(v, Verdict::Pass(PassReason::NotConnStart));
    assert_eq!(out, input);
    let (v, _) = l.send(&tcp(client, 40005, "198.18.0.1", 22, "S", b""));
    assert_eq!(v, Verdict::Pass(PassReason::NoService));
}

#[test]
fn udp_zero_checksum_stays_zero_under_nat() {
    let mut l = Lab::new();
    l.service(Protocol::Udp, "198.18.0.100", 53, "rr");
    l.dest(
        Protocol::Udp,
        "198.18.0.100",
        53,
        "198.18.1.11",
        5353,
        FwdMethod::Masq,
    );
    let mut input = udp("198.18.0.10", 1000, "198.18.0.100", 53, b"q");
    input[14 + 20 + 6] = 0;
    input[14 + 20 + 7] = 0;
    let (v, out) = l.send(&input);
    assert!(matches!(v, Verdict::Transmit { .. }), "{v}");
    assert_eq!(&out[14 + 20 + 6..14 + 20 + 8], &[0, 0]);
    assert_eq!(seen(&out).dport, 5353);
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    let mut l = Lab::new();
    let good = tcp("198.18.0.10", 1, "198.18.0.100", 80, "S", b"");
    for cut in [15, 20, 33, 40, 50] {
        let (v, _) = l.send(&good[..cut]);
        assert!(
            matches!(v, Verdict::Drop(DropReason::Malformed(_))),
            "cut {cut}: {v}"
        );
    }
    assert_eq!(l.e.counters.dropped_total(), 5);
    // An ARP request (who has 198.18.0.100?) goes to the local stack.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[198, 18, 0, 10, 0, 0, 0, 0, 0, 0, 198, 18, 0, 100]);
    assert_eq!(l.send(&arp).0, Verdict::Pass(PassReason::NotIp));
}

#[test]
fn unknown_neighbour_leaves_the_frame_unresolved() {
    let (mut l, vip, client, _) = nat_lab(false);
    l.n = Box::new(StaticNeighbours::default());
    let (v, out) = l.send(&tcp(client, 40006, vip, 80, "S", b""));
    assert!(
        matches!(v, Verdict::Unresolved { next_hop, .. } if next_hop == a("198.18.1.11")),
        "{v}"
    );
    assert_eq!(&out[0..6], &[0; 6]);
    assert_eq!(l.e.counters.unresolved, 1);
}

#[test]
fn icmp_error_about_a_nat_reply_goes_to_the_real_server_translated() {
    let (mut l, vip, client, rip) = nat_lab(false);
    let (v, _) = l.send(&tcp(client, 40007, vip, 80, "S", b""));
    assert!(matches!(v, Verdict::Transmit { .. }));
    // A router says the client is unreachable, quoting the reply VIP:80 -> CIP:40007.
    let quoted = tcp(vip, 80, client, 40007, "SA", b"");
    let err = icmp4_unreachable(
        (CLIENT_MAC, EXT_MAC),
        ([198, 18, 0, 254], [198, 18, 0, 100]),
        etherparse::icmpv4::DestUnreachableHeader::Host,
        &quoted[14..14 + 28],
    );
    let (v, out) = l.send(&err);
    assert!(
        matches!(
            v,
            Verdict::Transmit {
                kind: TxKind::IcmpToServer {
                    method: FwdMethod::Masq
                },
                ..
            }
        ),
        "{v}"
    );
    let s = seen(&out);
    assert_eq!((s.src, s.dst), (a("198.18.0.254"), a(rip)));
    // The quoted packet now reads RIP:8080 -> CIP:40007.
    let q = &out[14 + 28..];
    assert_eq!(&q[12..16], &[198, 18, 1, 11]);
    assert_eq!(u16::from_be_bytes([q[20], q[21]]), 8080);
}

/// Bitwise CRC32c (reference implementation, independent of the table-driven one).
fn crc32c_ref(data: &[u8]) -> u32 {
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

fn sctp_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, chunk: u8) -> Vec<u8> {
    let mut sctp = Vec::new();
    sctp.extend_from_slice(&sport.to_be_bytes());
    sctp.extend_from_slice(&dport.to_be_bytes());
    sctp.extend_from_slice(&0x1234_5678u32.to_be_bytes()); // verification tag
    sctp.extend_from_slice(&[0, 0, 0, 0]);
    // One chunk: type, flags, length 20, then 16 bytes of INIT-like body.
    sctp.extend_from_slice(&[chunk, 0, 0, 20]);
    sctp.extend_from_slice(&[0xab; 16]);
    let crc = crc32c_ref(&sctp);
    sctp[8..12].copy_from_slice(&crc.to_le_bytes());
    let ip =
        etherparse::Ipv4Header::new(sctp.len() as u16, 64, etherparse::IpNumber::SCTP, src, dst)
            .unwrap();
    let mut out = Vec::new();
    etherparse::Ethernet2Header {
        source: CLIENT_MAC,
        destination: EXT_MAC,
        ether_type: etherparse::EtherType::IPV4,
    }
    .write(&mut out)
    .unwrap();
    ip.write(&mut out).unwrap();
    out.extend_from_slice(&sctp);
    out
}

#[test]
fn sctp_nat_recomputes_the_crc() {
    let mut l = Lab::new();
    l.service(Protocol::Sctp, "198.18.0.100", 3868, "rr");
    l.dest(
        Protocol::Sctp,
        "198.18.0.100",
        3868,
        "198.18.1.11",
        3869,
        FwdMethod::Masq,
    );
    let input = sctp_frame([198, 18, 0, 10], 5000, [198, 18, 0, 100], 3868, 1);
    let (v, out) = l.send(&input);
    assert!(
        matches!(
            v,
            Verdict::Transmit {
                kind: TxKind::Forward { new: true, .. },
                ..
            }
        ),
        "{v}"
    );
    let sctp = &out[34..];
    assert_eq!(u16::from_be_bytes([sctp[2], sctp[3]]), 3869);
    let mut zeroed = sctp.to_vec();
    zeroed[8..12].fill(0);
    assert_eq!(
        u32::from_le_bytes([sctp[8], sctp[9], sctp[10], sctp[11]]),
        crc32c_ref(&zeroed)
    );
    assert_eq!(&out[30..34], &[198, 18, 1, 11]);
}

#[test]
fn icmp_error_from_a_nat_server_goes_back_to_the_client() {
    let (mut l, vip, client, rip) = nat_lab(false);
    assert!(matches!(
        l.send(&tcp(client, 40008, vip, 80, "S", b"")).0,
        Verdict::Transmit { .. }
    ));
    // The server's stack says "port unreachable", quoting CIP:40008 -> RIP:8080.
    let quoted = tcp(client, 40008, rip, 8080, "S", b"");
    let err = icmp4_unreachable(
        (rs_mac(&a(rip)), INT_MAC),
        ([198, 18, 1, 11], [198, 18, 0, 10]),
        etherparse::icmpv4::DestUnreachableHeader::Port,
        &quoted[14..14 + 28],
    );
    let (v, out) = l.send(&err);
    assert!(
        matches!(
            v,
            Verdict::Transmit {
                kind: TxKind::IcmpToClient { .. },
                ..
            }
        ),
        "{v}"
    );
    let s = seen(&out);
    assert_eq!(
        (s.src, s.dst, s.ttl, s.dst_mac),
        (a(vip), a(client), 63, CLIENT_MAC)
    );
    let q = &out[14 + 28..];
    assert_eq!(
        &q[16..20],
        &[198, 18, 0, 100],
        "quoted destination is the VIP"
    );
    assert_eq!(u16::from_be_bytes([q[22], q[23]]), 80);
    let qh = etherparse::Ipv4HeaderSlice::from_slice(&q[..20]).unwrap();
    assert_eq!(qh.to_header().calc_header_checksum(), qh.header_checksum());
}

#[test]
fn icmp_errors_under_fullnat_are_translated_both_ways() {
    let mut l = Lab::new();
    l.service(Protocol::Udp, "198.18.0.100", 53, "rr");
    l.dest(
        Protocol::Udp,
        "198.18.0.100",
        53,
        "198.18.1.14",
        53,
        FwdMethod::FullNat,
    );
    l.e.fullnat.add_local_address(None, a("198.18.1.200"));
    let (_, out) = l.send(&udp("198.18.0.10", 7000, "198.18.0.100", 53, b"q"));
    let lport = seen(&out).sport;
    // From the server side: quoting LIP:lport -> RIP:53.
    let err = icmp4_unreachable(
        (rs_mac(&a("198.18.1.14")), INT_MAC),
        ([198, 18, 1, 14], [198, 18, 1, 200]),
        etherparse::icmpv4::DestUnreachableHeader::Port,
        &out[14..14 + 28],
    );
    let (v, back) = l.send(&err);
    assert!(
        matches!(
            v,
            Verdict::Transmit {
                kind: TxKind::IcmpToClient {
                    method: FwdMethod::FullNat
                },
                ..
            }
        ),
        "{v}"
    );
    let s = seen(&back);
    assert_eq!((s.src, s.dst), (a("198.18.0.100"), a("198.18.0.10")));
    let q = &back[14 + 28..];
    assert_eq!(&q[12..20], &[198, 18, 0, 10, 198, 18, 0, 100]);
    assert_eq!(u16::from_be_bytes([q[20], q[21]]), 7000);
    assert_eq!(u16::from_be_bytes([q[22], q[23]]), 53);
    // From the client side: a router quotes VIP:53 -> CIP:7000.
    let reply = udp("198.18.0.100", 53, "198.18.0.10", 7000, b"a");
    let err = icmp4_unreachable(
        (CLIENT_MAC, EXT_MAC),
        ([198, 18, 0, 254], [198, 18, 0, 100]),
        etherparse::icmpv4::DestUnreachableHeader::Host,
        &reply[14..14 + 28],
    );
    let (v, fwd) = l.send(&err);
    assert!(
        matches!(
            v,
            Verdict::Transmit {
                kind: TxKind::IcmpToServer {
                    method: FwdMethod::FullNat
                },
                ..
            }
        ),
        "{v}"
    );
    let s = seen(&fwd);
    assert_eq!((s.src, s.dst), (a("198.18.1.200"), a("198.18.1.14")));
    let q = &fwd[14 + 28..];
    assert_eq!(&q[12..20], &[198, 18, 1, 14, 198, 18, 1, 200]);
    assert_eq!(u16::from_be_bytes([q[22], q[23]]), lport);
}

#[test]
fn vlan_tag_is_kept_and_reply_ttl_expiry_goes_to_the_stack() {
    let (mut l, vip, client, rip) = nat_lab(false);
    let plain = tcp(client, 40009, vip, 80, "S", b"");
    let mut tagged = plain[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a]);
    tagged.extend_from_slice(&plain[12..]);
    let (v, out) = l.send(&tagged);
    assert!(matches!(v, Verdict::Transmit { .. }), "{v}");
    assert_eq!(&out[12..16], &[0x81, 0x00, 0x00, 0x2a], "802.1Q tag kept");
    assert_eq!(&out[18 + 16..18 + 20], &[198, 18, 1, 11]);
    // A reply that arrives with TTL 1 cannot be routed on.
    let mut reply = tcp(rip, 8080, client, 40009, "SA", b"");
    reply[14 + 8] = 1;
    let c = u16::from_be_bytes([reply[24], reply[25]]);
    let fixed = crate::wire::checksum::update16(c, 0x4006, 0x0106);
    reply[24..26].copy_from_slice(&fixed.to_be_bytes());
    assert_eq!(l.send(&reply).0, Verdict::Pass(PassReason::TtlExpired));
}

#[test]
fn fragments_to_a_vip_are_dropped_others_passed() {
    let (mut l, vip, client, _) = nat_lab(false);
    for dst in [vip, "198.18.0.1"] {
        let mut f = udp(client, 1, dst, 80, &[0; 64]);
        // More-fragments set, offset 0.
        f[14 + 6] = 0x20;
        let c = u16::from_be_bytes([f[24], f[25]]);
        let fixed = crate::wire::checksum::update16(c, 0x4000, 0x2000);
        f[24..26].copy_from_slice(&fixed.to_be_bytes());
        let v = l.send(&f).0;
        if dst == vip {
            assert_eq!(v, Verdict::Drop(DropReason::Fragment));
        } else {
            assert_eq!(v, Verdict::Pass(PassReason::Fragment));
        }
    }
}

#[test]
fn dr_icmp_error_is_passed_to_the_real_server_unchanged() {
    let mut l = Lab::new();
    l.service(Protocol::Tcp, "198.18.0.100", 80, "rr");
    l.dest(
        Protocol::Tcp,
        "198.18.0.100",
        80,
        "198.18.1.12",
        80,
        FwdMethod::Route,
    );
    l.send(&tcp("198.18.0.10", 40010, "198.18.0.100", 80, "S", b""));
    let reply = tcp("198.18.0.100", 80, "198.18.0.10", 40010, "SA", b"");
    let err = icmp4_unreachable(
        (CLIENT_MAC, EXT_MAC),
        ([198, 18, 0, 254], [198, 18, 0, 100]),
        etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 },
        &reply[14..14 + 28],
    );
    let (v, out) = l.send(&err);
    assert!(
        matches!(
            v,
            Verdict::Transmit {
                kind: TxKind::IcmpToServer {
                    method: FwdMethod::Route
                },
                ..
            }
        ),
        "{v}"
    );
    assert_eq!(&out[12..], &err[12..]);
    assert_eq!(&out[..6], &rs_mac(&a("198.18.1.12")));
}

mod endpoint {
    use proptest::prelude::*;

    use super::*;
    use crate::engine::rewrite::{self, IpPos};

    fn frame(
        udp_frame: bool,
        zero_csum: bool,
        s: [u8; 4],
        d: [u8; 4],
        sp: u16,
        dp: u16,
    ) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(CLIENT_MAC, EXT_MAC).ipv4(s, d, 64);
        let mut out = Vec::new();
        if udp_frame {
            b.udp(sp, dp).write(&mut out, b"payload").unwrap();
            if zero_csum {
                out[14 + 20 + 6] = 0;
                out[14 + 20 + 7] = 0;
            }
        } else {
            b.tcp(sp, dp, 7, 1000)
                .ack(3)
                .write(&mut out, b"data!")
                .unwrap();
        }
        out
    }

    proptest! {
        /// The one-pass IPv4 endpoint rewrite gives exactly the bytes of the general
        /// address-then-port rewrite (checksums included, UDP's zero rule too).
        #[test]
        fn one_pass_equals_address_then_port(
            udp_frame in any::<bool>(), zero in any::<bool>(), src in any::<bool>(),
            s in any::<[u8; 4]>(), d in any::<[u8; 4]>(), sp in any::<u16>(), dp in any::<u16>(),
            na in any::<[u8; 4]>(), np in any::<u16>(),
        ) {
            let f = frame(udp_frame, zero, s, d, sp, dp);
            let pos = IpPos {
                l3: 14,
                v6: false,
                l4: 34,
                proto: if udp_frame { 17 } else { 6 },
                end: f.len(),
            };
            let new = IpAddr::from(na);
            let mut a = f.clone();
            rewrite::set_endpoint(&mut a, &pos, src, &new, np).unwrap();
            let mut b = f.clone();
            rewrite::set_addr(&mut b, &pos, src, &new, true).unwrap();
            rewrite::set_port(&mut b, &pos, src, np, true).unwrap();
            prop_assert_eq!(&a, &b);
            let _ = seen(&a);
        }
    }
}

#[test]
fn cached_next_hop_follows_neighbour_and_route_changes() {
    let mut l = Lab::new();
    l.service(Protocol::Tcp, "198.18.0.100", 80, "rr");
    l.dest(
        Protocol::Tcp,
        "198.18.0.100",
        80,
        "198.18.1.12",
        80,
        FwdMethod::Route,
    );
    let mut n = StaticNeighbours::default();
    n.insert(a("198.18.1.12"), [2, 0, 0, 0, 9, 1]);
    l.n = Box::new(n.clone());
    let (_, out) = l.send(&tcp("198.18.0.10", 41000, "198.18.0.100", 80, "S", b""));
    assert_eq!(&out[..6], &[2, 0, 0, 0, 9, 1]);
    // The neighbour's MAC changes: the next frame of the same connection follows.
    n.insert(a("198.18.1.12"), [2, 0, 0, 0, 9, 2]);
    l.n = Box::new(n.clone());
    let (_, out) = l.send(&tcp("198.18.0.10", 41000, "198.18.0.100", 80, "A", b""));
    assert_eq!(&out[..6], &[2, 0, 0, 0, 9, 2]);
    // A neighbour source without generations is asked every time.
    struct Always(Mac);
    impl Neighbours for Always {
        fn mac(&self, _: IfaceId, _: &IpAddr) -> Option<Mac> {
            Some(self.0)
        }
    }
    l.n = Box::new(Always([2, 0, 0, 0, 9, 3]));
    let (_, out) = l.send(&tcp("198.18.0.10", 41000, "198.18.0.100", 80, "A", b""));
    assert_eq!(&out[..6], &[2, 0, 0, 0, 9, 3]);
    // The interface's MAC changes (a routes change): the source MAC follows.
    if let Some(i) = l.e.routes.iface_mut(lab::INT) {
        i.mac = [2, 0, 0, 0, 0, 0x22];
    }
    let (v, out) = l.send(&tcp("198.18.0.10", 41000, "198.18.0.100", 80, "A", b""));
    assert!(matches!(v, Verdict::Transmit { .. }), "{v}");
    assert_eq!(&out[6..12], &[2, 0, 0, 0, 0, 0x22]);
}
