//! ICMP for IPv6 (RFC 4443). The checksum covers the IPv6 pseudo-header.

use std::net::Ipv6Addr;

use super::checksum;
use super::field::{arr, be16, be32, put, put8, put16, put32, tail, u8_at};
use super::{Layer, WireError, ipproto};

/// Length of the ICMPv6 header (type, code, checksum, 4 bytes).
pub const HEADER_LEN: usize = 8;
/// The IPv6 minimum MTU: an ICMPv6 error must not make a packet longer than this.
pub const MIN_MTU: usize = 1280;

/// ICMPv6 message types.
pub mod types {
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
}

/// Whether `ty` is an error that quotes the offending packet (1..=4).
#[inline]
pub fn is_error(ty: u8) -> bool {
    matches!(ty, 1..=4)
}

/// Whether `ty` is an echo request or reply.
#[inline]
pub fn is_echo(ty: u8) -> bool {
    matches!(ty, types::ECHO_REQUEST | types::ECHO_REPLY)
}

/// A view of an ICMPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    super::view_constructors!();

    /// Check that the 8-byte header is present.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated(Layer::Icmp))
        } else {
            Ok(())
        }
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 0)
    }

    /// Code.
    #[inline]
    pub fn code(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 1)
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// The 32-bit field after the checksum (MTU of "packet too big", pointer of
    /// "parameter problem", echo id/seq).
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    /// MTU of a "packet too big" message.
    #[inline]
    pub fn mtu(&self) -> u32 {
        self.rest_of_header()
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// The data after the header (for errors: the quoted packet).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }

    /// Whether the checksum over the pseudo-header and the whole buffer is right.
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let s = checksum::pseudo_v6(src, dst, ipproto::ICMPV6, b.len() as u32) + checksum::sum(b);
        checksum::fold(s) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 0, v);
    }

    /// Set the code.
    #[inline]
    pub fn set_code(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 1, v);
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }

    /// Set the 32-bit field after the checksum.
    #[inline]
    pub fn set_rest_of_header(&mut self, v: u32) {
        put32(self.buffer.as_mut(), 4, v);
    }

    /// Compute and store the checksum (pseudo-header + whole buffer).
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let s = checksum::pseudo_v6(src, dst, ipproto::ICMPV6, b.len() as u32) + checksum::sum(b);
        self.set_checksum(checksum::finish(s));
    }

    /// The data after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or(&mut [])
    }
}

/// Parsed ICMPv6 header (the data stays in the buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// The 4 bytes after the checksum.
    pub rest: [u8; 4],
    /// Length of the data after the header.
    pub payload_len: usize,
}

impl Repr {
    /// Parse a checked message (checksum not verified).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        Ok(Repr {
            msg_type: p.msg_type(),
            code: p.code(),
            rest: arr(p.buffer.as_ref(), 4),
            payload_len: p.payload().len(),
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
        p.set_msg_type(self.msg_type);
        p.set_code(self.code);
        p.set_checksum(0);
        put(p.buffer, 4, &self.rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_checksum_literal() {
        // Echo request ::1 -> ::1, id 0x1234, seq 1, no data.
        // Pseudo: 1 + 1 + len 8 + 58 = 68 (0x44); header: 0x8000 + 0x1234 + 1 = 0x9235.
        // Sum 0x9279 -> checksum 0x6d86.
        let b = [0x80u8, 0, 0x6d, 0x86, 0x12, 0x34, 0, 1];
        let lo = Ipv6Addr::LOCALHOST;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), types::ECHO_REQUEST);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert!(p.verify_checksum(&lo, &lo));
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 8];
        let mut q = Packet::new_unchecked(&mut out[..]);
        r.emit(&mut q);
        q.fill_checksum(&lo, &lo);
        assert_eq!(out, b);
    }

    #[test]
    fn too_big() {
        let b = [2u8, 0, 0, 0, 0, 0, 0x05, 0x00, 0x60];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.mtu(), 1280);
        assert!(is_error(p.msg_type()) && !is_error(128) && is_echo(129));
        assert_eq!(p.payload(), &[0x60]);
        assert_eq!(
            Packet::new_checked(&b[..7]).unwrap_err(),
            WireError::Truncated(Layer::Icmp)
        );
    }
}
