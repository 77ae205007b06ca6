//! ARP packets (RFC 826). The view reads any hardware/protocol sizes; [`Repr`] handles
//! Ethernet/IPv4 only.

use std::net::Ipv4Addr;

use super::ethernet::Mac;
use super::field::{arr, be16, ip4, put, put8, put16, slice, u8_at};
use super::{Layer, WireError, ethertype};

/// Length of the fixed part (htype, ptype, hlen, plen, oper).
pub const FIXED_LEN: usize = 8;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETH_IPV4_LEN: usize = 28;
/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Operation: request.
pub const OP_REQUEST: u16 = 1;
/// Operation: reply.
pub const OP_REPLY: u16 = 2;

/// A view of an ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    super::view_constructors!();

    /// Check that the fixed part and the four addresses it announces fit.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN || len < self.total_len() {
            Err(WireError::Truncated(Layer::Arp))
        } else {
            Ok(())
        }
    }

    /// Hardware type.
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// Protocol type (an EtherType).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Hardware address length.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 4)
    }

    /// Protocol address length.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 5)
    }

    /// Operation.
    #[inline]
    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Length of the whole packet as its size fields say.
    #[inline]
    pub fn total_len(&self) -> usize {
        FIXED_LEN + 2 * usize::from(self.hardware_len()) + 2 * usize::from(self.protocol_len())
    }

    fn offsets(&self) -> (usize, usize, usize, usize, usize) {
        let h = usize::from(self.hardware_len());
        let p = usize::from(self.protocol_len());
        let sha = FIXED_LEN;
        let spa = sha + h;
        let tha = spa + p;
        let tpa = tha + h;
        (sha, spa, tha, tpa, tpa + p)
    }

    /// Sender hardware address.
    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        let (sha, spa, ..) = self.offsets();
        slice(self.buffer.as_ref(), sha, spa)
    }

    /// Sender protocol address.
    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        let (_, spa, tha, ..) = self.offsets();
        slice(self.buffer.as_ref(), spa, tha)
    }

    /// Target hardware address.
    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        let (_, _, tha, tpa, _) = self.offsets();
        slice(self.buffer.as_ref(), tha, tpa)
    }

    /// Target protocol address.
    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        let (.., tpa, end) = self.offsets();
        slice(self.buffer.as_ref(), tpa, end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 0, v);
    }

    /// Set the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }

    /// Set the hardware address length.
    #[inline]
    pub fn set_hardware_len(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 4, v);
    }

    /// Set the protocol address length.
    #[inline]
    pub fn set_protocol_len(&mut self, v: u8) {
        put8(self.buffer.as_mut(), 5, v);
    }

    /// Set the operation.
    #[inline]
    pub fn set_operation(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 6, v);
    }

    /// Set the four addresses of an Ethernet/IPv4 packet (lengths must already be 6/4).
    pub fn set_eth_ipv4_addrs(&mut self, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr) {
        let b = self.buffer.as_mut();
        put(b, 8, &sha);
        put(b, 14, &spa.octets());
        put(b, 18, &tha);
        put(b, 24, &tpa.octets());
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Operation (1 request, 2 reply).
    pub operation: u16,
    /// Sender MAC.
    pub source_hardware_addr: Mac,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target MAC.
    pub target_hardware_addr: Mac,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

impl Repr {
    /// Parse an Ethernet/IPv4 ARP packet; other hardware or protocol types give
    /// [`WireError::BadArp`].
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        if p.hardware_type() != HTYPE_ETHERNET
            || p.protocol_type() != ethertype::IPV4
            || p.hardware_len() != 6
            || p.protocol_len() != 4
        {
            return Err(WireError::BadArp);
        }
        let b = p.buffer.as_ref();
        Ok(Repr {
            operation: p.operation(),
            source_hardware_addr: arr(b, 8),
            source_protocol_addr: ip4(b, 14),
            target_hardware_addr: arr(b, 18),
            target_protocol_addr: ip4(b, 24),
        })
    }

    /// Always 28.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        ETH_IPV4_LEN
    }

    /// Write the packet into `p` (at least 28 bytes).
    pub fn emit(&self, p: &mut Packet<&mut [u8]>) {
        p.set_hardware_type(HTYPE_ETHERNET);
        p.set_protocol_type(ethertype::IPV4);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(self.operation);
        p.set_eth_ipv4_addrs(
            self.source_hardware_addr,
            self.source_protocol_addr,
            self.target_hardware_addr,
            self.target_protocol_addr,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x0a,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02,
    ];

    fn repr() -> Repr {
        Repr {
            operation: OP_REQUEST,
            source_hardware_addr: [0x11, 0x12, 0x13, 0x14, 0x15, 0x16],
            source_protocol_addr: Ipv4Addr::new(10, 0, 0, 1),
            target_hardware_addr: [0; 6],
            target_protocol_addr: Ipv4Addr::new(10, 0, 0, 2),
        }
    }

    #[test]
    fn parse_request() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.operation(), 1);
        assert_eq!(p.source_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(p.target_hardware_addr(), &[0; 6]);
        assert_eq!(Repr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn emit_request() {
        let mut buf = [0xffu8; 28];
        repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn errors() {
        assert_eq!(
            Packet::new_checked(&REQUEST[..27]).unwrap_err(),
            WireError::Truncated(Layer::Arp)
        );
        let mut b = REQUEST;
        b[5] = 16; // IPv6-sized protocol addresses
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            WireError::Truncated(Layer::Arp)
        );
        let mut b = REQUEST;
        b[3] = 0x01;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..])).unwrap_err(),
            WireError::BadArp
        );
    }
}
