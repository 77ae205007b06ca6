//! UDP headers (RFC 768). The view's buffer is the IP payload; the datagram is the first
//! `len()` bytes of it.

use std::net::IpAddr;

use super::checksum;
use super::field::{be16, put16, slice, slice_mut};
use super::{Layer, WireError, ipproto};

/// Header length.
pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    super::view_constructors!();

    /// Check that 8 bytes are present and 8 <= length field <= buffer length.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated(Layer::Udp));
        }
        let l = usize::from(self.len());
        if l < HEADER_LEN || l > len {
            return Err(WireError::BadUdpLen);
        }
        Ok(())
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Length field (header + data).
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Checksum (0 over IPv4: none).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        slice(b, 0, usize::from(self.len()).min(b.len()))
    }

    /// The data (bytes 8 .. length field, bounded by the buffer).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        slice(b, HEADER_LEN, usize::from(self.len()).min(b.len()))
    }

    /// Whether the checksum over the pseudo-header and the datagram is right. Over IPv4 a
    /// zero checksum means "none" and verifies; over IPv6 it does not.
    #[inline]
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if src.is_ipv4() && self.checksum() == 0 {
            return true;
        }
        let d = self.datagram();
        let s = checksum::pseudo(src, dst, ipproto::UDP, d.len() as u32) + checksum::sum(d);
        checksum::fold(s) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 0, v);
    }

    /// Set the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }

    /// Set the length field.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 4, v);
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 6, v);
    }

    /// Compute and store the checksum (a computed 0 is stored as 0xffff).
    #[inline]
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let d = self.datagram();
        let s = checksum::pseudo(src, dst, ipproto::UDP, d.len() as u32) + checksum::sum(d);
        let c = match checksum::finish(s) {
            0 => 0xffff,
            c => c,
        };
        self.set_checksum(c);
    }

    /// The data, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = usize::from(self.len());
        let b = self.buffer.as_mut();
        let end = l.min(b.len());
        slice_mut(b, HEADER_LEN, end)
    }
}

/// Parsed UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Data length (length field - 8).
    pub payload_len: usize,
}

impl Repr {
    /// Parse a checked datagram (checksum not verified).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: usize::from(p.len()) - HEADER_LEN,
        })
    }

    /// 8 + data length.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write the header with a zero checksum; copy the data into `payload_mut()` and call
    /// [`Packet::fill_checksum`].
    pub fn emit(&self, p: &mut Packet<&mut [u8]>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(u16::try_from(self.buffer_len()).unwrap_or(u16::MAX));
        p.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    // 1234 -> 53, length 12, data "abcd", checksum 0 (none).
    static DGRAM: [u8; 12] = [
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn parse_emit() {
        let p = Packet::new_checked(&DGRAM[..]).unwrap();
        assert_eq!(p.src_port(), 1234);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 12);
        assert_eq!(p.payload(), b"abcd");
        let r = Repr::parse(&p).unwrap();
        assert_eq!(
            r,
            Repr {
                src_port: 1234,
                dst_port: 53,
                payload_len: 4
            }
        );
        let mut out = [0xffu8; 12];
        out[8..].copy_from_slice(b"abcd");
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, DGRAM);
    }

    #[test]
    fn checksum_rules() {
        let s4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let d4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let s6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let p = Packet::new_unchecked(&DGRAM[..]);
        assert!(p.verify_checksum(&s4, &d4), "v4 zero checksum means none");
        assert!(!p.verify_checksum(&s6, &s6), "v6 zero checksum is invalid");
        let mut b = DGRAM;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(&s4, &d4);
        assert_ne!(p.checksum(), 0);
        assert!(p.verify_checksum(&s4, &d4));
        p.fill_checksum(&s6, &s6);
        assert!(p.verify_checksum(&s6, &s6));
    }

    #[test]
    fn computed_zero_stored_as_ffff() {
        // Choose the data so the folded sum is 0xffff: checksum 0 -> stored 0xffff.
        let s = IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0));
        let mut b = [0u8, 0, 0, 0, 0, 10, 0, 0, 0, 0];
        // pseudo: proto 17 + len 10; header: len 10 -> total 37 = 0x25; data word 0xffda.
        b[8] = 0xff;
        b[9] = 0xda;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(&s, &s);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(&s, &s));
    }

    #[test]
    fn errors() {
        assert_eq!(
            Packet::new_checked(&DGRAM[..7]).unwrap_err(),
            WireError::Truncated(Layer::Udp)
        );
        assert_eq!(
            Packet::new_checked(&DGRAM[..11]).unwrap_err(),
            WireError::BadUdpLen
        );
        let mut b = DGRAM;
        b[5] = 7;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            WireError::BadUdpLen
        );
    }
}
