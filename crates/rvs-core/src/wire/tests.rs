//! Cross-module tests of the wire module: `parse_frame` on literal and etherparse-built
//! frames, our emitters checked by etherparse, incremental checksums against full
//! recomputes, robustness on arbitrary bytes, and the ICMP error builders.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    IpNumber, LinkHeader, NetHeaders, PacketBuilder, PacketBuilderStep, PacketHeaders,
    TransportHeader, VlanHeader, VlanId,
};
use proptest::prelude::*;

use super::*;

const SMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// The upper layer of a test frame.
#[derive(Clone, Copy, Debug)]
enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        flags: u8,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    Echo {
        id: u16,
        seq: u16,
    },
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}

// ---------------------------------------------------------------- frames built by etherparse

fn ep_ip(
    vlan: Option<u16>,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
) -> PacketBuilderStep<etherparse::IpHeaders> {
    let e = PacketBuilder::ethernet2(SMAC, DMAC);
    match (vlan, src, dst) {
        (None, IpAddr::V4(s), IpAddr::V4(d)) => e.ipv4(s.octets(), d.octets(), ttl),
        (None, IpAddr::V6(s), IpAddr::V6(d)) => e.ipv6(s.octets(), d.octets(), ttl),
        (Some(v), IpAddr::V4(s), IpAddr::V4(d)) => {
            e.single_vlan(VlanId::try_new(v).unwrap())
                .ipv4(s.octets(), d.octets(), ttl)
        }
        (Some(v), IpAddr::V6(s), IpAddr::V6(d)) => {
            e.single_vlan(VlanId::try_new(v).unwrap())
                .ipv6(s.octets(), d.octets(), ttl)
        }
        _ => panic!("mixed families"),
    }
}

fn ep_frame(
    vlan: Option<u16>,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    l4: &L4,
    payload: &[u8],
) -> Vec<u8> {
    let ip = ep_ip(vlan, src, dst, ttl);
    let mut out = Vec::new();
    match *l4 {
        L4::Tcp {
            sport,
            dport,
            seq,
            flags,
        } => {
            let mut t = ip.tcp(sport, dport, seq, 4096);
            if flags & 0x01 != 0 {
                t = t.fin();
            }
            if flags & 0x02 != 0 {
                t = t.syn();
            }
            if flags & 0x04 != 0 {
                t = t.rst();
            }
            if flags & 0x08 != 0 {
                t = t.psh();
            }
            if flags & 0x10 != 0 {
                t = t.ack(0x01020304);
            }
            if flags & 0x20 != 0 {
                t = t.urg(7);
            }
            t.write(&mut out, payload).unwrap();
        }
        L4::Udp { sport, dport } => ip.udp(sport, dport).write(&mut out, payload).unwrap(),
        L4::Echo { id, seq } => {
            if src.is_ipv4() {
                ip.icmpv4_echo_request(id, seq)
                    .write(&mut out, payload)
                    .unwrap()
            } else {
                ip.icmpv6_echo_request(id, seq)
                    .write(&mut out, payload)
                    .unwrap()
            }
        }
    }
    out
}

// ---------------------------------------------------------------- frames built by our Reprs

/// Build a frame with our emitters; IPv4 options are `opt_words` 4-byte NOP words.
fn our_frame(
    vlan: Option<u16>,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    l4: &L4,
    payload: &[u8],
    opt_words: usize,
) -> Vec<u8> {
    let l4_len = match l4 {
        L4::Tcp { .. } => 20,
        L4::Udp { .. } | L4::Echo { .. } => 8,
    } + payload.len();
    let eth = ethernet::Repr {
        src_addr: SMAC,
        dst_addr: DMAC,
        vlan,
        ethertype: if src.is_ipv4() {
            ethertype::IPV4
        } else {
            ethertype::IPV6
        },
    };
    let proto = match (l4, src) {
        (L4::Tcp { .. }, _) => ipproto::TCP,
        (L4::Udp { .. }, _) => ipproto::UDP,
        (L4::Echo { .. }, IpAddr::V4(_)) => ipproto::ICMP,
        (L4::Echo { .. }, IpAddr::V6(_)) => ipproto::ICMPV6,
    };
    let mut out = vec![0u8; eth.buffer_len()];
    eth.emit(&mut ethernet::Packet::new_unchecked(&mut out[..]));
    let l3 = out.len();
    let hl = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut options = [0u8; 40];
            options[..opt_words * 4].fill(1);
            let r = ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol: proto,
                payload_len: l4_len,
                ttl,
                tos: 0,
                ident: 0x4242,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                options,
                options_len: (opt_words * 4) as u8,
            };
            out.resize(l3 + r.buffer_len(), 0);
            r.emit(&mut ipv4::Packet::new_unchecked(&mut out[l3..]));
            r.header_len()
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let r = ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: proto,
                payload_len: l4_len,
                hop_limit: ttl,
                traffic_class: 0,
                flow_label: 0,
            };
            out.resize(l3 + r.buffer_len(), 0);
            r.emit(&mut ipv6::Packet::new_unchecked(&mut out[l3..]));
            40
        }
        _ => panic!("mixed families"),
    };
    let seg = &mut out[l3 + hl..];
    match *l4 {
        L4::Tcp {
            sport,
            dport,
            seq,
            flags,
        } => {
            let r = tcp::Repr {
                src_port: sport,
                dst_port: dport,
                seq_number: seq,
                ack_number: 0x01020304,
                flags,
                window: 4096,
                urgent: 0,
                options: [0; 40],
                options_len: 0,
                payload_len: payload.len(),
            };
            let mut p = tcp::Packet::new_unchecked(&mut *seg);
            r.emit(&mut p);
            p.payload_mut().copy_from_slice(payload);
            p.fill_checksum(&src, &dst);
        }
        L4::Udp { sport, dport } => {
            let r = udp::Repr {
                src_port: sport,
                dst_port: dport,
                payload_len: payload.len(),
            };
            let mut p = udp::Packet::new_unchecked(&mut *seg);
            r.emit(&mut p);
            p.payload_mut().copy_from_slice(payload);
            p.fill_checksum(&src, &dst);
        }
        L4::Echo { id, seq } => {
            let mut rest = [0u8; 4];
            rest[..2].copy_from_slice(&id.to_be_bytes());
            rest[2..].copy_from_slice(&seq.to_be_bytes());
            match (src, dst) {
                (IpAddr::V4(_), _) => {
                    let r = icmpv4::Repr {
                        msg_type: 8,
                        code: 0,
                        rest,
                        payload_len: payload.len(),
                    };
                    let mut p = icmpv4::Packet::new_unchecked(&mut *seg);
                    r.emit(&mut p);
                    p.payload_mut().copy_from_slice(payload);
                    p.fill_checksum();
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    let r = icmpv6::Repr {
                        msg_type: 128,
                        code: 0,
                        rest,
                        payload_len: payload.len(),
                    };
                    let mut p = icmpv6::Packet::new_unchecked(&mut *seg);
                    r.emit(&mut p);
                    p.payload_mut().copy_from_slice(payload);
                    p.fill_checksum(&s, &d);
                }
                _ => panic!("mixed families"),
            }
        }
    }
    out
}

