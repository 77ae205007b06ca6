//! Ethernet II frames, with at most one IEEE 802.1Q VLAN tag.

use super::field::{arr, be16, put, put16, slice_mut, tail};
use super::{Layer, WireError, ethertype};

/// A MAC address.
pub type Mac = [u8; 6];

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Length of an 802.1Q VLAN tag.
pub const VLAN_TAG_LEN: usize = 4;

/// A view of an Ethernet II frame (optionally with one 802.1Q tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    super::view_constructors!();

    /// Check that the header (and the VLAN tag if the frame says there is one) fits.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(WireError::Truncated(Layer::Ethernet))
        } else if self.ethertype() == ethertype::VLAN && len < HEADER_LEN + VLAN_TAG_LEN {
            Err(WireError::Truncated(Layer::Vlan))
        } else {
            Ok(())
        }
    }

    /// Destination MAC.
    #[inline]
    pub fn dst_addr(&self) -> Mac {
        arr(self.buffer.as_ref(), 0)
    }

    /// Source MAC.
    #[inline]
    pub fn src_addr(&self) -> Mac {
        arr(self.buffer.as_ref(), 6)
    }

    /// The EtherType field at offset 12 (0x8100 for a tagged frame).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), 12)
    }

    /// Whether an 802.1Q tag follows the addresses.
    #[inline]
    pub fn is_tagged(&self) -> bool {
        self.ethertype() == ethertype::VLAN
    }

    /// The 802.1Q TCI (PCP, DEI, VID) if the frame is tagged.
    #[inline]
    pub fn vlan_tci(&self) -> Option<u16> {
        self.is_tagged().then(|| be16(self.buffer.as_ref(), 14))
    }

    /// The EtherType of the payload (after the tag if there is one).
    #[inline]
    pub fn payload_ethertype(&self) -> u16 {
        if self.is_tagged() {
            be16(self.buffer.as_ref(), 16)
        } else {
            self.ethertype()
        }
    }

    /// Header length: 14, or 18 with a tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The payload (L3 packet plus any padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), self.header_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the destination MAC.
    #[inline]
    pub fn set_dst_addr(&mut self, mac: Mac) {
        put(self.buffer.as_mut(), 0, &mac);
    }

    /// Set the source MAC.
    #[inline]
    pub fn set_src_addr(&mut self, mac: Mac) {
        put(self.buffer.as_mut(), 6, &mac);
    }

    /// Set the EtherType field at offset 12.
    #[inline]
    pub fn set_ethertype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 12, v);
    }

    /// Set the TCI of the tag (no effect on an untagged frame).
    #[inline]
    pub fn set_vlan_tci(&mut self, tci: u16) {
        if self.is_tagged() {
            put16(self.buffer.as_mut(), 14, tci);
        }
    }

    /// Set the payload EtherType (after the tag if there is one).
    #[inline]
    pub fn set_payload_ethertype(&mut self, v: u16) {
        let at = if self.is_tagged() { 16 } else { 12 };
        put16(self.buffer.as_mut(), at, v);
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        let b = self.buffer.as_mut();
        let len = b.len();
        slice_mut(b, h, len)
    }
}

/// The parsed header of an Ethernet frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source MAC.
    pub src_addr: Mac,
    /// Destination MAC.
    pub dst_addr: Mac,
    /// The 802.1Q TCI, if tagged.
    pub vlan: Option<u16>,
    /// EtherType of the payload.
    pub ethertype: u16,
}

impl Repr {
    /// Parse the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            vlan: p.vlan_tci(),
            ethertype: p.payload_ethertype(),
        })
    }

    /// Header length this repr emits (14 or 18).
    #[inline]
    pub fn buffer_len(&self) -> usize {
        if self.vlan.is_some() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Write the header into the start of `p` (which must be at least `buffer_len()` long;
    /// fields that do not fit are dropped).
    pub fn emit(&self, p: &mut Packet<&mut [u8]>) {
        p.set_dst_addr(self.dst_addr);
        p.set_src_addr(self.src_addr);
        match self.vlan {
            Some(tci) => {
                p.set_ethertype(ethertype::VLAN);
                p.set_vlan_tci(tci);
                p.set_payload_ethertype(self.ethertype);
            }
            None => p.set_ethertype(self.ethertype),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static UNTAGGED: [u8; 18] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x08, 0x00, 0xaa,
        0xbb, 0xcc, 0xdd,
    ];
    static TAGGED: [u8; 20] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x81, 0x00, 0x20,
        0x0a, 0x86, 0xdd, 0xaa, 0xbb,
    ];

    #[test]
    fn parse_untagged() {
        let p = Packet::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(p.dst_addr(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(p.src_addr(), [0x11, 0x12, 0x13, 0x14, 0x15, 0x16]);
        assert_eq!(p.ethertype(), ethertype::IPV4);
        assert_eq!(p.vlan_tci(), None);
        assert_eq!(p.header_len(), 14);
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.ethertype, ethertype::IPV4);
        let mut out = [0u8; 18];
        out[14..].copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, UNTAGGED);
    }

    #[test]
    fn parse_tagged() {
        let p = Packet::new_checked(&TAGGED[..]).unwrap();
        assert!(p.is_tagged());
        assert_eq!(p.vlan_tci(), Some(0x200a));
        assert_eq!(p.payload_ethertype(), ethertype::IPV6);
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.buffer_len(), 18);
        let mut out = [0u8; 20];
        out[18..].copy_from_slice(&[0xaa, 0xbb]);
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, TAGGED);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Packet::new_checked(&UNTAGGED[..13]).unwrap_err(),
            WireError::Truncated(Layer::Ethernet)
        );
        assert_eq!(
            Packet::new_checked(&TAGGED[..17]).unwrap_err(),
            WireError::Truncated(Layer::Vlan)
        );
        // Unchecked views of short buffers read zeros and never panic.
        let p = Packet::new_unchecked(&UNTAGGED[..3]);
        assert_eq!(p.src_addr(), [0; 6]);
        assert_eq!(p.payload(), &[] as &[u8]);
    }
}
