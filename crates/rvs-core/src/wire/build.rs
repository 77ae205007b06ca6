//! Construction of the ICMP errors the packet engine answers with.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ethernet::{self, Mac};
use super::field::{arr, u8_at};
use super::{Layer, WireError, ethertype, icmpv4, icmpv6, ipproto, ipv4, ipv6};

/// Hop limit / TTL of the errors rvs sends.
pub const TTL: u8 = 64;

fn push_ethernet(out: &mut Vec<u8>, src_mac: Mac, dst_mac: Mac, vlan: Option<u16>, et: u16) {
    let repr = ethernet::Repr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        vlan,
        ethertype: et,
    };
    let start = out.len();
    out.resize(start + repr.buffer_len(), 0);
    repr.emit(&mut ethernet::Packet::new_unchecked(&mut out[start..]));
}

/// Write into `out` (cleared first) a complete Ethernet frame carrying an ICMPv4
/// destination-unreachable (type 3) with `code` (3 = port unreachable, 4 = fragmentation
/// needed with `mtu` in the next-hop MTU field; other codes leave that field 0) about
/// `orig_ip` (the offending IP packet from its IP header). The quote is the IP header plus
/// 8 bytes (RFC 792): `min(orig_ip.len(), ihl + 8)`. IP: src = `src`, dst = the original
/// source, TTL 64, ID 0, DF 0, protocol 1, checksums filled. Ethernet: dst = `dst_mac`,
/// src = `src_mac`, type 0x0800, with a `vlan` tag if `Some`.
///
/// Errors: `orig_ip` shorter than 20 bytes or than its IHL (`Truncated(Inner)`), not
/// version 4 (`BadVersion`), IHL < 5 (`BadHeaderLen`).
#[allow(clippy::too_many_arguments)]
pub fn icmpv4_unreachable(
    out: &mut Vec<u8>,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlan: Option<u16>,
    src: Ipv4Addr,
    code: u8,
    mtu: u16,
    orig_ip: &[u8],
) -> Result<(), WireError> {
    out.clear();
    if orig_ip.len() < ipv4::MIN_HEADER_LEN {
        return Err(WireError::Truncated(Layer::Inner));
    }
    let b0 = u8_at(orig_ip, 0);
    if b0 >> 4 != 4 {
        return Err(WireError::BadVersion);
    }
    let ihl = usize::from(b0 & 0x0f) * 4;
    if ihl < ipv4::MIN_HEADER_LEN {
        return Err(WireError::BadHeaderLen);
    }
    if orig_ip.len() < ihl {
        return Err(WireError::Truncated(Layer::Inner));
    }
    let quote = &orig_ip[..orig_ip.len().min(ihl + 8)];
    let dst = Ipv4Addr::from(arr::<4>(orig_ip, 12));

    push_ethernet(out, src_mac, dst_mac, vlan, ethertype::IPV4);
    let l3 = out.len();
    let icmp_len = icmpv4::HEADER_LEN + quote.len();
    let ip = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: ipproto::ICMP,
        payload_len: icmp_len,
        ttl: TTL,
        tos: 0,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        options: [0; 40],
        options_len: 0,
    };
    out.resize(l3 + ip.buffer_len(), 0);
    let (_, ip_buf) = out.split_at_mut(l3);
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut *ip_buf));
    let icmp_buf = ip_buf.get_mut(ip.header_len()..).unwrap_or(&mut []);
    let rest = if code == icmpv4::codes::FRAG_NEEDED {
        u32::from(mtu)
    } else {
        0
    };
    let mut icmp = icmpv4::Packet::new_unchecked(icmp_buf);
    icmp.set_msg_type(icmpv4::types::DEST_UNREACHABLE);
    icmp.set_code(code);
    icmp.set_rest_of_header(rest);
    icmp.payload_mut().copy_from_slice(quote);
    icmp.fill_checksum();
    Ok(())
}

/// ICMPv6 error: destination unreachable (type 1, code 4 = port unreachable), packet too
/// big (type 2, `mtu` in the 32-bit field), or any other type (`mtu` is written into the
/// 32-bit field for types 2 and 4 — the pointer of a parameter problem — and 0 otherwise).
/// Quotes as much of `orig_ip` as keeps the whole IPv6 packet <= 1280 bytes (RFC 4443).
/// IPv6: src = `src`, dst = the original source, hop limit 64, checksum with the
/// pseudo-header. Ethernet as for [`icmpv4_unreachable`], type 0x86DD.
///
/// Errors: `orig_ip` shorter than 40 bytes (`Truncated(Inner)`), not version 6
/// (`BadVersion`).
#[allow(clippy::too_many_arguments)]
pub fn icmpv6_error(
    out: &mut Vec<u8>,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlan: Option<u16>,
    src: Ipv6Addr,
    ty: u8,
    code: u8,
    mtu: u32,
    orig_ip: &[u8],
) -> Result<(), WireError> {
    out.clear();
    if orig_ip.len() < ipv6::HEADER_LEN {
        return Err(WireError::Truncated(Layer::Inner));
    }
    if u8_at(orig_ip, 0) >> 4 != 6 {
        return Err(WireError::BadVersion);
    }
    let max_quote = icmpv6::MIN_MTU - ipv6::HEADER_LEN - icmpv6::HEADER_LEN;
    let quote = &orig_ip[..orig_ip.len().min(max_quote)];
    let dst = Ipv6Addr::from(arr::<16>(orig_ip, 8));

    push_ethernet(out, src_mac, dst_mac, vlan, ethertype::IPV6);
    let l3 = out.len();
    let icmp_len = icmpv6::HEADER_LEN + quote.len();
    let ip = ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: ipproto::ICMPV6,
        payload_len: icmp_len,
        hop_limit: TTL,
        traffic_class: 0,
        flow_label: 0,
    };
    out.resize(l3 + ip.buffer_len(), 0);
    let (_, ip_buf) = out.split_at_mut(l3);
    ip.emit(&mut ipv6::Packet::new_unchecked(&mut *ip_buf));
    let icmp_buf = ip_buf.get_mut(ipv6::HEADER_LEN..).unwrap_or(&mut []);
    let rest = if matches!(
        ty,
        icmpv6::types::PACKET_TOO_BIG | icmpv6::types::PARAM_PROBLEM
    ) {
        mtu
    } else {
        0
    };
    let mut icmp = icmpv6::Packet::new_unchecked(icmp_buf);
    icmp.set_msg_type(ty);
    icmp.set_code(code);
    icmp.set_rest_of_header(rest);
    icmp.payload_mut().copy_from_slice(quote);
    icmp.fill_checksum(&src, &dst);
    Ok(())
}
