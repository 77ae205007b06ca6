//! Drive every view over arbitrary bytes. Used by the fuzz targets (`wire_views`,
//! `wire_parse_frame`), the corpus replay test and the robustness proptests: the property
//! is simply that nothing panics and that a successful parse re-emits consistently.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{arp, ethernet, icmpv4, icmpv6, ipv4, ipv6, parse_frame, sctp, tcp, udp};

/// Run [`parse_frame`] over `data`, and when it succeeds touch every offset it reports
/// (they must lie within the frame). Returns whether the frame parsed.
///
/// # Panics
/// Only if a reported offset lies outside the frame, which would be a bug in
/// [`parse_frame`] (that is what the fuzz target looks for).
pub fn exercise_frame(data: &[u8]) -> bool {
    let Ok(info) = parse_frame(data) else {
        return false;
    };
    assert!(info.l3 <= data.len(), "l3 beyond the frame");
    if let super::FrameKind::Ip(ip) = info.kind {
        assert!(
            info.l3 + ip.total_len <= data.len(),
            "IP packet beyond the frame"
        );
        assert!(ip.l4 <= info.l3 + ip.total_len, "l4 beyond the IP packet");
        if let super::L4Info::Tcp { hlen, .. } = ip.l4info {
            assert!(
                ip.l4 + hlen <= info.l3 + ip.total_len,
                "TCP header beyond the packet"
            );
        }
        if let super::L4Info::Icmp { error, .. } = ip.l4info {
            let inner = super::icmp_inner(data, &info);
            assert!(inner.is_ok(), "a parsed ICMP error re-parses its quote");
            assert_eq!(
                matches!(inner, Ok(Some(_))),
                error,
                "an error has a quoted packet"
            );
        }
        if let super::L4Info::Icmp { error: true, .. } = ip.l4info
            && let Ok(Some(inner)) = super::icmp_inner(data, &info)
        {
            assert!(
                inner.l3 <= data.len() && inner.l4 >= inner.l3,
                "inner offsets"
            );
            if inner.ports.is_some() {
                assert!(inner.l4 + 4 <= data.len(), "inner ports beyond the frame");
            }
        }
    }
    true
}

/// Run `new_checked` + `Repr::parse` (+ emit into a scratch buffer, + checksum checks) of
/// every view over `data`, each from offset 0. Returns how many views accepted the bytes.
///
/// # Panics
/// Only if a view re-emits a header that does not check out (a bug in the view).
pub fn exercise_views(data: &[u8]) -> usize {
    let mut ok = 0;
    let mut scratch = [0u8; 128];
    let a4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let a6 = IpAddr::V6(Ipv6Addr::LOCALHOST);

    if let Ok(p) = ethernet::Packet::new_checked(data)
        && let Ok(r) = ethernet::Repr::parse(&p)
    {
        ok += 1;
        r.emit(&mut ethernet::Packet::new_unchecked(&mut scratch[..]));
        let _ = p.payload();
    }
    if let Ok(p) = arp::Packet::new_checked(data) {
        let _ = (p.source_hardware_addr(), p.target_protocol_addr());
        if let Ok(r) = arp::Repr::parse(&p) {
            ok += 1;
            r.emit(&mut arp::Packet::new_unchecked(&mut scratch[..]));
        }
    }
    if let Ok(p) = ipv4::Packet::new_checked(data) {
        let _ = (p.verify_checksum(), p.options(), p.payload());
        if let Ok(r) = ipv4::Repr::parse(&p) {
            ok += 1;
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
            let q = ipv4::Packet::new_checked(&buf[..]).map(|q| q.verify_checksum());
            assert_eq!(q, Ok(true), "re-emitted IPv4 header must check out");
        }
    }
    if let Ok(p) = ipv6::Packet::new_checked(data) {
        let _ = p.walk();
        let _ = ipv6::walk_ext_headers_lax(p.next_header(), data.get(40..).unwrap_or(&[]));
        if let Ok(r) = ipv6::Repr::parse(&p) {
            ok += 1;
            r.emit(&mut ipv6::Packet::new_unchecked(&mut scratch[..]));
        }
    }
    if let Ok(p) = tcp::Packet::new_checked(data) {
        let _ = (
            p.verify_checksum(&a4, &a4),
            p.verify_checksum(&a6, &a6),
            p.payload(),
        );
        if let Ok(r) = tcp::Repr::parse(&p) {
            ok += 1;
            let mut buf = vec![0u8; r.buffer_len()];
            let mut q = tcp::Packet::new_unchecked(&mut buf[..]);
            r.emit(&mut q);
            q.payload_mut().copy_from_slice(p.payload());
            q.fill_checksum(&a4, &a4);
            assert!(q.verify_checksum(&a4, &a4));
        }
    }
    if let Ok(p) = udp::Packet::new_checked(data) {
        let _ = (p.verify_checksum(&a4, &a4), p.verify_checksum(&a6, &a6));
        if let Ok(r) = udp::Repr::parse(&p) {
            ok += 1;
            let mut buf = vec![0u8; r.buffer_len()];
            let mut q = udp::Packet::new_unchecked(&mut buf[..]);
            r.emit(&mut q);
            q.payload_mut().copy_from_slice(p.payload());
            q.fill_checksum(&a6, &a6);
            assert!(q.verify_checksum(&a6, &a6));
        }
    }
    if let Ok(p) = sctp::Packet::new_checked(data) {
        let _ = (
            p.verify_checksum(),
            p.chunks().count(),
            p.first_chunk_type(),
        );
        if let Ok(r) = sctp::Repr::parse(&p) {
            ok += 1;
            let mut buf = vec![0u8; r.buffer_len()];
            let mut q = sctp::Packet::new_unchecked(&mut buf[..]);
            r.emit(&mut q);
            q.payload_mut().copy_from_slice(p.payload());
            q.fill_checksum();
            assert!(q.verify_checksum());
        }
    }
    if let Ok(p) = icmpv4::Packet::new_checked(data) {
        let _ = (p.verify_checksum(), p.next_hop_mtu());
        if let Ok(r) = icmpv4::Repr::parse(&p) {
            ok += 1;
            r.emit(&mut icmpv4::Packet::new_unchecked(&mut scratch[..]));
        }
    }
    if let Ok(p) = icmpv6::Packet::new_checked(data) {
        let _ = p.verify_checksum(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED);
        if let Ok(r) = icmpv6::Repr::parse(&p) {
            ok += 1;
            r.emit(&mut icmpv6::Packet::new_unchecked(&mut scratch[..]));
        }
    }
    ok
}
