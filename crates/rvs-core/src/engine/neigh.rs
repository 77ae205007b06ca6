//! Neighbour (ARP / NDP) answers the engine needs to address frames.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::IpAddr;

use super::route::{IfaceId, Mac};
use crate::table::KeyHasher;

/// Answers MAC addresses of on-link neighbours; the engine does no ARP / ND itself.
pub trait Neighbours {
    /// The MAC of `addr` seen on `iface`, if known.
    fn mac(&self, iface: IfaceId, addr: &IpAddr) -> Option<Mac>;

    /// `Some(n)` when every answer stays valid while `n` is unchanged: the engine then
    /// caches the MAC of each dest's next hop. `None` (the default): ask every time.
    fn generation(&self) -> Option<u64> {
        None
    }
}

/// A fixed table (tests, `rvs sim`). `iface` is ignored.
#[derive(Clone, Debug, Default)]
pub struct StaticNeighbours {
    // Keyed by the address as an integer (one hash round instead of hashing an enum).
    v4: HashMap<u32, Mac, BuildHasherDefault<KeyHasher>>,
    v6: HashMap<u128, Mac, BuildHasherDefault<KeyHasher>>,
    /// Bumped by every insert.
    gen_: u64,
}

impl StaticNeighbours {
    /// Set (or replace) the MAC of `addr`.
    pub fn insert(&mut self, addr: IpAddr, mac: Mac) {
        self.gen_ += 1;
        match addr {
            IpAddr::V4(a) => self.v4.insert(u32::from(a), mac),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), mac),
        };
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

impl Neighbours for StaticNeighbours {
    fn mac(&self, _iface: IfaceId, addr: &IpAddr) -> Option<Mac> {
        match addr {
            IpAddr::V4(a) => self.v4.get(&u32::from(*a)).copied(),
            IpAddr::V6(a) => self.v6.get(&u128::from(*a)).copied(),
        }
    }

    fn generation(&self) -> Option<u64> {
        Some(self.gen_)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_table() {
        let mut n = StaticNeighbours::default();
        assert!(n.is_empty());
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        n.insert(a, [1, 2, 3, 4, 5, 6]);
        n.insert(b, [6, 5, 4, 3, 2, 1]);
        assert_eq!(n.len(), 2);
        assert_eq!(n.mac(IfaceId(0), &a), Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(n.mac(IfaceId(9), &a), Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(n.mac(IfaceId(0), &b), Some([6, 5, 4, 3, 2, 1]));
        assert_eq!(n.mac(IfaceId(0), &"10.0.0.3".parse().unwrap()), None);
        n.insert(a, [0xaa; 6]);
        assert_eq!(n.len(), 2);
        assert_eq!(n.mac(IfaceId(0), &a), Some([0xaa; 6]));
        // Usable as a trait object.
        let d: &dyn Neighbours = &n;
        assert_eq!(d.mac(IfaceId(0), &b), Some([6, 5, 4, 3, 2, 1]));
    }
}
