//! ICMP for IPv4 (RFC 792).

use super::checksum;
use super::field::{arr, be16, be32, put, put8, put16, put32, tail, u8_at};
use super::{Layer, WireError};

/// Length of the ICMP header (type, code, checksum, 4 bytes rest-of-header).
pub const HEADER_LEN: usize = 8;

/// ICMPv4 message types.
pub mod types {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source quench.
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination-unreachable codes.
pub mod codes {
    /// Port unreachable.
    pub const PORT_UNREACHABLE: u8 = 3;
    /// Fragmentation needed and DF set (next-hop MTU in bytes 6..8).
    pub const FRAG_NEEDED: u8 = 4;
}

/// Whether `ty` is an error that quotes the offending packet (3, 4, 5, 11, 12).
#[inline]
pub fn is_error(ty: u8) -> bool {
    matches!(ty, 3 | 4 | 5 | 11 | 12)
}

/// Whether `ty` is an echo request or reply (the id in bytes 4..6).
#[inline]
pub fn is_echo(ty: u8) -> bool {
    matches!(ty, types::ECHO_REQUEST | types::ECHO_REPLY)
}

/// A view of an ICMPv4 message.
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

    /// The 4 rest-of-header bytes as a big-endian number.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    /// Echo identifier (bytes 4..6).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Echo sequence number (bytes 6..8).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Next-hop MTU of a "fragmentation needed" message (bytes 6..8).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// The data after the header (for errors: the quoted packet).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }

    /// Whether the checksum over the whole buffer is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
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

    /// Set the rest-of-header bytes.
    #[inline]
    pub fn set_rest_of_header(&mut self, v: u32) {
        put32(self.buffer.as_mut(), 4, v);
    }

    /// Set the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 4, v);
    }

    /// Compute and store the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::finish(checksum::sum(self.buffer.as_ref()));
        self.set_checksum(c);
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

/// Parsed ICMPv4 header (the data stays in the buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// Rest-of-header bytes (echo id/seq, next-hop MTU, pointer, gateway...).
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

    // Echo request id 0x1234 seq 1, data "ping"; checksum precomputed by hand below.
    fn echo() -> Vec<u8> {
        let mut v = vec![8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, b'p', b'i', b'n', b'g'];
        // sum = 0x0800 + 0x1234 + 0x0001 + 0x7069 + 0x6e67 = 0xf905 -> checksum 0x06fa
        v[2] = 0x06;
        v[3] = 0xfa;
        v
    }

    #[test]
    fn parse_echo() {
        let b = echo();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), types::ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.payload(), b"ping");
        assert!(p.verify_checksum());
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.rest, [0x12, 0x34, 0, 1]);
        let mut out = vec![0u8; r.buffer_len()];
        let mut q = Packet::new_unchecked(&mut out[..]);
        r.emit(&mut q);
        q.payload_mut().copy_from_slice(b"ping");
        q.fill_checksum();
        assert_eq!(out, b);
    }

    #[test]
    fn frag_needed_mtu_and_errors() {
        let b = [3u8, 4, 0, 0, 0, 0, 0x05, 0xdc];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.next_hop_mtu(), 1500);
        assert!(is_error(p.msg_type()));
        assert!(!is_error(8) && is_echo(0));
        assert_eq!(
            Packet::new_checked(&b[..7]).unwrap_err(),
            WireError::Truncated(Layer::Icmp)
        );
    }
}
