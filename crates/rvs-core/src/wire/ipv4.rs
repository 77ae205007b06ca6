//! IPv4 headers (RFC 791), options skipped or copied via IHL.

use std::net::Ipv4Addr;

use super::checksum;
use super::field::{be16, ip4, put, put8, put16, slice, slice_mut, u8_at};
use super::{Layer, WireError};

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Longest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;
/// DF flag in the flags/fragment-offset word.
pub const FLAG_DF: u16 = 0x4000;
/// MF flag in the flags/fragment-offset word.
pub const FLAG_MF: u16 = 0x2000;
/// Fragment-offset mask (8-byte units).
pub const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    super::view_constructors!();

    /// Check the lengths: 20 bytes present, IHL >= 5 and present, header length <= total
    /// length <= buffer length (the buffer may be longer, e.g. Ethernet padding).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(WireError::Truncated(Layer::Ipv4));
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if len < hl {
            return Err(WireError::Truncated(Layer::Ipv4));
        }
        let total = usize::from(self.total_len());
        if total < hl || total > len {
            return Err(WireError::BadTotalLen);
        }
        Ok(())
    }

    /// Version nibble (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 0) >> 4
    }

    /// Header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(u8_at(self.buffer.as_ref(), 0) & 0x0f) * 4
    }

    /// The TOS byte (DSCP << 2 | ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 1)
    }

    /// Total length.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// The flags/fragment-offset word.
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 8)
    }

    /// Protocol.
    #[inline]
    pub fn protocol(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 9)
    }

    /// Header checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 10)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        ip4(self.buffer.as_ref(), 12)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        ip4(self.buffer.as_ref(), 16)
    }

    /// The option bytes (between byte 20 and the header length).
    #[inline]
    pub fn options(&self) -> &[u8] {
        slice(self.buffer.as_ref(), MIN_HEADER_LEN, self.header_len())
    }

    /// Whether the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let h = slice(self.buffer.as_ref(), 0, self.header_len());
        h.len() >= MIN_HEADER_LEN && checksum::fold(checksum::sum(h)) == 0xffff
    }

    /// The payload: from the header length to the total length (bounded by the buffer).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(b.len());
        slice(b, self.header_len(), end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set version 4 and the header length in bytes (rounded down to 4-byte units).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        let ihl = ((header_len / 4) & 0x0f) as u8;
        put8(self.buffer.as_mut(), 0, 0x40 | ihl);
    }

    /// Set the TOS byte.
    #[inline]
    pub fn set_tos(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 1, v);
    }

    /// Set the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }

    /// Set the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 4, v);
    }

    /// Set the flags/fragment-offset word.
    #[inline]
    pub fn set_flags_frag(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 6, v);
    }

    /// Set the TTL.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 8, v);
    }

    /// Set the protocol.
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 9, v);
    }

    /// Set the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 10, v);
    }

    /// Set the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        put(self.buffer.as_mut(), 12, &a.octets());
    }

    /// Set the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        put(self.buffer.as_mut(), 16, &a.octets());
    }

    /// Compute and store the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::finish(checksum::sum(slice(self.buffer.as_ref(), 0, hl)));
        self.set_checksum(c);
    }

    /// The option bytes, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        slice_mut(self.buffer.as_mut(), MIN_HEADER_LEN, hl)
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let total = usize::from(self.total_len());
        let b = self.buffer.as_mut();
        let end = total.min(b.len());
        slice_mut(b, hl, end)
    }
}

/// Parsed IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Payload length (total length - header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// TOS byte.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// Option bytes, the first `options_len` of them meaningful.
    pub options: [u8; 40],
    /// Number of option bytes (a multiple of 4, at most 40).
    pub options_len: u8,
}

impl Repr {
    /// Parse a checked packet. The header checksum is not verified (see
    /// [`Packet::verify_checksum`]).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        if p.version() != 4 {
            return Err(WireError::BadVersion);
        }
        let opts = p.options();
        let mut options = [0u8; 40];
        let n = opts.len().min(40);
        options[..n].copy_from_slice(&opts[..n]);
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
            options,
            options_len: n as u8,
        })
    }

    /// Header length this repr emits.
    #[inline]
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + usize::from(self.options_len.min(40) & !3)
    }

    /// Header plus payload length.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Write the header (with options and checksum) into `p`; the payload is the caller's.
    pub fn emit(&self, p: &mut Packet<&mut [u8]>) {
        let hl = self.header_len();
        p.set_version_and_header_len(hl);
        p.set_tos(self.tos);
        p.set_total_len(u16::try_from(self.buffer_len()).unwrap_or(u16::MAX));
        p.set_ident(self.ident);
        let mut ff = (self.frag_offset >> 3) & FRAG_OFFSET_MASK;
        if self.dont_frag {
            ff |= FLAG_DF;
        }
        if self.more_frags {
            ff |= FLAG_MF;
        }
        p.set_flags_frag(ff);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        let n = hl - MIN_HEADER_LEN;
        let o = p.options_mut();
        let m = n.min(o.len());
        o[..m].copy_from_slice(&self.options[..m]);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.168.0.1 -> 192.168.0.199, UDP, total 0x73, DF, TTL 64, checksum 0xb861.
    static HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet() -> Vec<u8> {
        let mut v = HEADER.to_vec();
        v.resize(0x73, 0xab);
        v
    }

    #[test]
    fn parse_fields() {
        let b = packet();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 0x73 - 20);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 0x73 - 20);
        assert_eq!(r.options_len, 0);
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(&out[..20], &HEADER);
    }

    #[test]
    fn padding_is_ignored() {
        let mut b = packet();
        b.extend_from_slice(&[0; 10]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 0x73 - 20);
    }

    #[test]
    fn options_roundtrip() {
        // IHL 6 with one 4-byte option (router alert).
        let mut b = vec![
            0x46, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x20, 0x03, 0x01, 0x02, 0x00, 0x00, 0x0a, 0x00,
            0x00, 0x01, 0xe0, 0x00, 0x00, 0x16, 0x94, 0x04, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
        ];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 24);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.options_len, 4);
        assert_eq!(r.header_len(), 24);
        let mut out = vec![0u8; r.buffer_len()];
        out[24..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, b);
    }

    #[test]
    fn errors() {
        let b = packet();
        assert_eq!(
            Packet::new_checked(&b[..19]).unwrap_err(),
            WireError::Truncated(Layer::Ipv4)
        );
        let mut x = b.clone();
        x[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&x[..]).unwrap_err(),
            WireError::BadHeaderLen
        );
        let mut x = b.clone();
        x[0] = 0x4f;
        assert_eq!(
            Packet::new_checked(&x[..40]).unwrap_err(),
            WireError::Truncated(Layer::Ipv4)
        );
        assert_eq!(
            Packet::new_checked(&b[..0x72]).unwrap_err(),
            WireError::BadTotalLen
        );
        let mut x = b.clone();
        x[3] = 19;
        assert_eq!(
            Packet::new_checked(&x[..]).unwrap_err(),
            WireError::BadTotalLen
        );
        let mut x = b.clone();
        x[0] = 0x65;
        let p = Packet::new_checked(&x[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap_err(), WireError::BadVersion);
        let mut x = b;
        x[11] ^= 1;
        assert!(!Packet::new_unchecked(&x[..]).verify_checksum());
    }
}