fn ip_of(info: &FrameInfo) -> IpInfo {
    match info.kind {
        FrameKind::Ip(ip) => ip,
        k => panic!("not IP: {k:?}"),
    }
}

fn check_summary(
    info: &FrameInfo,
    vlan: Option<u16>,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    l4: &L4,
    payload: &[u8],
) {
    assert_eq!(info.vlan, vlan);
    assert_eq!(info.l3, if vlan.is_some() { 18 } else { 14 });
    let ip = ip_of(info);
    assert_eq!((ip.src, ip.dst, ip.ttl), (src, dst, ttl));
    assert_eq!(ip.frag, Frag::None);
    match (*l4, ip.l4info) {
        (
            L4::Tcp {
                sport,
                dport,
                flags,
                ..
            },
            L4Info::Tcp {
                sport: s,
                dport: d,
                flags: f,
                hlen,
            },
        ) => {
            assert_eq!((s, d, f, hlen), (sport, dport, flags & 0x3f, 20));
            assert_eq!(ip.proto, 6);
        }
        (L4::Udp { sport, dport }, L4Info::Udp { sport: s, dport: d }) => {
            assert_eq!((s, d), (sport, dport));
        }
        (
            L4::Echo { id, .. },
            L4Info::Icmp {
                ty,
                code,
                id: i,
                error,
            },
        ) => {
            assert_eq!(ty, if src.is_ipv4() { 8 } else { 128 });
            assert_eq!((code, i, error), (0, id, false));
        }
        (want, got) => panic!("{want:?} parsed as {got:?}"),
    }
    let hdr = match l4 {
        L4::Tcp { .. } => 20,
        _ => 8,
    };
    assert_eq!(ip.l4 + hdr + payload.len(), info.l3 + ip.total_len);
}

fn l4_strategy() -> impl Strategy<Value = L4> {
    prop_oneof![
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u8>()).prop_map(
            |(sport, dport, seq, flags)| L4::Tcp {
                sport,
                dport,
                seq,
                flags: flags & 0x3f
            }
        ),
        (any::<u16>(), any::<u16>()).prop_map(|(sport, dport)| L4::Udp { sport, dport }),
        (any::<u16>(), any::<u16>()).prop_map(|(id, seq)| L4::Echo { id, seq }),
    ]
}

fn addrs_strategy() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(a, b)| (v4(a), v4(b))),
        (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(a, b)| (v6(a), v6(b))),
    ]
}

// ---------------------------------------------------------------- literal parse_frame tests

#[test]
fn tcp_v4_tagged_frame_with_padding() {
    let src = v4([10, 0, 0, 1]);
    let dst = v4([10, 0, 0, 2]);
    let l4 = L4::Tcp {
        sport: 40000,
        dport: 80,
        seq: 1,
        flags: 0x02,
    };
    let mut f = ep_frame(Some(100), src, dst, 63, &l4, &[]);
    f.extend_from_slice(&[0; 6]); // Ethernet padding to 64 bytes
    let info = parse_frame(&f).unwrap();
    check_summary(&info, Some(100), src, dst, 63, &l4, &[]);
    let ip = ip_of(&info);
    assert_eq!(info.ethertype, ethertype::IPV4);
    assert_eq!(ip.total_len, 40);
    assert_eq!(ip.l4, 38);
    assert!(ip.df, "etherparse sets DF by default");
}

#[test]
fn literal_udp_v4_frame() {
    let f: [u8; 42] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, // ethernet
        0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, // ipv4
        198, 18, 0, 1, 198, 18, 0, 100, // addrs
        0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00, // udp 12345 -> 53
    ];
    let info = parse_frame(&f).unwrap();
    let ip = ip_of(&info);
    assert_eq!(ip.src, v4([198, 18, 0, 1]));
    assert_eq!(ip.dst, v4([198, 18, 0, 100]));
    assert!(ip.df);
    assert_eq!(ip.ttl, 64);
    assert_eq!(ip.l4, 34);
    assert_eq!(
        ip.l4info,
        L4Info::Udp {
            sport: 12345,
            dport: 53
        }
    );
    // Every proper prefix is an error, never a panic.
    for n in 0..f.len() {
        assert!(parse_frame(&f[..n]).is_err(), "prefix {n}");
    }
}

