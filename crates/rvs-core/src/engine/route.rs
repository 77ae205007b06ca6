//! Interfaces and the routing table the engine forwards with.
//!
//! A linear table kept sorted by prefix length (longest first): directors have tens of
//! routes, not a full Internet table. Connected subnets come from the interfaces' own
//! addresses at lookup time, so editing an interface through [`Routes::iface_mut`] takes
//! effect at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Handle of an interface: its index in the order interfaces were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfaceId(pub u32);

/// An Ethernet (MAC) address.
pub type Mac = [u8; 6];

/// Default MTU of an Ethernet interface.
pub const DEFAULT_MTU: u32 = 1500;

/// A network interface of the director.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Name (`eth0`).
    pub name: String,
    /// Its MAC address.
    pub mac: Mac,
    /// MTU in bytes (default [`DEFAULT_MTU`]).
    pub mtu: u32,
    /// IPv4 addresses with prefix length.
    pub v4: Vec<(Ipv4Addr, u8)>,
    /// IPv6 addresses with prefix length.
    pub v6: Vec<(Ipv6Addr, u8)>,
}

/// Where a packet to some address leaves: the interface and the on-link next hop
/// (the address itself when directly connected, else the gateway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    /// Outgoing interface.
    pub iface: IfaceId,
    /// On-link address whose MAC the frame goes to.
    pub next_hop: IpAddr,
}

/// Why a route was refused.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The interface id was never added.
    #[error("no such interface")]
    NoSuchInterface,
    /// Prefix length above 32 (IPv4) or 128 (IPv6).
    #[error("bad prefix length")]
    BadPrefixLen,
    /// The gateway's family differs from the prefix's.
    #[error("gateway and prefix are of different address families")]
    FamilyMismatch,
}

/// One added route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Route {
    prefix: IpAddr,
    len: u8,
    iface: IfaceId,
    gateway: Option<IpAddr>,
}

/// Interfaces and routes.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    ifaces: Vec<Interface>,
    /// Sorted by `len`, longest first.
    routes: Vec<Route>,
    /// Bumped by every change, so callers may cache lookups (see [`Routes::generation`]).
    gen_: u64,
}

/// Longest prefix length of the address's family.
fn max_len(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `addr` with all but the first `len` bits cleared (`len` is clamped to the family's
/// maximum).
pub fn mask(addr: &IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let l = u32::from(len.min(32));
            let m = u32::MAX.checked_shl(32 - l).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(*a) & m))
        }
        IpAddr::V6(a) => {
            let l = u32::from(len.min(128));
            let m = u128::MAX.checked_shl(128 - l).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(*a) & m))
        }
    }
}

/// Whether `a` and `b` share their first `len` bits (false across families).
fn same_net(a: &IpAddr, b: &IpAddr, len: u8) -> bool {
    a.is_ipv4() == b.is_ipv4() && mask(a, len) == mask(b, len)
}

impl Routes {
    /// Add an interface; ids are 0, 1, 2… in the order of addition.
    pub fn add_interface(&mut self, iface: Interface) -> IfaceId {
        self.gen_ += 1;
        self.ifaces.push(iface);
        IfaceId((self.ifaces.len() - 1) as u32)
    }

    /// An interface by id.
    pub fn iface(&self, id: IfaceId) -> Option<&Interface> {
        self.ifaces.get(id.0 as usize)
    }

    /// An interface by id, writable.
    pub fn iface_mut(&mut self, id: IfaceId) -> Option<&mut Interface> {
        self.gen_ += 1;
        self.ifaces.get_mut(id.0 as usize)
    }

    /// The first interface with that name.
    pub fn by_name(&self, name: &str) -> Option<IfaceId> {
        self.ifaces
            .iter()
            .position(|i| i.name == name)
            .map(|p| IfaceId(p as u32))
    }

    /// All interfaces in id order.
    pub fn interfaces(&self) -> impl Iterator<Item = (IfaceId, &Interface)> {
        self.ifaces
            .iter()
            .enumerate()
            .map(|(i, f)| (IfaceId(i as u32), f))
    }

