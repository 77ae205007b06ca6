//! TCP headers (RFC 9293). The view's buffer is the whole segment (the IP payload).

use std::net::IpAddr;

use super::checksum;
use super::field::{be16, be32, put8, put16, put32, slice, slice_mut, tail, u8_at};
use super::{Layer, WireError, ipproto};

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// TCP flag bits (byte 13).
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// A view of a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    super::view_constructors!();

    /// Check that 20 bytes are present and the data offset is >= 5 and within the segment.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(WireError::Truncated(Layer::Tcp));
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN || hl > len {
            return Err(WireError::BadDataOffset);
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 8)
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(u8_at(self.buffer.as_ref(), 12) >> 4) * 4
    }

    /// The flag byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128).
    #[inline]
    pub fn flags(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 13)
    }

    /// FIN set.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    /// SYN set.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    /// RST set.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    /// ACK set.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    /// Window.
    #[inline]
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), 14)
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 16)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), 18)
    }

    /// The option bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        slice(self.buffer.as_ref(), MIN_HEADER_LEN, self.header_len())
    }

    /// The segment data.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), self.header_len())
    }

    /// Whether the checksum over the pseudo-header and the whole buffer is right.
    #[inline]
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        let b = self.buffer.as_ref();
        let s = checksum::pseudo(src, dst, ipproto::TCP, b.len() as u32) + checksum::sum(b);
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

    /// Set the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), 4, v);
    }

    /// Set the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), 8, v);
    }

    /// Set the header length in bytes (rounded down to 4-byte units; reserved bits cleared).
    #[inline]
    pub fn set_header_len(&mut self, v: usize) {
        put8(self.buffer.as_mut(), 12, (((v / 4) & 0x0f) as u8) << 4);
    }

    /// Set the flag byte.
    #[inline]
    pub fn set_flags(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 13, v);
    }

    /// Set the window.
    #[inline]
    pub fn set_window(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 14, v);
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 16, v);
    }

    /// Set the urgent pointer.
    #[inline]
    pub fn set_urgent(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 18, v);
    }

    /// Compute and store the checksum over the pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let s = checksum::pseudo(src, dst, ipproto::TCP, b.len() as u32) + checksum::sum(b);
        self.set_checksum(checksum::finish(s));
    }

    /// The option bytes, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        slice_mut(self.buffer.as_mut(), MIN_HEADER_LEN, hl)
    }

    /// The segment data, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let b = self.buffer.as_mut();
        let len = b.len();
        slice_mut(b, hl, len)
    }
}

/// Parsed TCP header (the data stays in the buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number.
    pub ack_number: u32,
    /// Flag byte.
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Option bytes, the first `options_len` meaningful.
    pub options: [u8; 40],
    /// Number of option bytes (a multiple of 4, at most 40).
    pub options_len: u8,
    /// Length of the data after the header.
    pub payload_len: usize,
}

impl Repr {
    /// Parse a checked segment (the checksum is not verified; see
    /// [`Packet::verify_checksum`]).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        let o = p.options();
        let n = o.len().min(40);
        let mut options = [0u8; 40];
        options[..n].copy_from_slice(&o[..n]);
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq_number: p.seq_number(),
            ack_number: p.ack_number(),
            flags: p.flags(),
            window: p.window(),
            urgent: p.urgent(),
            options,
            options_len: n as u8,
            payload_len: p.payload().len(),
        })
    }

    /// Header length this repr emits.
    #[inline]
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + usize::from(self.options_len.min(40) & !3)
    }

    /// Header plus data length.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Write the header into `p` with a zero checksum; copy the data into
    /// `payload_mut()` and then call [`Packet::fill_checksum`].
    pub fn emit(&self, p: &mut Packet<&mut [u8]>) {
        let hl = self.header_len();
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq_number);
        p.set_ack_number(self.ack_number);
        p.set_header_len(hl);
        p.set_flags(self.flags);
        p.set_window(self.window);
        p.set_checksum(0);
        p.set_urgent(self.urgent);
        let n = hl - MIN_HEADER_LEN;
        let o = p.options_mut();
        let m = n.min(o.len());
        o[..m].copy_from_slice(&self.options[..m]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    // 192.168.1.1:49152 -> 192.168.1.2:80, SYN, MSS 1460 option, checksum filled below.
    static SYN: [u8; 24] = [
        0xc0, 0x00, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xfa,
        0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];

    fn addrs() -> (IpAddr, IpAddr) {
        (
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)),
        )
    }

    #[test]
    fn parse_fields() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 49152);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), 0x01020304);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 24);
        assert!(p.syn() && !p.ack() && !p.fin() && !p.rst());
        assert_eq!(p.window(), 0xfaf0);
        assert_eq!(p.options(), &[2, 4, 5, 0xb4]);
        assert_eq!(p.payload(), &[] as &[u8]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.flags, flags::SYN);
        assert_eq!(r.options_len, 4);
        let mut out = [0xeeu8; 24];
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, SYN);
    }

    #[test]
    fn checksum_fill_verify() {
        let (s, d) = addrs();
        let mut b = SYN.to_vec();
        b.extend_from_slice(b"hello");
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(&s, &d);
        // Independently: pseudo-header bytes + segment.
        let mut ph = vec![192, 168, 1, 1, 192, 168, 1, 2, 0, 6, 0, 29];
        ph.extend_from_slice(&b);
        assert_eq!(checksum::fold(checksum::sum(&ph)), 0xffff);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(&s, &d));
        assert!(!p.verify_checksum(&d, &IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1))));
        assert_eq!(p.payload(), b"hello");
    }

    #[test]
    fn errors() {
        assert_eq!(
            Packet::new_checked(&SYN[..19]).unwrap_err(),
            WireError::Truncated(Layer::Tcp)
        );
        assert_eq!(
            Packet::new_checked(&SYN[..20]).unwrap_err(),
            WireError::BadDataOffset
        );
        let mut b = SYN;
        b[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            WireError::BadDataOffset
        );
    }
}