#[test]
fn ipv6_ext_headers_and_fragments() {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 36, 0, 64]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop -> fragment
    f.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 9]); // fragment: offset 0, M -> TCP
    f.extend_from_slice(&[
        0x01, 0xbb, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0, 0, 0, 0, 0, 0,
    ]);
    let info = parse_frame(&f).unwrap();
    let ip = ip_of(&info);
    assert_eq!(ip.proto, 6);
    assert_eq!(ip.l4, 14 + 40 + 16);
    assert_eq!(ip.frag, Frag::First);
    assert!(ip.df);
    assert_eq!(ip.total_len, 76);
    assert_eq!(
        ip.l4info,
        L4Info::Tcp {
            sport: 443,
            dport: 40000,
            flags: 0x12,
            hlen: 20
        }
    );
    // A later fragment: no L4 summary.
    let mut g = f.clone();
    g[14 + 40 + 8 + 2] = 0x00;
    g[14 + 40 + 8 + 3] = 0x08; // offset 1 (8 bytes), M clear
    let ip = ip_of(&parse_frame(&g).unwrap());
    assert_eq!(
        (ip.frag, ip.l4info, ip.proto),
        (Frag::Later, L4Info::Other, 6)
    );
    // ESP stops the walk.
    let mut h = f.clone();
    h[14 + 40 + 8] = 50;
    let ip = ip_of(&parse_frame(&h).unwrap());
    assert_eq!((ip.proto, ip.l4info), (50, L4Info::Other));
    // Payload length beyond the frame.
    let mut t = f.clone();
    t[14 + 5] = 200;
    assert_eq!(parse_frame(&t).unwrap_err(), WireError::BadTotalLen);
    // Hop-by-hop claiming more bytes than the payload has.
    let mut e = f;
    e[14 + 41] = 9;
    assert_eq!(
        parse_frame(&e).unwrap_err(),
        WireError::Truncated(Layer::ExtHeader)
    );
}

#[test]
fn ipv4_fragments_and_errors() {
    let src = v4([10, 0, 0, 1]);
    let dst = v4([10, 0, 0, 2]);
    let f = ep_frame(
        None,
        src,
        dst,
        64,
        &L4::Udp { sport: 1, dport: 2 },
        &[7; 30],
    );
    // First fragment: MF set; the UDP length may exceed this fragment.
    let mut first = f.clone();
    first[20] = 0x20;
    first[16..18].copy_from_slice(&(20u16 + 8 + 10).to_be_bytes());
    first.truncate(14 + 38);
    let ip = ip_of(&parse_frame(&first).unwrap());
    assert_eq!(ip.frag, Frag::First);
    assert_eq!(ip.l4info, L4Info::Udp { sport: 1, dport: 2 });
    // Later fragment.
    let mut later = f.clone();
    later[21] = 3;
    let ip = ip_of(&parse_frame(&later).unwrap());
    assert_eq!((ip.frag, ip.l4info), (Frag::Later, L4Info::Other));
    // Unfragmented UDP whose length field exceeds the IP payload.
    let mut bad = f.clone();
    bad[14 + 20 + 5] = 200;
    assert_eq!(parse_frame(&bad).unwrap_err(), WireError::BadUdpLen);
    let mut bad = f.clone();
    bad[14 + 20 + 4] = 0;
    bad[14 + 20 + 5] = 7;
    assert_eq!(parse_frame(&bad).unwrap_err(), WireError::BadUdpLen);
    let mut bad = f.clone();
    bad[14] = 0x44;
    assert_eq!(parse_frame(&bad).unwrap_err(), WireError::BadHeaderLen);
    let mut bad = f.clone();
    bad[14] = 0x55;
    assert_eq!(parse_frame(&bad).unwrap_err(), WireError::BadVersion);
    let mut bad = f.clone();
    bad[16] = 0xff;
    assert_eq!(parse_frame(&bad).unwrap_err(), WireError::BadTotalLen);
    let t = ep_frame(
        None,
        src,
        dst,
        64,
        &L4::Tcp {
            sport: 1,
            dport: 2,
            seq: 0,
            flags: 2,
        },
        &[],
    );
    let mut bad = t.clone();
    bad[14 + 20 + 12] = 0x60; // doff 6 > 20-byte segment
    assert_eq!(parse_frame(&bad).unwrap_err(), WireError::BadDataOffset);
    assert_eq!(parse_frame(&t[..50]).unwrap_err(), WireError::BadTotalLen);
    assert_eq!(WireError::BadDataOffset.as_str(), "bad-data-offset");
    assert_eq!(WireError::Truncated(Layer::Tcp).as_str(), "truncated-tcp");
    assert_eq!(WireError::BadTotalLen.as_str(), "bad-total-len");
}