    /// A route: `prefix/len` reached through `iface`, via `gateway` (None = on-link).
    /// The prefix is masked; a route with the same prefix and length is replaced.
    pub fn add_route(
        &mut self,
        prefix: IpAddr,
        len: u8,
        iface: IfaceId,
        gateway: Option<IpAddr>,
    ) -> Result<(), RouteError> {
        self.gen_ += 1;
        if self.iface(iface).is_none() {
            return Err(RouteError::NoSuchInterface);
        }
        if len > max_len(&prefix) {
            return Err(RouteError::BadPrefixLen);
        }
        if let Some(gw) = gateway
            && gw.is_ipv4() != prefix.is_ipv4()
        {
            return Err(RouteError::FamilyMismatch);
        }
        let route = Route {
            prefix: mask(&prefix, len),
            len,
            iface,
            gateway,
        };
        if let Some(r) = self
            .routes
            .iter_mut()
            .find(|r| r.len == len && r.prefix == route.prefix)
        {
            *r = route;
            return Ok(());
        }
        let at = self.routes.partition_point(|r| r.len >= len);
        self.routes.insert(at, route);
        Ok(())
    }

    /// Remove the route `prefix/len` (the prefix is masked first). Returns whether there
    /// was one.
    pub fn remove_route(&mut self, prefix: IpAddr, len: u8) -> bool {
        self.gen_ += 1;
        let p = mask(&prefix, len);
        match self
            .routes
            .iter()
            .position(|r| r.len == len && r.prefix == p)
        {
            Some(i) => {
                self.routes.remove(i);
                true
            }
            None => false,
        }
    }

