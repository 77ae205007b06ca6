//! IPv6 headers (RFC 8200) and the extension-header walk.

use std::net::Ipv6Addr;

use super::field::{be16, be32, ip6, put, put8, put16, put32, slice, slice_mut, u8_at};
use super::{Layer, WireError, ipproto};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Most extension headers walked before [`WireError::TooManyExtHeaders`].
pub const MAX_EXT_HEADERS: usize = 8;

/// A view of an IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    super::view_constructors!();

    /// Check that the fixed header is present and `40 + payload length` fits the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(WireError::Truncated(Layer::Ipv6))
        } else if self.total_len() > len {
            Err(WireError::BadTotalLen)
        } else {
            Ok(())
        }
    }

    /// Version nibble (6).
    #[inline]
    pub fn version(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 0) >> 4
    }

    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((be16(self.buffer.as_ref(), 0) >> 4) & 0xff) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), 0) & 0x000f_ffff
    }

    /// Payload length (everything after the fixed header, extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// 40 + payload length.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// Next header (of the fixed header).
    #[inline]
    pub fn next_header(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 6)
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 7)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        ip6(self.buffer.as_ref(), 8)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        ip6(self.buffer.as_ref(), 24)
    }

    /// The payload (bytes 40 .. 40 + payload length, bounded by the buffer).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        slice(b, HEADER_LEN, self.total_len().min(b.len()))
    }

    /// Walk the extension headers of the payload (see [`walk_ext_headers`]).
    #[inline]
    pub fn walk(&self) -> Result<ExtWalk, WireError> {
        walk_ext_headers(self.next_header(), self.payload())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set version 6, traffic class and flow label.
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let w = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        put32(self.buffer.as_mut(), 0, w);
    }

    /// Set the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 4, v);
    }

    /// Set the next header.
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 6, v);
    }

    /// Set the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 7, v);
    }

    /// Set the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: &Ipv6Addr) {
        put(self.buffer.as_mut(), 8, &a.octets());
    }

    /// Set the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: &Ipv6Addr) {
        put(self.buffer.as_mut(), 24, &a.octets());
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let total = self.total_len();
        let b = self.buffer.as_mut();
        let end = total.min(b.len());
        slice_mut(b, HEADER_LEN, end)
    }
}

/// The contents of a fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragHeader {
    /// Fragment offset in bytes (a multiple of 8).
    pub offset: u16,
    /// More fragments.
    pub more: bool,
    /// Identification.
    pub ident: u32,
}

/// Where the extension-header walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtWalk {
    /// The upper-layer protocol (or ESP / NONE / an unknown value / the header after a
    /// non-first fragment).
    pub proto: u8,
    /// Offset of that header from the start of the walked bytes.
    pub offset: usize,
    /// The fragment header, if one was walked.
    pub frag: Option<FragHeader>,
    /// Whether the walk stopped early because the bytes ran out inside an extension header
    /// (only with [`walk_ext_headers_lax`]); `proto`/`offset` then name that header.
    pub truncated: bool,
}

/// Whether `proto` is an extension header the walk steps over.
#[inline]
pub fn is_ext_header(proto: u8) -> bool {
    matches!(
        proto,
        ipproto::HOPOPTS | ipproto::ROUTING | ipproto::DSTOPTS | ipproto::FRAGMENT | ipproto::AH
    )
}

/// Walk hop-by-hop, routing, destination options, fragment and AH headers starting with
/// `next` at the start of `data` (the IPv6 payload), at most [`MAX_EXT_HEADERS`] of them.
/// ESP, NONE and anything else stop the walk. After a fragment header with a non-zero
/// offset the walk stops too: what follows is not a header.
#[inline]
pub fn walk_ext_headers(next: u8, data: &[u8]) -> Result<ExtWalk, WireError> {
    walk(next, data, false)
}

/// [`walk_ext_headers`] for quoted (possibly truncated) bytes, as in an ICMP error: an
/// extension header cut short stops the walk with `truncated` set instead of failing.
#[inline]
pub fn walk_ext_headers_lax(next: u8, data: &[u8]) -> Result<ExtWalk, WireError> {
    walk(next, data, true)
}

#[inline]
fn walk(mut next: u8, data: &[u8], lax: bool) -> Result<ExtWalk, WireError> {
    let mut off = 0usize;
    let mut frag = None;
    let mut count = 0usize;
    while is_ext_header(next) {
        if count == MAX_EXT_HEADERS {
            return Err(WireError::TooManyExtHeaders);
        }
        count += 1;
        let hdr_len = match next {
            ipproto::FRAGMENT => 8,
            ipproto::AH => (usize::from(u8_at(data, off + 1)) + 2) * 4,
            _ => (usize::from(u8_at(data, off + 1)) + 1) * 8,
        };
        if data.len() < off + 2 || data.len() < off + hdr_len {
            if lax {
                return Ok(ExtWalk {
                    proto: next,
                    offset: off,
                    frag,
                    truncated: true,
                });
            }
            return Err(WireError::Truncated(Layer::ExtHeader));
        }
        let following = u8_at(data, off);
        if next == ipproto::FRAGMENT {
            let w = be16(data, off + 2);
            let fh = FragHeader {
                offset: w & 0xfff8,
                more: w & 1 != 0,
                ident: be32(data, off + 4),
            };
            frag = Some(fh);
            if fh.offset != 0 {
                return Ok(ExtWalk {
                    proto: following,
                    offset: off + 8,
                    frag,
                    truncated: false,
                });
            }
        }
        off += hdr_len;
        next = following;
    }
    Ok(ExtWalk {
        proto: next,
        offset: off,
        frag,
        truncated: false,
    })
}