#[test]
fn arp_tunnel_sctp_other() {
    let mut a = vec![0xff; 6];
    a.extend_from_slice(&SMAC);
    a.extend_from_slice(&[0x08, 0x06]);
    a.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    a.extend_from_slice(&SMAC);
    a.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    assert_eq!(parse_frame(&a).unwrap().kind, FrameKind::Arp);
    assert_eq!(
        parse_frame(&a[..41]).unwrap_err(),
        WireError::Truncated(Layer::Arp)
    );
    let mut b = a.clone();
    b[18] = 16;
    assert_eq!(parse_frame(&b).unwrap_err(), WireError::BadArp);

    // IPIP: an IPv4 packet with protocol 4.
    let mut t = ep_frame(
        None,
        v4([1, 1, 1, 1]),
        v4([2, 2, 2, 2]),
        9,
        &L4::Udp { sport: 5, dport: 6 },
        &[],
    );
    t[14 + 9] = 4;
    assert_eq!(ip_of(&parse_frame(&t).unwrap()).l4info, L4Info::Tunnel);
    t[14 + 9] = 41;
    assert_eq!(ip_of(&parse_frame(&t).unwrap()).l4info, L4Info::Tunnel);
    t[14 + 9] = 58; // ICMPv6 inside IPv4: not ICMP for us
    assert_eq!(ip_of(&parse_frame(&t).unwrap()).l4info, L4Info::Other);

    // SCTP with an INIT chunk, and with no chunk.
    let mut s = ep_frame(
        None,
        v4([1, 1, 1, 1]),
        v4([2, 2, 2, 2]),
        9,
        &L4::Udp {
            sport: 5000,
            dport: 80,
        },
        &[0; 8],
    );
    s[14 + 9] = 132;
    s[14 + 20 + 12] = 1;
    assert_eq!(
        ip_of(&parse_frame(&s).unwrap()).l4info,
        L4Info::Sctp {
            sport: 5000,
            dport: 80,
            chunk: 1
        }
    );
    let mut s2 = s[..14 + 32].to_vec();
    s2[14 + 3] = 32;
    assert_eq!(
        ip_of(&parse_frame(&s2).unwrap()).l4info,
        L4Info::Sctp {
            sport: 5000,
            dport: 80,
            chunk: 255
        }
    );
    s2[14 + 3] = 31;
    assert_eq!(
        parse_frame(&s2[..14 + 31]).unwrap_err(),
        WireError::Truncated(Layer::Sctp)
    );

    // Other EtherTypes and double tags.
    let mut o = a.clone();
    o[12..14].copy_from_slice(&[0x88, 0xcc]);
    assert_eq!(parse_frame(&o).unwrap().kind, FrameKind::Other);
    let mut q = vec![0u8; 12];
    q.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x81, 0x00, 0x00, 0x06, 0x08, 0x00]);
    let info = parse_frame(&q).unwrap();
    assert_eq!(
        (info.vlan, info.ethertype, info.kind),
        (Some(5), 0x8100, FrameKind::Other)
    );
    assert_eq!(
        parse_frame(&q[..17]).unwrap_err(),
        WireError::Truncated(Layer::Vlan)
    );
    assert_eq!(
        parse_frame(&q[..13]).unwrap_err(),
        WireError::Truncated(Layer::Ethernet)
    );
}

#[test]
fn icmp_errors_expose_the_embedded_packet() {
    let client = Ipv4Addr::new(203, 0, 113, 9);
    let vip = Ipv4Addr::new(198, 18, 0, 100);
    let orig = ep_frame(
        None,
        IpAddr::V4(client),
        IpAddr::V4(vip),
        64,
        &L4::Udp {
            sport: 5353,
            dport: 53,
        },
        &[1; 100],
    );
    let mut out = Vec::new();
    icmpv4_unreachable(&mut out, DMAC, SMAC, Some(7), vip, 3, 0, &orig[14..]).unwrap();
    let info = parse_frame(&out).unwrap();
    assert_eq!(info.vlan, Some(7));
    let ip = ip_of(&info);
    assert_eq!(
        (ip.src, ip.dst, ip.ttl, ip.df),
        (IpAddr::V4(vip), IpAddr::V4(client), 64, false)
    );
    let L4Info::Icmp {
        ty: 3,
        code: 3,
        id: 0,
        error: true,
    } = ip.l4info
    else {
        panic!("{:?}", ip.l4info)
    };
    let inner = icmp_inner(&out, &info).unwrap().unwrap();
    assert_eq!(inner.l3, 18 + 20 + 8);
    assert_eq!(
        (inner.src, inner.dst, inner.proto),
        (IpAddr::V4(client), IpAddr::V4(vip), 17)
    );
    assert_eq!(inner.l4, inner.l3 + 20);
    assert_eq!(inner.ports, Some((5353, 53)));
    assert_eq!(out.len(), 18 + 20 + 8 + 28);
    // Quote cut to 2 L4 bytes: no ports. Cut inside the IP header: error.
    let cut = out.len() - 6;
    out[18 + 3] -= 6;
    let short = &out[..cut];
    let inner = icmp_inner(short, &parse_frame(short).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(inner.ports, None);
    let mut tiny = out[..18 + 20 + 8 + 10].to_vec();
    tiny[18 + 3] = 38;
    assert_eq!(
        parse_frame(&tiny).unwrap_err(),
        WireError::Truncated(Layer::Inner)
    );

    // ICMPv6 packet too big about a TCP segment behind a destination-options header.
    let c6: Ipv6Addr = "2001:db8::9".parse().unwrap();
    let v6a: Ipv6Addr = "2001:db8::100".parse().unwrap();
    let mut o6 = vec![0x60, 0, 0, 0, 0, 28, 60, 64];
    o6.extend_from_slice(&c6.octets());
    o6.extend_from_slice(&v6a.octets());
    o6.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    o6.extend_from_slice(&[
        0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0, 0, 0, 0, 0, 0,
    ]);
    let mut out6 = Vec::new();
    icmpv6_error(&mut out6, DMAC, SMAC, None, v6a, 2, 0, 1400, &o6).unwrap();
    let info6 = parse_frame(&out6).unwrap();
    let ip = ip_of(&info6);
    assert_eq!(
        (ip.src, ip.dst, ip.proto),
        (IpAddr::V6(v6a), IpAddr::V6(c6), 58)
    );
    let L4Info::Icmp {
        ty: 2,
        code: 0,
        error: true,
        ..
    } = ip.l4info
    else {
        panic!("{:?}", ip.l4info)
    };
    let inner = icmp_inner(&out6, &info6).unwrap().unwrap();
    assert_eq!(inner.proto, 6);
    assert_eq!(inner.l4, 14 + 40 + 8 + 48);
    assert_eq!(inner.ports, Some((40000, 80)));
    assert_eq!(&out6[14 + 40 + 4..14 + 40 + 8], &1400u32.to_be_bytes());
}

// ---------------------------------------------------------------- property tests

/// A TCP or UDP packet for the checksum properties.
fn l4_only() -> impl Strategy<Value = L4> {
    prop_oneof![
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u8>()).prop_map(
            |(sport, dport, seq, flags)| L4::Tcp {
                sport,
                dport,
                seq,
                flags: flags & 0x3f
            }
        ),
        (any::<u16>(), any::<u16>()).prop_map(|(sport, dport)| L4::Udp { sport, dport }),
    ]
}

