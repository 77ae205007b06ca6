//! SCTP common header (RFC 9260) with its CRC32c checksum, stored little-endian.

use super::crc32c::sctp_checksum;
use super::field::{arr, be16, be32, put, put16, put32, tail, u8_at};
use super::{Layer, WireError};

/// Length of the common header.
pub const HEADER_LEN: usize = 12;

/// Chunk types rvs cares about.
pub mod chunk {
    /// DATA.
    pub const DATA: u8 = 0;
    /// INIT.
    pub const INIT: u8 = 1;
    /// INIT ACK.
    pub const INIT_ACK: u8 = 2;
    /// ABORT.
    pub const ABORT: u8 = 6;
    /// SHUTDOWN.
    pub const SHUTDOWN: u8 = 7;
    /// SHUTDOWN ACK.
    pub const SHUTDOWN_ACK: u8 = 8;
    /// COOKIE ECHO.
    pub const COOKIE_ECHO: u8 = 10;
    /// COOKIE ACK.
    pub const COOKIE_ACK: u8 = 11;
    /// SHUTDOWN COMPLETE.
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

/// A view of an SCTP packet (common header + chunks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    super::view_constructors!();

    /// Check that the 12-byte common header is present.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated(Layer::Sctp))
        } else {
            Ok(())
        }
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

    /// Verification tag.
    #[inline]
    pub fn verification_tag(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    /// The checksum as a CRC32c value (bytes 8..12 read little-endian), comparable with
    /// [`sctp_checksum`].
    #[inline]
    pub fn checksum(&self) -> u32 {
        u32::from_le_bytes(arr(self.buffer.as_ref(), 8))
    }

    /// Type of the first chunk, if one byte of it is present.
    #[inline]
    pub fn first_chunk_type(&self) -> Option<u8> {
        self.buffer.as_ref().get(HEADER_LEN).copied()
    }

    /// The chunks (everything after the common header).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }

    /// Iterate the chunk headers as (type, flags, length field); stops at the first chunk
    /// whose header is incomplete or whose length is below 4.
    pub fn chunks(&self) -> Chunks<'_> {
        Chunks {
            data: self.payload(),
        }
    }

    /// Whether the stored CRC32c matches the packet.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let b = self.buffer.as_ref();
        b.len() >= HEADER_LEN && self.checksum() == sctp_checksum(b)
    }
}

/// Iterator over SCTP chunk headers: `(type, flags, length)`.
#[derive(Clone, Debug)]
pub struct Chunks<'a> {
    data: &'a [u8],
}

impl Iterator for Chunks<'_> {
    type Item = (u8, u8, u16);

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.len() < 4 {
            return None;
        }
        let ty = u8_at(self.data, 0);
        let flags = u8_at(self.data, 1);
        let len = be16(self.data, 2);
        if len < 4 {
            self.data = &[];
            return Some((ty, flags, len));
        }
        let padded = (usize::from(len) + 3) & !3;
        self.data = tail(self.data, padded);
        Some((ty, flags, len))
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

    /// Set the verification tag.
    #[inline]
    pub fn set_verification_tag(&mut self, v: u32) {
        put32(self.buffer.as_mut(), 4, v);
    }

    /// Store a CRC32c value (little-endian in bytes 8..12).
    #[inline]
    pub fn set_checksum(&mut self, v: u32) {
        put(self.buffer.as_mut(), 8, &v.to_le_bytes());
    }

    /// Compute and store the CRC32c over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let c = sctp_checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// The chunks, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or(&mut [])
    }
}

/// Parsed SCTP common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Verification tag.
    pub verification_tag: u32,
    /// Length of the chunks after the common header.
    pub payload_len: usize,
}

impl Repr {
    /// Parse a checked packet (checksum not verified).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            verification_tag: p.verification_tag(),
            payload_len: p.payload().len(),
        })
    }

    /// 12 + chunk bytes.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write the common header with a zero checksum; copy the chunks into `payload_mut()`
    /// and call [`Packet::fill_checksum`].
    pub fn emit(&self, p: &mut Packet<&mut [u8]>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_verification_tag(self.verification_tag);
        p.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::crc32c::crc32c;

    // 5000 -> 80, tag 0, INIT chunk (20 bytes), checksum zero until filled.
    static INIT: [u8; 32] = [
        0x13, 0x88, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // common
        0x01, 0x00, 0x00, 0x14, 0x11, 0x22, 0x33, 0x44, 0x00, 0x01, 0x00, 0x00, // INIT hdr
        0x00, 0x0a, 0x00, 0x0a, 0x55, 0x66, 0x77, 0x88, // streams, initial TSN
    ];

    #[test]
    fn parse_emit() {
        let p = Packet::new_checked(&INIT[..]).unwrap();
        assert_eq!(p.src_port(), 5000);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.verification_tag(), 0);
        assert_eq!(p.first_chunk_type(), Some(chunk::INIT));
        assert_eq!(p.chunks().collect::<Vec<_>>(), vec![(1, 0, 20)]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.buffer_len(), 32);
        let mut out = [0xffu8; 32];
        out[12..].copy_from_slice(&INIT[12..]);
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, INIT);
    }

    #[test]
    fn checksum_little_endian() {
        let mut b = INIT;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        let want = crc32c(&INIT);
        assert_eq!(&b[8..12], &want.to_le_bytes());
        let p = Packet::new_unchecked(&b[..]);
        assert!(p.verify_checksum());
        assert_eq!(p.checksum(), want);
        let mut c = b;
        c[20] ^= 0x80;
        assert!(!Packet::new_unchecked(&c[..]).verify_checksum());
    }

    #[test]
    fn errors_and_edges() {
        assert_eq!(
            Packet::new_checked(&INIT[..11]).unwrap_err(),
            WireError::Truncated(Layer::Sctp)
        );
        let p = Packet::new_checked(&INIT[..12]).unwrap();
        assert_eq!(p.first_chunk_type(), None);
        assert_eq!(p.chunks().count(), 0);
        let mut b = INIT;
        b[15] = 0; // chunk length 0: reported once, then the iterator stops
        assert_eq!(Packet::new_unchecked(&b[..]).chunks().count(), 1);
    }
}