/// Parsed IPv6 fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header of the fixed header.
    pub next_header: u8,
    /// Payload length.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label.
    pub flow_label: u32,
}

impl Repr {
    /// Parse a checked packet (version must be 6).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        if p.version() != 6 {
            return Err(WireError::BadVersion);
        }
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: usize::from(p.payload_len()),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        })
    }

    /// 40 + payload length.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write the fixed header into `p`; the payload is the caller's.
    pub fn emit(&self, p: &mut Packet<&mut [u8]>) {
        p.set_version_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(u16::try_from(self.payload_len).unwrap_or(u16::MAX));
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(&self.src_addr);
        p.set_dst_addr(&self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2001:db8::1 -> 2001:db8::2, TC 0x12, flow 0x34567, hop-by-hop(8) + fragment(8) + UDP.
    static PACKET: [u8; 64] = [
        0x61, 0x23, 0x45, 0x67, 0x00, 0x18, 0x00, 0x40, // ver/tc/flow, plen 24, nh 0, hl 64
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // src
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // dst
        0x2c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // hop-by-hop: nh 44, len 0, PadN
        0x11, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, // fragment: nh 17, offset 0, M
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00, // udp
    ];

    #[test]
    fn parse_fields() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0x12);
        assert_eq!(p.flow_label(), 0x34567);
        assert_eq!(p.payload_len(), 24);
        assert_eq!(p.next_header(), 0);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        let w = p.walk().unwrap();
        assert_eq!(w.proto, 17);
        assert_eq!(w.offset, 16);
        assert_eq!(
            w.frag,
            Some(FragHeader {
                offset: 0,
                more: true,
                ident: 0xdeadbeef
            })
        );
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 64];
        out[40..].copy_from_slice(&PACKET[40..]);
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, PACKET);
    }

    #[test]
    fn later_fragment_stops_walk() {
        let mut b = PACKET;
        b[50] = 0x05; // offset 0x0500 >> 3 units -> 1280 bytes
        b[51] = 0x00;
        let w = Packet::new_checked(&b[..]).unwrap().walk().unwrap();
        assert_eq!(w.proto, 17);
        assert_eq!(w.offset, 16);
        assert_eq!(w.frag.unwrap().offset, 1280);
        assert!(!w.frag.unwrap().more);
    }

    #[test]
    fn errors() {
        assert_eq!(
            Packet::new_checked(&PACKET[..39]).unwrap_err(),
            WireError::Truncated(Layer::Ipv6)
        );
        assert_eq!(
            Packet::new_checked(&PACKET[..63]).unwrap_err(),
            WireError::BadTotalLen
        );
        let mut b = PACKET;
        b[0] = 0x41;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap_err(), WireError::BadVersion);
        // A hop-by-hop header claiming 16 bytes where only 8 remain before the end.
        assert_eq!(
            walk_ext_headers(0, &[0x3b, 0x01, 0, 0, 0, 0, 0, 0]).unwrap_err(),
            WireError::Truncated(Layer::ExtHeader)
        );
        let lax = walk_ext_headers_lax(0, &[0x3b, 0x01, 0, 0, 0, 0, 0, 0]).unwrap();
        assert!(lax.truncated);
        assert_eq!((lax.proto, lax.offset), (0, 0));
    }

    #[test]
    fn ext_header_limit_and_ah() {
        // 8 destination-options headers then NONE: fine. 9: too many.
        let mut d = Vec::new();
        for _ in 0..7 {
            d.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        d.extend_from_slice(&[59, 0, 1, 4, 0, 0, 0, 0]);
        let w = walk_ext_headers(60, &d).unwrap();
        assert_eq!((w.proto, w.offset), (59, 64));
        let mut d9 = vec![60, 0, 1, 4, 0, 0, 0, 0];
        d9.extend_from_slice(&d);
        assert_eq!(
            walk_ext_headers(60, &d9).unwrap_err(),
            WireError::TooManyExtHeaders
        );
        // AH: payload len 4 -> (4 + 2) * 4 = 24 bytes, then TCP.
        let mut ah = vec![6, 4, 0, 0];
        ah.resize(24, 0);
        let w = walk_ext_headers(51, &ah).unwrap();
        assert_eq!((w.proto, w.offset), (6, 24));
        // ESP stops the walk at once.
        let w = walk_ext_headers(50, &[]).unwrap();
        assert_eq!((w.proto, w.offset), (50, 0));
    }
}