/// Replace `at..at+new.len()` in `buf` and return the old bytes.
fn swap_bytes(buf: &mut [u8], at: usize, new: &[u8]) -> Vec<u8> {
    let old = buf[at..at + new.len()].to_vec();
    buf[at..at + new.len()].copy_from_slice(new);
    old
}

#[derive(Clone, Debug)]
enum Change {
    Src([u8; 16]),
    Dst([u8; 16]),
    Sport(u16),
    Dport(u16),
    Seq(u32),
}

fn change_strategy() -> impl Strategy<Value = Change> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(Change::Src),
        any::<[u8; 16]>().prop_map(Change::Dst),
        any::<u16>().prop_map(Change::Sport),
        any::<u16>().prop_map(Change::Dport),
        any::<u32>().prop_map(Change::Seq),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Frames built by etherparse: parse_frame and the views agree with what was built,
    /// and etherparse's checksums verify with ours.
    #[test]
    fn etherparse_built_frames_parse(
        vlan in proptest::option::of(0u16..4096),
        (src, dst) in addrs_strategy(),
        ttl in any::<u8>(),
        l4 in l4_strategy(),
        payload in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let f = ep_frame(vlan, src, dst, ttl, &l4, &payload);
        let info = parse_frame(&f).unwrap();
        check_summary(&info, vlan, src, dst, ttl, &l4, &payload);
        let ip = ip_of(&info);
        let seg = &f[ip.l4..info.l3 + ip.total_len];
        match l4 {
            L4::Tcp { .. } => {
                let p = tcp::Packet::new_checked(seg).unwrap();
                prop_assert!(p.verify_checksum(&src, &dst));
                prop_assert_eq!(p.payload(), &payload[..]);
                prop_assert_eq!(tcp::Repr::parse(&p).unwrap().payload_len, payload.len());
            }
            L4::Udp { .. } => {
                let p = udp::Packet::new_checked(seg).unwrap();
                prop_assert!(p.verify_checksum(&src, &dst));
                prop_assert_eq!(p.payload(), &payload[..]);
            }
            L4::Echo { .. } => match (src, dst) {
                (IpAddr::V4(_), _) => {
                    prop_assert!(icmpv4::Packet::new_checked(seg).unwrap().verify_checksum());
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    prop_assert!(icmpv6::Packet::new_checked(seg).unwrap().verify_checksum(&s, &d));
                }
                _ => unreachable!(),
            },
        }
        if src.is_ipv4() {
            prop_assert!(ipv4::Packet::new_checked(&f[info.l3..]).unwrap().verify_checksum());
        }
    }

    /// Frames built by our Reprs: etherparse reads the same fields and our checksums are
    /// the ones it computes.
    #[test]
    fn our_frames_parse_in_etherparse(
        vlan in proptest::option::of(0u16..4096),
        (src, dst) in addrs_strategy(),
        ttl in any::<u8>(),
        l4 in l4_strategy(),
        payload in proptest::collection::vec(any::<u8>(), 0..80),
        opt_words in 0usize..=10,
    ) {
        let f = our_frame(vlan, src, dst, ttl, &l4, &payload, opt_words);
        check_summary(&parse_frame(&f).unwrap(), vlan, src, dst, ttl, &l4, &payload);
        let h = PacketHeaders::from_ethernet_slice(&f).unwrap();
        let Some(LinkHeader::Ethernet2(eth)) = h.link else { panic!("no ethernet") };
        prop_assert_eq!((eth.source, eth.destination), (SMAC, DMAC));
        match (vlan, h.vlan) {
            (None, None) => {}
            (Some(v), Some(VlanHeader::Single(t))) => prop_assert_eq!(t.vlan_id.value(), v),
            (w, g) => panic!("vlan {w:?} parsed as {g:?}"),
        }
        prop_assert_eq!(h.payload.slice(), &payload[..]);
        match h.net.unwrap() {
            NetHeaders::Ipv4(ip4, _) => {
                prop_assert_eq!(v4(ip4.source), src);
                prop_assert_eq!(v4(ip4.destination), dst);
                prop_assert_eq!(ip4.time_to_live, ttl);
                prop_assert!(ip4.dont_fragment);
                prop_assert_eq!(ip4.options.as_slice(), &[1u8; 40][..opt_words * 4]);
                prop_assert_eq!(ip4.header_checksum, ip4.calc_header_checksum());
                match h.transport.unwrap() {
                    TransportHeader::Tcp(t) => {
                        let L4::Tcp { sport, dport, seq, flags } = l4 else { panic!() };
                        prop_assert_eq!((t.source_port, t.destination_port, t.sequence_number), (sport, dport, seq));
                        prop_assert_eq!((t.syn, t.fin, t.rst, t.ack), (flags & 2 != 0, flags & 1 != 0, flags & 4 != 0, flags & 16 != 0));
                        prop_assert_eq!(t.checksum, t.calc_checksum_ipv4(&ip4, &payload).unwrap());
                    }
                    TransportHeader::Udp(u) => {
                        let L4::Udp { sport, dport } = l4 else { panic!() };
                        prop_assert_eq!((u.source_port, u.destination_port), (sport, dport));
                        prop_assert_eq!(u.checksum, u.calc_checksum_ipv4(&ip4, &payload).unwrap());
                    }
                    TransportHeader::Icmpv4(i) => {
                        prop_assert_eq!(i.checksum, i.icmp_type.calc_checksum(&payload));
                    }
                    t => panic!("{t:?}"),
                }
            }
            NetHeaders::Ipv6(ip6, _) => {
                prop_assert_eq!(v6(ip6.source), src);
                prop_assert_eq!(v6(ip6.destination), dst);
                prop_assert_eq!(ip6.hop_limit, ttl);
                match h.transport.unwrap() {
                    TransportHeader::Tcp(t) => {
                        prop_assert_eq!(t.checksum, t.calc_checksum_ipv6(&ip6, &payload).unwrap());
                    }
                    TransportHeader::Udp(u) => {
                        prop_assert_eq!(u.checksum, u.calc_checksum_ipv6(&ip6, &payload).unwrap());
                    }
                    TransportHeader::Icmpv6(i) => {
                        prop_assert_eq!(i.checksum, i.icmp_type.calc_checksum(ip6.source, ip6.destination, &payload).unwrap());
                        prop_assert_eq!(ip6.next_header, IpNumber::IPV6_ICMP);
                    }
                    t => panic!("{t:?}"),
                }
            }
        }
    }

    /// RFC 1624 incremental updates of the TCP/UDP (and IPv4 header) checksums equal a full
    /// recompute, for port, sequence and (pseudo-header) address changes, v4 and v6.
    #[test]
    fn incremental_checksum_equals_recompute(
        (src, dst) in addrs_strategy(),
        l4 in l4_only(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        changes in proptest::collection::vec(change_strategy(), 1..4),
    ) {
        let mut f = our_frame(None, src, dst, 64, &l4, &payload, 0);
        let is_v4 = src.is_ipv4();
        let is_udp = matches!(l4, L4::Udp { .. });
        let (hl, alen) = if is_v4 { (20, 4) } else { (40, 16) };
        let l3 = 14;
        let l4o = l3 + hl;
        let ck = l4o + if is_udp { 6 } else { 16 };
        let mut cur_src = src;
        let mut cur_dst = dst;
        for ch in changes {
            let csum = u16::from_be_bytes([f[ck], f[ck + 1]]);
            let (new_l4, new_ip) = match ch {
                Change::Src(a) | Change::Dst(a) => {
                    let at = l3 + match (is_v4, matches!(ch, Change::Src(_))) {
                        (true, true) => 12,
                        (true, false) => 16,
                        (false, true) => 8,
                        (false, false) => 24,
                    };
                    let old = swap_bytes(&mut f, at, &a[..alen]);
                    let upd = if is_udp && is_v4 {
                        checksum::update_bytes_udp(csum, &old, &a[..alen])
                    } else if is_udp {
                        checksum::update_bytes_udp6(csum, &old, &a[..alen])
                    } else {
                        checksum::update_bytes(csum, &old, &a[..alen])
                    };
                    let ipc = is_v4.then(|| {
                        let ic = u16::from_be_bytes([f[l3 + 10], f[l3 + 11]]);
                        checksum::update_bytes(ic, &old, &a[..alen])
                    });
                    (upd, ipc)
                }
                Change::Sport(p) | Change::Dport(p) => {
                    let at = l4o + if matches!(ch, Change::Sport(_)) { 0 } else { 2 };
                    let old = swap_bytes(&mut f, at, &p.to_be_bytes());
                    let old = u16::from_be_bytes([old[0], old[1]]);
                    let upd = if is_udp && is_v4 {
                        checksum::update16_udp(csum, old, p)
                    } else if is_udp {
                        checksum::update16_udp6(csum, old, p)
                    } else {
                        checksum::update16(csum, old, p)
                    };
                    (upd, None)
                }
                Change::Seq(s) => {
                    if is_udp {
                        continue;
                    }
                    let old = swap_bytes(&mut f, l4o + 4, &s.to_be_bytes());
                    let old = u32::from_be_bytes([old[0], old[1], old[2], old[3]]);
                    (checksum::update32(csum, old, s), None)
                }
            };
            f[ck..ck + 2].copy_from_slice(&new_l4.to_be_bytes());
            if let Some(c) = new_ip {
                f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
            }
            let ip = ip_of(&parse_frame(&f).unwrap());
            cur_src = ip.src;
            cur_dst = ip.dst;
            // Full recompute on a copy.
            let mut g = f.clone();
            if is_v4 {
                ipv4::Packet::new_unchecked(&mut g[l3..]).fill_checksum();
                prop_assert_eq!(&g[l3 + 10..l3 + 12], &f[l3 + 10..l3 + 12]);
            }
            if is_udp {
                udp::Packet::new_unchecked(&mut g[l4o..]).fill_checksum(&cur_src, &cur_dst);
            } else {
                tcp::Packet::new_unchecked(&mut g[l4o..]).fill_checksum(&cur_src, &cur_dst);
            }
            prop_assert_eq!(&g[ck..ck + 2], &f[ck..ck + 2], "after {:?}", ch);
        }
        let seg = &f[l4o..];
        if is_udp {
            prop_assert!(udp::Packet::new_checked(seg).unwrap().verify_checksum(&cur_src, &cur_dst));
        } else {
            prop_assert!(tcp::Packet::new_checked(seg).unwrap().verify_checksum(&cur_src, &cur_dst));
        }
    }

    /// IPv4 UDP with no checksum (stored 0) keeps 0 through any update.
    #[test]
    fn udp_v4_zero_checksum_stays_zero(old in any::<[u8; 4]>(), new in any::<[u8; 4]>(), p in any::<u16>(), q in any::<u16>()) {
        prop_assert_eq!(checksum::update_bytes_udp(0, &old, &new), 0);
        prop_assert_eq!(checksum::update16_udp(0, p, q), 0);
        prop_assert_ne!(checksum::update16_udp(1 + (p % 0xfffe), p, q), 0);
    }

    /// parse_frame and every view never panic on arbitrary bytes.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..160)) {
        let _ = robust::exercise_frame(&data);
        let _ = robust::exercise_views(&data);
        // Also as if it were behind an Ethernet header of each interesting type.
        for et in [ethertype::IPV4, ethertype::IPV6, ethertype::ARP, ethertype::VLAN] {
            let mut f = vec![0u8; 12];
            f.extend_from_slice(&et.to_be_bytes());
            f.extend_from_slice(&data);
            let _ = robust::exercise_frame(&f);
        }
    }

    /// Mutations and truncations of valid frames never panic.
    #[test]
    fn mutated_frames_never_panic(
        vlan in proptest::option::of(0u16..4096),
        (src, dst) in addrs_strategy(),
        l4 in l4_strategy(),
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        icmp in any::<bool>(),
    ) {
        let mut f = ep_frame(vlan, src, dst, 64, &l4, &payload);
        if icmp {
            // Wrap the frame's IP packet in an ICMP error so the inner parser is hit too.
            let l3 = if vlan.is_some() { 18 } else { 14 };
            let mut out = Vec::new();
            match src {
                IpAddr::V4(s) => icmpv4_unreachable(&mut out, SMAC, DMAC, vlan, s, 3, 0, &f[l3..]).unwrap(),
                IpAddr::V6(s) => icmpv6_error(&mut out, SMAC, DMAC, vlan, s, 1, 4, 0, &f[l3..]).unwrap(),
            }
            f = out;
        }
        prop_assert!(robust::exercise_frame(&f));
        for (i, b) in muts {
            let i = i.index(f.len());
            f[i] = b;
            let _ = robust::exercise_frame(&f);
            let _ = robust::exercise_views(&f[i.min(f.len())..]);
        }
        let n = cut.index(f.len() + 1);
        let _ = robust::exercise_frame(&f[..n]);
        let _ = robust::exercise_views(&f[..n]);
    }

    /// The ICMP error builders: etherparse accepts the frames, checksums are valid, the
    /// quote is right, IPv6 errors stay within 1280 bytes.
    #[test]
    fn icmp_error_builders(
        vlan in proptest::option::of(0u16..4096),
        (src, dst) in addrs_strategy(),
        me in any::<[u8; 16]>(),
        l4 in l4_only(),
        plen in 0usize..1600,
        code_frag in any::<bool>(),
        mtu in any::<u32>(),
    ) {
        let payload: Vec<u8> = (0..plen).map(|i| i as u8).collect();
        let orig = ep_frame(None, src, dst, 64, &l4, &payload);
        let orig_ip = &orig[14..];
        let mut out = vec![0xaa; 3];
        let (sport, dport) = match l4 {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => (sport, dport),
            L4::Echo { .. } => unreachable!(),
        };
        let h = match src {
            IpAddr::V4(s) => {
                let me4 = Ipv4Addr::new(me[0], me[1], me[2], me[3]);
                let code = if code_frag { 4 } else { 3 };
                icmpv4_unreachable(&mut out, SMAC, DMAC, vlan, me4, code, mtu as u16, orig_ip).unwrap();
                let h = PacketHeaders::from_ethernet_slice(&out).unwrap();
                let NetHeaders::Ipv4(ip, _) = h.net.clone().unwrap() else { panic!() };
                prop_assert_eq!((ip.source, ip.destination), (me4.octets(), s.octets()));
                prop_assert_eq!((ip.time_to_live, ip.identification, ip.dont_fragment), (64, 0, false));
                prop_assert_eq!(ip.protocol, IpNumber::ICMP);
                prop_assert_eq!(ip.header_checksum, ip.calc_header_checksum());
                let Some(TransportHeader::Icmpv4(icmp)) = h.transport.clone() else { panic!() };
                prop_assert_eq!(icmp.checksum, icmp.icmp_type.calc_checksum(h.payload.slice()));
                prop_assert_eq!(h.payload.slice(), &orig_ip[..28]);
                let l4o = out.len() - 28 - 8;
                prop_assert_eq!(&out[l4o..l4o + 2], &[3, code]);
                let want_mtu = if code_frag { mtu as u16 } else { 0 };
                prop_assert_eq!(&out[l4o + 6..l4o + 8], &want_mtu.to_be_bytes());
                h
            }
            IpAddr::V6(s) => {
                let me6 = Ipv6Addr::from(me);
                let (ty, code) = if code_frag { (2, 0) } else { (1, 4) };
                icmpv6_error(&mut out, SMAC, DMAC, vlan, me6, ty, code, mtu, orig_ip).unwrap();
                let h = PacketHeaders::from_ethernet_slice(&out).unwrap();
                let NetHeaders::Ipv6(ip, _) = h.net.clone().unwrap() else { panic!() };
                prop_assert_eq!((ip.source, ip.destination, ip.hop_limit), (me, s.octets(), 64));
                prop_assert!(40 + usize::from(ip.payload_length) <= 1280);
                let Some(TransportHeader::Icmpv6(icmp)) = h.transport.clone() else { panic!() };
                prop_assert_eq!(icmp.checksum, icmp.icmp_type.calc_checksum(ip.source, ip.destination, h.payload.slice()).unwrap());
                let q = orig_ip.len().min(1280 - 48);
                prop_assert_eq!(h.payload.slice(), &orig_ip[..q]);
                prop_assert_eq!(out.len() - if vlan.is_some() { 18 } else { 14 }, 48 + q);
                let l4o = out.len() - q - 8;
                prop_assert_eq!(&out[l4o..l4o + 2], &[ty, code]);
                let want_mtu = if code_frag { mtu } else { 0 };
                prop_assert_eq!(&out[l4o + 4..l4o + 8], &want_mtu.to_be_bytes());
                h
            }
        };
        match (vlan, h.vlan) {
            (None, None) => {}
            (Some(v), Some(VlanHeader::Single(t))) => prop_assert_eq!(t.vlan_id.value(), v),
            (w, g) => panic!("vlan {w:?} parsed as {g:?}"),
        }
        // Our own parser sees the embedded flow.
        let info = parse_frame(&out).unwrap();
        let inner = icmp_inner(&out, &info).unwrap().unwrap();
        prop_assert_eq!((inner.src, inner.dst), (src, dst));
        prop_assert_eq!(inner.ports, Some((sport, dport)));
    }
}