    /// The added routes, longest prefix first: `(prefix, len, iface, gateway)`.
    pub fn routes(&self) -> impl Iterator<Item = (IpAddr, u8, IfaceId, Option<IpAddr>)> + '_ {
        self.routes
            .iter()
            .map(|r| (r.prefix, r.len, r.iface, r.gateway))
    }

    /// Longest-prefix match over interface subnets (connected) and added routes; the
    /// family must match. At equal length an added route wins over a connected subnet
    /// (explicit configuration beats the implicit one); among connected subnets of equal
    /// length, the lowest interface id wins.
    pub fn lookup(&self, dst: &IpAddr) -> Option<Hop> {
        self.lookup_uncached(dst)
    }

    /// A number that changes whenever interfaces or routes change: a lookup result
    /// cached with it stays valid while it is unchanged.
    pub fn generation(&self) -> u64 {
        self.gen_
    }

    fn lookup_uncached(&self, dst: &IpAddr) -> Option<Hop> {
        let route = self.routes.iter().find(|r| same_net(&r.prefix, dst, r.len));
        let mut connected: Option<(u8, IfaceId)> = None;
        for (id, iface) in self.interfaces() {
            for (addr, len) in Self::addrs(iface) {
                let len = len.min(max_len(&addr));
                if same_net(&addr, dst, len) && connected.is_none_or(|(l, _)| len > l) {
                    connected = Some((len, id));
                }
            }
        }
        match (route, connected) {
            (Some(r), c) if c.is_none_or(|(l, _)| r.len >= l) => Some(Hop {
                iface: r.iface,
                next_hop: r.gateway.unwrap_or(*dst),
            }),
            (_, Some((_, iface))) => Some(Hop {
                iface,
                next_hop: *dst,
            }),
            (_, None) => None,
        }
    }

    /// An interface's addresses of both families, IPv4 first.
    fn addrs(iface: &Interface) -> impl Iterator<Item = (IpAddr, u8)> + '_ {
        iface
            .v4
            .iter()
            .map(|(a, l)| (IpAddr::V4(*a), *l))
            .chain(iface.v6.iter().map(|(a, l)| (IpAddr::V6(*a), *l)))
    }

    /// Whether `addr` is one of the interfaces' own addresses.
    pub fn is_local(&self, addr: &IpAddr) -> bool {
        self.ifaces
            .iter()
            .any(|i| Self::addrs(i).any(|(a, _)| a == *addr))
    }

    /// The first address of that family on `iface` (source of TUN outer headers, ICMP).
    pub fn source_for(&self, iface: IfaceId, v6: bool) -> Option<IpAddr> {
        let i = self.iface(iface)?;
        if v6 {
            i.v6.first().map(|(a, _)| IpAddr::V6(*a))
        } else {
            i.v4.first().map(|(a, _)| IpAddr::V4(*a))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn iface(name: &str, v4: &[(&str, u8)], v6: &[(&str, u8)]) -> Interface {
        Interface {
            name: name.into(),
            mac: [2, 0, 0, 0, 0, name.len() as u8],
            mtu: DEFAULT_MTU,
            v4: v4.iter().map(|(a, l)| (a.parse().unwrap(), *l)).collect(),
            v6: v6.iter().map(|(a, l)| (a.parse().unwrap(), *l)).collect(),
        }
    }

    /// eth0 10.0.0.1/24 + 2001:db8::1/64, eth1 192.168.1.1/24.
    fn two() -> (Routes, IfaceId, IfaceId) {
        let mut r = Routes::default();
        let a = r.add_interface(iface("eth0", &[("10.0.0.1", 24)], &[("2001:db8::1", 64)]));
        let b = r.add_interface(iface("eth1", &[("192.168.1.1", 24)], &[]));
        (r, a, b)
    }

    #[test]
    fn interfaces_by_id_and_name() {
        let (mut r, a, b) = two();
        assert_eq!((a, b), (IfaceId(0), IfaceId(1)));
        assert_eq!(r.by_name("eth1"), Some(b));
        assert_eq!(r.by_name("eth9"), None);
        assert_eq!(r.iface(a).unwrap().name, "eth0");
        assert!(r.iface(IfaceId(2)).is_none());
        r.iface_mut(b).unwrap().mtu = 9000;
        assert_eq!(r.iface(b).unwrap().mtu, 9000);
        assert!(r.iface_mut(IfaceId(7)).is_none());
        let names: Vec<_> = r.interfaces().map(|(i, f)| (i.0, f.name.clone())).collect();
        assert_eq!(
            names,
            vec![(0, "eth0".to_string()), (1, "eth1".to_string())]
        );
    }

    #[test]
    fn connected_is_on_link() {
        let (r, a, b) = two();
        assert_eq!(
            r.lookup(&ip("10.0.0.77")),
            Some(Hop {
                iface: a,
                next_hop: ip("10.0.0.77")
            })
        );
        assert_eq!(
            r.lookup(&ip("192.168.1.9")),
            Some(Hop {
                iface: b,
                next_hop: ip("192.168.1.9")
            })
        );
        assert_eq!(
            r.lookup(&ip("2001:db8::42")),
            Some(Hop {
                iface: a,
                next_hop: ip("2001:db8::42")
            })
        );
        assert_eq!(r.lookup(&ip("8.8.8.8")), None);
        assert_eq!(r.lookup(&ip("2001:db9::1")), None);
    }

    #[test]
    fn gateway_and_lpm_order() {
        let (mut r, a, b) = two();
        r.add_route(ip("0.0.0.0"), 0, b, Some(ip("192.168.1.254")))
            .unwrap();
        r.add_route(ip("172.16.0.0"), 12, a, Some(ip("10.0.0.254")))
            .unwrap();
        r.add_route(ip("172.16.5.0"), 24, b, None).unwrap();
        assert_eq!(
            r.lookup(&ip("8.8.8.8")),
            Some(Hop {
                iface: b,
                next_hop: ip("192.168.1.254")
            })
        );
        assert_eq!(
            r.lookup(&ip("172.20.1.1")),
            Some(Hop {
                iface: a,
                next_hop: ip("10.0.0.254")
            })
        );
        assert_eq!(
            r.lookup(&ip("172.16.5.9")),
            Some(Hop {
                iface: b,
                next_hop: ip("172.16.5.9")
            })
        );
        // Connected /24 beats the default route.
        assert_eq!(r.lookup(&ip("10.0.0.5")).unwrap().next_hop, ip("10.0.0.5"));
        // The v4 default does not answer v6.
        assert_eq!(r.lookup(&ip("2001:db9::1")), None);
        let lens: Vec<u8> = r.routes().map(|x| x.1).collect();
        assert_eq!(lens, vec![24, 12, 0]);
    }

    #[test]
    fn insertion_order_does_not_matter() {
        let (mut r, a, b) = two();
        r.add_route(ip("172.16.5.0"), 24, b, None).unwrap();
        r.add_route(ip("0.0.0.0"), 0, b, Some(ip("192.168.1.254")))
            .unwrap();
        r.add_route(ip("172.16.0.0"), 12, a, Some(ip("10.0.0.254")))
            .unwrap();
        let lens: Vec<u8> = r.routes().map(|x| x.1).collect();
        assert_eq!(lens, vec![24, 12, 0]);
        assert_eq!(r.lookup(&ip("172.16.5.1")).unwrap().iface, b);
        assert_eq!(r.lookup(&ip("172.16.6.1")).unwrap().iface, a);
    }

    #[test]
    fn v6_routes() {
        let (mut r, a, b) = two();
        r.add_route(ip("::"), 0, a, Some(ip("2001:db8::fe")))
            .unwrap();
        r.add_route(ip("2001:db8:1::"), 48, b, Some(ip("fe80::1")))
            .unwrap();
        assert_eq!(
            r.lookup(&ip("2600::1")),
            Some(Hop {
                iface: a,
                next_hop: ip("2001:db8::fe")
            })
        );
        assert_eq!(
            r.lookup(&ip("2001:db8:1:2::3")),
            Some(Hop {
                iface: b,
                next_hop: ip("fe80::1")
            })
        );
        assert_eq!(
            r.lookup(&ip("2001:db8::9")).unwrap().next_hop,
            ip("2001:db8::9")
        );
        assert_eq!(r.lookup(&ip("1.2.3.4")), None);
    }

    #[test]
    fn route_beats_connected_at_equal_length_and_host_routes() {
        let (mut r, _a, b) = two();
        r.add_route(ip("10.0.0.0"), 24, b, Some(ip("192.168.1.2")))
            .unwrap();
        assert_eq!(r.lookup(&ip("10.0.0.9")).unwrap().iface, b);
        r.add_route(ip("10.0.0.200"), 32, b, None).unwrap();
        assert_eq!(
            r.lookup(&ip("10.0.0.200")).unwrap().next_hop,
            ip("10.0.0.200")
        );
        // A shorter route loses to a longer connected subnet.
        let (mut r, a, b) = two();
        r.add_route(ip("10.0.0.0"), 8, b, Some(ip("192.168.1.2")))
            .unwrap();
        assert_eq!(r.lookup(&ip("10.0.0.9")).unwrap().iface, a);
        assert_eq!(r.lookup(&ip("10.1.0.9")).unwrap().iface, b);
    }

    #[test]
    fn masking_replacement_and_removal() {
        let (mut r, a, b) = two();
        r.add_route(ip("172.16.9.9"), 16, a, None).unwrap();
        assert_eq!(r.routes().next().unwrap().0, ip("172.16.0.0"));
        r.add_route(ip("172.16.0.0"), 16, b, Some(ip("192.168.1.5")))
            .unwrap();
        assert_eq!(r.routes().count(), 1);
        assert_eq!(
            r.lookup(&ip("172.16.1.1")),
            Some(Hop {
                iface: b,
                next_hop: ip("192.168.1.5")
            })
        );
        assert!(!r.remove_route(ip("172.16.0.0"), 24));
        assert!(r.remove_route(ip("172.16.3.3"), 16));
        assert!(!r.remove_route(ip("172.16.0.0"), 16));
        assert_eq!(r.lookup(&ip("172.16.1.1")), None);
    }

    #[test]
    fn bad_inputs() {
        let (mut r, a, _) = two();
        assert_eq!(
            r.add_route(ip("1.0.0.0"), 8, IfaceId(5), None),
            Err(RouteError::NoSuchInterface)
        );
        assert_eq!(
            r.add_route(ip("1.0.0.0"), 33, a, None),
            Err(RouteError::BadPrefixLen)
        );
        assert_eq!(
            r.add_route(ip("::"), 129, a, None),
            Err(RouteError::BadPrefixLen)
        );
        assert_eq!(
            r.add_route(ip("1.0.0.0"), 8, a, Some(ip("::1"))),
            Err(RouteError::FamilyMismatch)
        );
        assert_eq!(
            r.add_route(ip("2001::"), 16, a, Some(ip("10.0.0.2"))),
            Err(RouteError::FamilyMismatch)
        );
        assert_eq!(r.routes().count(), 0);
        r.add_route(ip("1.2.3.4"), 32, a, None).unwrap();
        r.add_route(ip("::1"), 128, a, None).unwrap();
        assert_eq!(r.routes().count(), 2);
    }

    #[test]
    fn out_of_range_interface_prefix_is_a_host_route() {
        let mut r = Routes::default();
        let a = r.add_interface(iface("x", &[("10.0.0.1", 40)], &[]));
        assert_eq!(r.lookup(&ip("10.0.0.1")).unwrap().iface, a);
        assert_eq!(r.lookup(&ip("10.0.0.2")), None);
    }

    #[test]
    fn local_and_source() {
        let (r, a, b) = two();
        assert!(r.is_local(&ip("10.0.0.1")));
        assert!(r.is_local(&ip("2001:db8::1")));
        assert!(!r.is_local(&ip("10.0.0.2")));
        assert_eq!(r.source_for(a, false), Some(ip("10.0.0.1")));
        assert_eq!(r.source_for(a, true), Some(ip("2001:db8::1")));
        assert_eq!(r.source_for(b, true), None);
        assert_eq!(r.source_for(IfaceId(3), false), None);
    }

    #[test]
    fn mask_edges() {
        assert_eq!(mask(&ip("255.255.255.255"), 0), ip("0.0.0.0"));
        assert_eq!(mask(&ip("255.255.255.255"), 1), ip("128.0.0.0"));
        assert_eq!(mask(&ip("10.1.2.3"), 32), ip("10.1.2.3"));
        assert_eq!(mask(&ip("10.1.2.3"), 99), ip("10.1.2.3"));
        assert_eq!(mask(&ip("ffff::1"), 0), ip("::"));
        assert_eq!(mask(&ip("ffff::1"), 8), ip("ff00::"));
        assert_eq!(mask(&ip("ffff::1"), 128), ip("ffff::1"));
    }

    proptest::proptest! {
        /// Whatever routes were added (in any order, with replacements), a lookup answers
        /// through a route whose prefix holds the address and no longer matching route
        /// exists; without a match, no answer.
        #[test]
        fn lookup_is_longest_match(
            routes in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32, proptest::prelude::any::<bool>()), 0..20),
            dsts in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..20),
        ) {
            let mut r = Routes::default();
            let a = r.add_interface(iface("a", &[], &[]));
            let b = r.add_interface(iface("b", &[], &[]));
            for (p, l, on_b) in &routes {
                // The gateway encodes the length of the route.
                let gw = IpAddr::from([192, 0, 2, *l]);
                r.add_route(IpAddr::from(p.to_be_bytes()), *l, if *on_b { b } else { a }, Some(gw)).unwrap();
            }
            for d in dsts {
                let dst = IpAddr::from(d.to_be_bytes());
                let best = routes.iter().filter(|(p, l, _)| same_net(&IpAddr::from(p.to_be_bytes()), &dst, *l)).map(|x| x.1).max();
                match (r.lookup(&dst), best) {
                    (Some(h), Some(l)) => proptest::prop_assert_eq!(h.next_hop, IpAddr::from([192, 0, 2, l])),
                    (None, None) => {}
                    (got, want) => proptest::prop_assert!(false, "{:?} vs {:?}", got, want),
                }
            }
        }
    }
}