#[test]
fn builders_reject_bad_originals() {
    let mut out = vec![1, 2, 3];
    let me = Ipv4Addr::new(1, 2, 3, 4);
    assert_eq!(
        icmpv4_unreachable(&mut out, SMAC, DMAC, None, me, 3, 0, &[0x45; 19]).unwrap_err(),
        WireError::Truncated(Layer::Inner)
    );
    assert!(out.is_empty());
    let mut o = [0u8; 28];
    o[0] = 0x65;
    assert_eq!(
        icmpv4_unreachable(&mut out, SMAC, DMAC, None, me, 3, 0, &o).unwrap_err(),
        WireError::BadVersion
    );
    o[0] = 0x43;
    assert_eq!(
        icmpv4_unreachable(&mut out, SMAC, DMAC, None, me, 3, 0, &o).unwrap_err(),
        WireError::BadHeaderLen
    );
    o[0] = 0x46;
    assert_eq!(
        icmpv4_unreachable(&mut out, SMAC, DMAC, None, me, 3, 0, &o[..23]).unwrap_err(),
        WireError::Truncated(Layer::Inner)
    );
    let me6 = Ipv6Addr::LOCALHOST;
    assert_eq!(
        icmpv6_error(&mut out, SMAC, DMAC, None, me6, 1, 4, 0, &[0x60; 39]).unwrap_err(),
        WireError::Truncated(Layer::Inner)
    );
    assert_eq!(
        icmpv6_error(&mut out, SMAC, DMAC, None, me6, 1, 4, 0, &[0x40; 40]).unwrap_err(),
        WireError::BadVersion
    );
}

#[test]
fn error_names_are_stable() {
    let all = [
        WireError::Truncated(Layer::Ethernet),
        WireError::Truncated(Layer::Vlan),
        WireError::Truncated(Layer::Arp),
        WireError::Truncated(Layer::Ipv4),
        WireError::Truncated(Layer::Ipv6),
        WireError::Truncated(Layer::ExtHeader),
        WireError::Truncated(Layer::Tcp),
        WireError::Truncated(Layer::Udp),
        WireError::Truncated(Layer::Sctp),
        WireError::Truncated(Layer::Icmp),
        WireError::Truncated(Layer::Inner),
        WireError::BadVersion,
        WireError::BadHeaderLen,
        WireError::BadTotalLen,
        WireError::BadDataOffset,
        WireError::BadUdpLen,
        WireError::TooManyExtHeaders,
        WireError::BadArp,
    ];
    let names: std::collections::HashSet<_> = all.iter().map(|e| e.as_str()).collect();
    assert_eq!(names.len(), all.len(), "names must be distinct");
    for e in all {
        if let WireError::Truncated(l) = e {
            assert_eq!(e.as_str(), format!("truncated-{}", l.as_str()));
            assert_eq!(e.to_string(), format!("truncated {}", l.as_str()));
        }
    }
    assert_eq!(
        WireError::TooManyExtHeaders.to_string(),
        "too many IPv6 extension headers"
    );
}
